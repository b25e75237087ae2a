"""Narrowing the list just shown: "which of those are from 2024", "any of them real incidents",
"which of those also cover backdoors".

An item is kept when it has every field value the message states (facets), and, when the
message also describes something in words, when it is related to the object those words name
or its own text matches them.
"""

from __future__ import annotations

from ...lexical import tokenize
from ...records import Record
from ...text import opening, shorten
from ..checking import asks_yes_no
from ..facets import date_of, narrow
from ..knowledge import TECHNIQUE_TYPES, family, kind_family
from ..reader import OWN_SUBJECT, Reading
from ..reply import Reply, join, kind_name
from ..state import without_pointers
from .base import Context, composes, relative
from .checks import listed_total, write_membership

# The items whose own text matches the description at least this share of the best item.
TEXT_SHARE = 0.8
# A described object counts when search finds it this close to the best one.
SUBJECT_SHARE = 0.9
SUBJECTS = 2
# Names single items out when at most this share of them holds the most described words.
NAMED_SHARE = 0.5
DETAIL_CHARS = 150
# The catalog's relation fields an item may reach a described object through.
RELATION_FIELDS = ("techniques", "mitigations", "case_studies", "tactics", "subtechniques")


@composes("narrow")
def narrow_list(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog)
    items = [ctx.catalog.records[i] for i in reading.subject_ids()]
    member = _asked_member(ctx, reading, items)
    if member is not None:
        write_membership(ctx, reply, [r.id for r in items], member)
        return reply
    facets = narrow(reading.question, ctx.catalog, items)
    kept = [r.id for r in items if all(r.id in f.kept for f in facets)]
    order = next((f.kept for f in facets if f.ordered), None)
    if order is not None:  # "which of those is the newest": newest first
        kept = [i for i in order if i in kept]
    # Beside a stated field, the other words are its wording ("real incidents rather than
    # exercises"), not a second criterion.
    described = [] if facets else ctx.reader.subject_words(without_pointers(reading.question))
    if described:
        candidates = [ctx.catalog.records[i] for i in kept]
        matched = (_named(ctx, described, candidates)
                   or _described(ctx, reading.question, candidates))
        kept = [i for i in kept if i in matched]
    label = join([f.label for f in facets]) if facets else "match your description"
    notes = {i: note for f in facets for i, note in f.notes}
    _write(ctx, reply, items, kept, label, facet=bool(facets), ordered=order is not None,
           notes=notes)
    return reply


def _asked_member(ctx: Context, reading: Reading, items: list[Record]) -> str | None:
    """"is rag poisoning one of them": a yes/no question that names one object of the list's
    kind asks whether it is in the list, not which items its words describe."""
    if not items or not asks_yes_no(reading.question):
        return None
    kinds = {kind_family(r.type) for r in items}
    named = [link.id for link in reading.links.links if link.confidence >= OWN_SUBJECT
             and kind_family(ctx.catalog.records[link.id].type) in kinds]
    return named[0] if len(set(named)) == 1 else None


def _named(ctx: Context, words: list[str], items: list[Record]) -> list[str]:
    """The items whose names hold the most of the described words, when that singles some
    out ("which of those are aimed at AI agents": the mitigations named for agents)."""
    overlap = {r.id: len(set(words) & set(tokenize(ctx.catalog.full_name(r)))) for r in items}
    best = max(overlap.values(), default=0)
    chosen = [i for i, n in overlap.items() if n == best]
    if best == 0 or len(chosen) > NAMED_SHARE * len(items):
        return []
    return chosen


def _described(ctx: Context, question: str, items: list[Record]) -> list[str]:
    """The items related to what the words describe, or whose own text matches them."""
    if not items:
        return []
    kinds = sorted({r.type for r in items})
    ids = {r.id for r in items}
    own = [h for h in ctx.search(question, kinds, k=len(items) + 40) if h.id in ids]
    matched = {h.id for h in relative(own, TEXT_SHARE, len(items))}
    others = [k for k in ("technique", "subtechnique", "mitigation", "case-study", "tactic")
              if k not in kinds and not (k in TECHNIQUE_TYPES and set(kinds) & set(TECHNIQUE_TYPES))]
    targets = [h.id for h in relative(ctx.search(question, others, k=SUBJECTS), SUBJECT_SHARE,
                                      SUBJECTS)]
    reach = {i for t in targets for i in family(ctx.catalog, t)}
    for record in items:
        if any(reach & set(getattr(record, f)) for f in RELATION_FIELDS):
            matched.add(record.id)
    return [r.id for r in items if r.id in matched]


