"""Yes/no answers about relations: the verdict first, then what ATLAS says instead."""

from __future__ import annotations

from ...records import Record
from ...text import opening, shorten
from ..checking import Check, Verdict, verdict
from ..knowledge import (
    TECHNIQUE_TYPES,
    family,
    family_instead,
    relative_word,
    techniques_of_case_study,
)
from ..reader import Reading
from ..reply import Reply, kind_name
from .base import COMPOSERS, Context, composes

DETAIL_CHARS = 220


@composes("verify")
def verify(ctx: Context, reading: Reading) -> Reply:
    check = ctx.reader.checked(reading.question, reading.links, reading.state,
                               reading.prediction.target if reading.prediction else "")
    if check is None:  # the reading changed since: answer what the classifier read
        fallback = reading.prediction.intent if reading.prediction else "explain"
        return COMPOSERS.get(fallback, COMPOSERS["explain"])(ctx, reading)
    reply = Reply(ctx.catalog)
    subject = ctx.catalog.records[check.subject]
    if check.member:
        write_membership(ctx, reply, list(check.others), check.subject)
        return reply
    if check.kind:
        _kind(ctx, reply, subject, check)
    elif len(check.others) > 1:
        _either(ctx, reply, subject, check)
    else:
        other = ctx.catalog.records[check.others[0]]
        _one(ctx, reply, subject, other, verdict(ctx.catalog, subject, other))
    reply.source(subject.id)
    for other_id in check.others:
        reply.source(other_id)
    return reply


def _one(ctx: Context, reply: Reply, a: Record, b: Record, found: Verdict) -> None:
    word = "**Yes.**" if found.holds else "**No.**"
    through = ""
    if found.through and found.through in ctx.catalog and found.how != "is a sibling of":
        through = f", through {reply.name(found.through, bold=False)}"
    if found.holds:
        reply.para(f"{word} {reply.name(a.id)} {found.how} {reply.name(b.id)}{through}.")
    else:
        reply.para(f"{word} {reply.name(a.id)} {_negated(found.how)} {reply.name(b.id)} in "
                   f"ATLAS {ctx.catalog.version}. " + _instead(ctx, reply, a, b, found))
    if found.detail:
        reply.para(f"ATLAS: “{shorten(found.detail, DETAIL_CHARS)}”")


def _either(ctx: Context, reply: Reply, a: Record, check: Check) -> None:
    """"is RAG poisoning persistence or initial access?": which of them holds."""
    verdicts = {i: verdict(ctx.catalog, a, ctx.catalog.records[i]) for i in check.others}
    yes = [i for i, v in verdicts.items() if v.holds]
    no = [i for i, v in verdicts.items() if not v.holds]
    how = verdicts[check.others[0]].how
    if yes:
        line = f"{reply.name(a.id)} {how} {reply.names(yes, bold=True)}"
        line += f", not {reply.names(no)}." if no else " (all of them)."
    else:
        line = (f"Neither. {reply.name(a.id)} {_negated(how)} {reply.names(no, bold=True)}. "
                + _instead(ctx, reply, a, ctx.catalog.records[no[0]], verdicts[no[0]]))
    reply.para(line)


def _kind(ctx: Context, reply: Reply, a: Record, check: Check) -> None:
    """"is prompt injection a tactic?": what kind of object it is, and where it sits."""
    same = a.type == check.kind or (check.kind == "technique" and a.type in TECHNIQUE_TYPES)
    where = _placement(ctx, reply, a)
    reply.para(f"{'**Yes.**' if same else '**No.**'} {reply.name(a.id)} is "
               f"{_article(kind_name(a.type))}{where}.")
    reply.para(shorten(opening(a.description, 2), 300))


def _placement(ctx: Context, reply: Reply, a: Record) -> str:
    if a.type == "subtechnique" and a.parent and a.parent in ctx.catalog:
        return f" of {reply.name(a.parent, bold=False)}"
    tactics = ctx.catalog.tactics_in_order(a)
    if a.type == "technique" and tactics:
        return f" under {reply.names(tactics)}"
    return ""


