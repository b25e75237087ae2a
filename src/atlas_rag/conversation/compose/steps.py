"""A part of the case study being discussed: the steps the question asks about, each with
its technique and ATLAS's own text for the step."""

from __future__ import annotations

from ...text import shorten
from ..reader import Reading
from ..reply import Reply
from .base import Context, composes

STEP_CHARS = 320


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
    reply.para(f"{reply.names(techniques, bold=True)}. {lead}")
    for n in positions:
        step = study.procedure[n]
        if step.technique not in ctx.catalog:
            continue
        tactic = ctx.catalog.records.get(step.tactic)
        under = f" ({tactic.name})" if tactic is not None else ""
        reference = (ctx.catalog.records[step.technique].attack_reference or {}).get("id")
        also = f" (ATT&CK {reference})" if reference else ""
        reply.item(step.technique, f"Step {n + 1}{under}, {reply.name(step.technique, bold=False)}"
                   f"{also}: " + shorten(step.description.strip(), STEP_CHARS))
    reply.source(study.id)
    for technique in techniques:
        reply.source(technique)
    return reply