def _write(ctx: Context, reply: Reply, items: list[Record], kept: list[str], label: str,
           facet: bool, ordered: bool = False, notes: dict[str, str] | None = None) -> None:
    """``label`` is a facet's phrase ("from 2024") when ``facet``, else a verb phrase; an
    ``ordered`` facet ("most case studies first") ranks the items rather than keeping some,
    and its ``notes`` ("17 case studies") stand beside them."""
    total = listed_total(items)
    said = label if facet or len(kept) > 1 else label.replace("match ", "matches ", 1)
    if not kept:
        reply.para(f"None of the {total} {'is ' + label if facet else said}.")
        return
    notes = notes or {}
    if ordered:
        ranked = [f"{reply.name(i, bold=False)}{f' ({notes[i]})' if i in notes else ''}"
                  for i in kept[:3]]
        lead = f"Of the {total}, {said}: {join(ranked)}."
    else:
        lead = f"Of the {total}, **{len(kept)}** {said}: {reply.names(kept, limit=4)}."
    reply.para(lead)
    for atlas_id in kept:
        reply.item(atlas_id, reply.name(atlas_id, bold=False)
                   + _detail(ctx.catalog.records[atlas_id], notes.get(atlas_id)))


def _detail(record: Record, note: str | None = None) -> str:
    facts = [note] if note else [
        f for f in (str(record.extra.get("case_study_type") or ""), date_of(record)[:10],
                    record.maturity or "") if f]
    text = shorten(opening(record.description, 1), DETAIL_CHARS)
    return (f" ({', '.join(facts)})" if facts else "") + (f": {text}" if text else "")


# ---------------------------------------------------------------------- ranking the last list

# What the release says of an object's reach, by kind: the measure a list is ranked by when
# the user asks which one matters most (ATLAS itself does not rank).
REACH = {
    "mitigation": ("techniques", "how many techniques each addresses"),
    "technique": ("case_studies", "how many case studies used each"),
    "subtechnique": ("case_studies", "how many case studies used each"),
    "case-study": ("techniques", "how many techniques each used"),
    "tactic": ("techniques", "how many techniques each groups"),
}


@composes("rank")
def rank_list(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog)
    items = [ctx.catalog.records[i] for i in reading.subject_ids()]
    field_name, measure = REACH.get(items[0].type, ("techniques", "their techniques"))
    ranked = sorted(items, key=lambda r: -len(getattr(r, field_name)))
    kind = kind_name(items[0].type, len(items))
    reply.para(f"ATLAS does not rank {kind} by importance. Ranked by {measure}, "
               f"{reply.name(ranked[0].id)} comes first"
               + (f", then {reply.names([r.id for r in ranked[1:3]])}" if len(ranked) > 1 else "")
               + ".")
    for record in ranked:
        count = len(getattr(record, field_name))
        noun = field_name.replace("_", " ")
        reply.item(record.id, reply.name(record.id, bold=False) + f": {count} {noun}")
    return reply


# ---------------------------------------------------------------------- the last list again


# Items a count of the last list names beside its number.
COUNTED_NAMES = 4


@composes("relist")
def the_list(ctx: Context, reading: Reading) -> Reply:
    """"list them", "how many of them": the items of the last list, all of them."""
    reply = Reply(ctx.catalog)
    items = [ctx.catalog.records[i] for i in reading.subject_ids()]
    kinds = {r.type for r in items}
    kind = items[0].type if len(kinds) == 1 else "object"
    noun = kind_name(kind, len(items)) if kind != "object" else ("item" if len(items) == 1 else "items")
    if reading.prediction is not None and reading.prediction.intent == "count":
        # The count with the items it counts, so the user can check it.
        reply.para(f"The list above has **{len(items)}** {noun}: "
                   f"{reply.names([r.id for r in items], limit=COUNTED_NAMES)}.")
        return reply
    owner = _owner(reading)
    of = f"{reply.name(owner)}, as listed above" if owner else "the list above"
    reply.para(f"The {len(items)} {noun} of {of}:")
    for record in items:
        reply.item(record.id, reply.name(record.id, bold=False) + _detail(record))
    return reply


def _owner(reading: Reading) -> str | None:
    """The one object the list belonged to ("Defense Evasion" of its techniques), if any."""
    subjects = reading.state.subjects
    items = reading.subject_ids()
    return subjects[0] if len(subjects) == 1 and subjects[0] not in items else None