def _instead(ctx: Context, reply: Reply, a: Record, b: Record, found: Verdict) -> str:
    """What ATLAS does relate ``a`` to, of ``b``'s kind."""
    catalog = ctx.catalog
    if b.type == "tactic" and a.type in TECHNIQUE_TYPES:
        tactics = catalog.tactics_in_order(a)
        return f"Its tactics are {reply.names(tactics)}." if tactics else ""
    if a.type in TECHNIQUE_TYPES and b.type in TECHNIQUE_TYPES:
        if a.parent and a.parent in catalog:
            return f"It is a sub-technique of {reply.name(a.parent, bold=False)}."
        subs = sorted(b.subtechniques)
        return (f"Both are top-level techniques; {b.name}'s sub-techniques are "
                f"{reply.names(subs)}." if subs else "Both are top-level techniques.")
    other = b if a.type == "mitigation" else a
    if "mitigation" in (a.type, b.type) and other.type in TECHNIQUE_TYPES:
        return _mitigations_instead(ctx, reply, other)
    if a.type == "case-study" or b.type == "case-study":
        study = a if a.type == "case-study" else b
        used = techniques_of_case_study(catalog, study.id)
        return f"{study.name} used {reply.names(used, limit=6)}." if used else ""
    return ""


def _mitigations_instead(ctx: Context, reply: Reply, technique: Record) -> str:
    """The mitigations ATLAS lists against ``technique``; when it lists none, those of its
    family (its parent, else its sub-techniques), labelled, as a defence answer offers them."""
    catalog = ctx.catalog
    listed = sorted(technique.mitigations)
    if listed:
        return (f"ATLAS lists {len(listed)} {kind_name('mitigation', len(listed))} against "
                f"{technique.name}: {reply.names(listed)}.")
    none = f"ATLAS lists no mitigations against {reply.name(technique.id, bold=False)}"
    found = family_instead(catalog, technique, "mitigations")
    if found:
        relative, theirs = found
        return (f"{none}; against {relative_word(technique, relative)} "
                f"{reply.name(relative, bold=False)} it lists {reply.names(theirs)}.")
    return none + "."


def _negated(how: str) -> str:
    """"is listed against" -> "is not listed against"; "used" -> "did not use"."""
    if how.startswith("is ") or how.startswith("was "):
        verb, rest = how.split(" ", 1)
        if rest.startswith("not ") or rest.startswith("a separate") or rest.startswith("a sibling"):
            return how
        return f"{verb} not {rest}"
    if how == "used":
        return "did not use"
    if how.startswith("addresses"):
        return "does not address" + how[len("addresses"):]
    return "is not related to"


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def write_membership(ctx: Context, reply: Reply, items: list[str], member: str) -> None:
    """Whether ``member`` is one of the ``items`` just listed, and what it is."""
    total = f"the {listed_total([ctx.catalog.records[i] for i in items])}"
    if member in items:
        reply.para(f"**Yes.** {reply.name(member)} is one of {total} "
                   f"(number {items.index(member) + 1}).")
    else:
        kin = [i for i in family(ctx.catalog, member) if i in items]
        also = f" Its relative {reply.names(kin)} is." if kin else ""
        reply.para(f"**No.** {reply.name(member)} is not one of {total}.{also}")
    record = ctx.catalog.records[member]
    text = shorten(opening(record.description, 1), DETAIL_CHARS)
    reply.item(member, reply.name(member, bold=False) + (f": {text}" if text else ""))
    reply.source(member)


def listed_total(items: list[Record]) -> str:
    """"17 techniques above": a list of techniques and sub-techniques is of techniques."""
    kinds = {r.type for r in items}
    kind = ("technique" if kinds <= set(TECHNIQUE_TYPES) and len(kinds) > 1
            else items[0].type if len(kinds) == 1 else "")
    return f"{len(items)} {kind_name(kind, len(items)) if kind else 'items'} above"


__all__ = ["listed_total", "verify", "write_membership"]
