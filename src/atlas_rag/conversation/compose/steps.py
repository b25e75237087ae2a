"""A part of the case study being discussed: the steps the question asks about, each with
its technique and ATLAS's own text for the step."""

from __future__ import annotations

from ...text import shorten
from ..knowledge import kinds_named
from ..reader import Reading
from ..reply import Reply
from .base import Context, composes
from .relations import RELATIONS

STEP_CHARS = 320
# Asked of a step ("parent of the manual tweak one", "mitigations for that step"), these
# relations of its technique follow the step. Its tactics in the matrix are said only where
# they differ from the tactic the case study files the step under (shown with the step).
STEP_RELATIONS = ("parent", "mitigation", "subtechnique", "case_study", "tactic")


@composes("step")
def case_study_step(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog)
    study = ctx.catalog.records[reading.subjects[0].id]
    positions = ctx.reader.asked_steps(study, reading.question, reading.links.links)
    techniques = list(dict.fromkeys(study.procedure[n].technique for n in positions
                                    if study.procedure[n].technique in ctx.catalog))
    where = f"in {reply.name(study.id, bold=False)}"
    if len(positions) == 1:
        lead = f"That is step {positions[0] + 1} {where}:"
    else:
        lead = f"That is steps {', '.join(str(n + 1) for n in positions)} {where}:"
    filed = {study.procedure[n].tactic for n in positions}
    related = _related(ctx, reply, reading, techniques[:1], filed)
    reply.para(f"{reply.names(techniques, bold=True)}. {related}{lead}")
    for n in positions:
        step = study.procedure[n]
        if step.technique not in ctx.catalog:
            continue
        tactic = ctx.catalog.records.get(step.tactic)
        under = f" ({tactic.name}, {reply.ref(tactic.id)})" if tactic is not None else ""
        reference = (ctx.catalog.records[step.technique].attack_reference or {}).get("id")
        also = f" (ATT&CK {reference})" if reference else ""
        reply.item(step.technique, f"Step {n + 1}{under}, {reply.name(step.technique, bold=False)}"
                   f"{also}: " + shorten(step.description.strip(), STEP_CHARS))
    reply.source(study.id)
    for technique in techniques:
        reply.source(technique)
    return reply


def _related(ctx: Context, reply: Reply, reading: Reading, techniques: list[str],
             filed: set[str]) -> str:
    """The relation the question asks of the step's technique, as a sentence, or "": only
    when the question names that kind ("parent of the manual tweak one"). ``filed``: the
    tactics the case study gives the steps."""
    kind = {"case_study": "case-study"}.get(reading.target, reading.target)
    if (reading.target not in STEP_RELATIONS or not techniques
            or kind not in kinds_named(reading.question)):
        return ""
    record = ctx.catalog.records[techniques[0]]
    function = RELATIONS.get((reading.target, record.type))
    if function is None:
        return ""
    listing = function(ctx.catalog, record)
    if reading.target == "tactic":
        if set(listing.ids) <= filed:
            return ""
        return (f"In the ATLAS matrix, {reply.name(record.id, bold=False)} belongs to "
                f"{reply.names(listing.ids, bold=False)}; the case study files the step as below. ")
    if not listing.ids:
        return f"ATLAS {ctx.catalog.version} lists no {listing.relation} for it. "
    return f"Its {listing.relation}: {reply.names(listing.ids)}. "
