"""Explaining one object, and comparing two."""

from __future__ import annotations

import dataclasses
import re

from ...catalog import Catalog
from ...lexical import tokenize
from ...records import Record
from ...text import opening, shorten
from ..knowledge import TARGET_TYPES, TECHNIQUE_TYPES, family, techniques_of_case_study
from ..linking import BY_ID, Link, close_first
from ..reader import KIND_SURE, Reading, wh_kind
from ..reply import Reply, join, kind_name
from ..state import points_back
from ..vocabulary import without_opening
from .base import GOAL_WEIGHTS, Context, case_studies_line, composes, may_seek_incidents
from .described import DESCRIBED_SHARE

LIST_INLINE = 8
# Below this confidence a searched subject is offered as the closest match, not stated.
SURE = 0.55
# An explain question whose target is another kind than its subject ("what is the parent of
# T0051.001") is answered as that relation when the target is this sure.
RELATION_SURE = 0.5
# The kinds a user describes and asks the name of (not tactics or parents, asked of them).
DESCRIBED_KINDS = {target: TARGET_TYPES[target] for target in ("technique", "mitigation", "case_study")}


# ---------------------------------------------------------------------- explain


@composes("explain")
def explain(ctx: Context, reading: Reading) -> Reply:
    reply = Reply(ctx.catalog)
    ids = ctx.subjects(reading)
    explicit = [s.id for s in reading.subjects if s.how in BY_ID]
    if len(explicit) >= 2:
        for atlas_id in explicit[:3]:
            card(ctx.catalog, reply, ctx.catalog.records[atlas_id])
        return reply
    if ids:
        record = ctx.catalog.records[ids[0]]
        sure = reading.prediction is None or reading.prediction.target_p >= RELATION_SURE
        asked = wh_kind(reading.question)
        if asked and asked != reading.target and _asks_relation(asked, record.type):
            # "what technique is that" after a case study: the kind the wh-phrase names.
            reading, sure = dataclasses.replace(reading, target=asked), True
        if sure and _asks_relation(reading.target, record.type):
            from .relations import list_related  # "what is the parent of ...": a relation

            return list_related(ctx, reading)
        card(ctx.catalog, reply, record)
        return reply
    return closest(ctx, reading, reply)


def _asks_relation(target: str, kind: str) -> bool:
    """The question asks for objects of another kind related to its subject."""
    from .relations import RELATIONS

    if target in ("parent", "attack_ref"):
        return (target, kind) in RELATIONS
    wanted = TARGET_TYPES.get(target)
    return wanted is not None and kind not in wanted and (target, kind) in RELATIONS


def closest(ctx: Context, reading: Reading, reply: Reply) -> Reply:
    """No named subject: the object the description fits best, offered as such."""
    preferred = TARGET_TYPES.get(reading.target) or ()
    links = _of_kind_asked(ctx, reading)
    narrowed = bool(links)
    if not links:
        links = ctx.searched(reading, None, k=8, weights=GOAL_WEIGHTS)
        if preferred:
            # The kind the question asks for counts for more than a close match of another kind.
            links.sort(key=lambda link: -link.confidence * (
                1.0 if ctx.catalog.records[link.id].type in preferred else 0.75))
    if not links:
        reply.para("I found nothing in ATLAS that matches this. Try other words, an ATLAS ID "
                   "(such as AML.T0051) or the name of a technique.")
        return reply
    best, others = links[0], [link.id for link in links[1:4]]
    record = ctx.catalog.records[best.id]
    if best.confidence >= SURE and (not narrowed or _fits_as_well_as_any(ctx, reading, best)):
        reply.para(f"That sounds like {reply.name(record.id)}, {_what(ctx.catalog, reply, record)}. "
                   + opening(record.description, 2, 450))
    else:
        reply.para("I'm not sure which ATLAS entry you mean. The closest is "
                   f"{reply.name(record.id)}, {_what(ctx.catalog, reply, record)}: "
                   + opening(record.description, 1, 300))
    reply.source(record.id)
    if others:
        reply.para("Other close matches:")
        for other in others:
            o = ctx.catalog.records[other]
            reply.item(other, f"{reply.name(other)} ({kind_name(o.type)}): "
                              f"{opening(o.description, 1, 160)}")
    if record.type != "case-study" and may_seek_incidents(reading):
        case_studies_line(ctx, reply, reading.question)
    return reply


def _of_kind_asked(ctx: Context, reading: Reading) -> list[Link]:
    """A description of an object of the kind the reader is sure is asked, searched among
    that kind alone: a control told in the words of the attack it stops ("we scan every
    checkpoint before anyone loads it") reads closer to that attack than to the control in a
    search of every kind. A tactic or a parent asked of a description ("what tactic is that
    under") is a relation of the object described, so it does not narrow the search. The
    certainty is the reader's own for "the asked kind overrules a name's word"."""
    if reading.prediction is None or reading.prediction.target_p < KIND_SURE:
        return []
    kinds = DESCRIBED_KINDS.get(reading.target)
    return ctx.searched(reading, kinds, k=8) if kinds else []


def _fits_as_well_as_any(ctx: Context, reading: Reading, best: Link) -> bool:
    """A search of one kind finds its best even when an object of another kind fits the words
    far better (a control described in the words of the attack it stops): the best of the kind
    is stated only when it fits about as well as the best object of any kind (search scores are
    relative to that one)."""
    hits = ctx.search(reading.question, (ctx.catalog.records[best.id].type,), 1)
    return bool(hits) and hits[0].score >= DESCRIBED_SHARE


def _what(catalog: Catalog, reply: Reply, record: Record) -> str:
    """"an ATLAS technique of the Execution tactic ([AML.TA0005])" and the like."""
    kind = kind_name(record.type)
    parent = catalog.parent_of(record)
    if record.type == "subtechnique" and parent is not None:
        return f"a sub-technique of {reply.name(parent.id, bold=False)}"
    if record.type == "technique" and record.tactics:
        tactics = [reply.name(t, bold=False) for t in record.tactics if t in catalog]
        word = "tactic" if len(tactics) == 1 else "tactics"
        return f"an ATLAS technique of the {join(tactics)} {word}"
    return f"an ATLAS {kind}"  # the article goes with "ATLAS", whatever the kind


def card(catalog: Catalog, reply: Reply, record: Record) -> None:
    """One object: what it is in a sentence, its description, then its relations."""
    reply.source(record.id)
    if record.type == "case-study":
        _case_study(catalog, reply, record)
        return
    if record.type == "tactic":
        columns = catalog.tactic_order()
        position = columns.index(record.id) + 1 if record.id in columns else None
        where = f", column {position} of {len(columns)} in the ATLAS matrix" if position else ""
        reply.para(f"{reply.name(record.id)} is an ATLAS tactic{where}. "
                   + opening(record.description, 3, 600))
        techniques = sorted(record.techniques)
        if techniques:
            reply.para(f"It has {len(techniques)} techniques:")
            for atlas_id in techniques:
                reply.item(atlas_id, reply.name(atlas_id, bold=False))
        return
    if record.type == "mitigation":
        reply.para(f"{reply.name(record.id)} is an ATLAS mitigation. "
                   + opening(record.description, 3, 600))
        techniques = sorted(record.techniques)
        if techniques:
            reply.para(f"It addresses {len(techniques)} technique"
                       f"{'s' if len(techniques) != 1 else ''}:")
            for atlas_id in techniques:
                use = shorten(record.uses.get(atlas_id, ""), 160)
                reply.item(atlas_id, reply.name(atlas_id, bold=False) + (f": {use}" if use else ""))
        return
    reply.para(f"{reply.name(record.id)} is {_what(catalog, reply, record)}. "
               + opening(record.description, 3, 650))
    facts = []
    if record.subtechniques:
        subs = [f"{catalog.records[s].name} ({reply.ref(s)})" for s in record.subtechniques]
        facts.append(f"**Sub-techniques ({len(subs)}):** {join(subs)}")
    if record.mitigations:
        facts.append(f"**Mitigations ({len(record.mitigations)}):** "
                     + reply.names(sorted(record.mitigations), LIST_INLINE))
    elif (parent := catalog.parent_of(record)) is not None and parent.mitigations:
        facts.append(f"**Mitigations:** none listed for it; its parent has "
                     f"{len(parent.mitigations)}: "
                     + reply.names(sorted(parent.mitigations), LIST_INLINE))
    if record.case_studies:
        facts.append(f"**Case studies ({len(record.case_studies)}):** "
                     + reply.names(sorted(record.case_studies), LIST_INLINE))
    ref = record.attack_reference or {}
    if ref.get("id"):
        facts.append(f"**ATT&CK:** [{ref['id']}]({ref.get('url', '')})")
    if record.maturity:
        facts.append(f"**Maturity:** {record.maturity}")
    if facts:
        reply.para("  \n".join(facts))


def _case_study(catalog: Catalog, reply: Reply, record: Record) -> None:
    extra = record.extra
    details = [str(extra[k]) for k in ("case_study_type", "incident_date") if extra.get(k)]
    who = [f"{label} {extra[k]}" for label, k in (("target:", "target"), ("actor:", "actor"))
           if extra.get(k)]
    facts = "; ".join(details + who)
    reply.para(f"{reply.name(record.id)} is an ATLAS case study" + (f" ({facts})" if facts else "")
               + ". " + opening(record.description, 3, 700))
    techniques = techniques_of_case_study(catalog, record.id)
    if techniques:
        reply.para(f"Its procedure uses {len(techniques)} {kind_name('technique', len(techniques))}"
                   ", in step order:")
        for atlas_id in techniques:
            step = next((s for s in record.procedure if s.technique == atlas_id), None)
            said = f": {shorten(opening(step.description, 1, 200), 200)}" if step else ""
            reply.item(atlas_id, reply.name(atlas_id, bold=False) + said)


# ---------------------------------------------------------------------- compare

_SPLIT = re.compile(
    r"\b(?:vs\.?|versus|compared (?:to|with)|as opposed to|differ(?:ent|s|ence)? from|"
    r"and|or|with)\b|/|,|\?",
    re.IGNORECASE,
)
# Where a side's own clause begins: a dash, or a wh-word after its first word (closed classes).
_CLAUSE = re.compile(r"\s[-–—]\s|(?<=\w)\s+(?=(?:which|when|what|how|where|who|why)\b)",
                     re.IGNORECASE)
# "difference" as users type it: "diff", "diffrence", "diference" (a word from "dif", not the
# verb or adjective: "different from" separates the sides), after
# a few words of asking in any spelling ("wat is the", "so what exactly is the"), and
# "between" as typed ("btwn", "betwen", "b/w").
_FRAME = re.compile(
    r"^\W*(?:(?:[\w']+\s+){0,5}?dif+\w*(?<!ent)(?<!er)(?<!ers)\s+(?:b(?:e?tw\w*|/w)\s+)?"
    r"|how (?:is|are|does|do) |compare |is |are )",
    re.IGNORECASE,
)


@composes("compare")
def compare(ctx: Context, reading: Reading) -> Reply:
    ids = list(dict.fromkeys(ctx.subjects(reading)))
    sides = _sides(reading.question)
    named_items = (reading.source == "ordinal" and reading.ordinal is None
                   and all(_ONE_OF_SHOWN.search(side) for side in sides))
    if (reading.source == "question" or named_items) and len(sides) >= 2:
        # The sides are what is compared; a name elsewhere in the question ("... when the
        # payload sits in a webpage") is not one of them, nor is the one listed item the
        # whole message names best ("between the privileged perms one and the single-user
        # perms one": each side names its own).
        named = {link.id for side in sides for link in ctx.linker.link(side).links}
        ids = [i for i in ids if i in named]
    if reading.source == "history" and ids:
        # The last answer's subjects, of the first one's kind (a technique, not its tactic).
        ids = [i for i in ids if _like(ctx, i, ids[0])]
    wanted = max(2, min(len(sides), MOST_COMPARED))
    if len(ids) < wanted:
        ids = _compared(ctx, reading, ids, wanted)
    if len(ids) < 2:
        return explain(ctx, reading)
    if len(ids) > 2 and len(sides) > 2:
        return _compare_many(ctx, [ctx.catalog.records[i] for i in ids[:wanted]])
    a, b = (ctx.catalog.records[i] for i in ids[:2])
    reply = Reply(ctx.catalog)
    reply.para(f"{reply.name(a.id)} and {reply.name(b.id)}: {_difference(ctx, reply, a, b)}")
    rows = [
        ("What it is", opening(a.description, 1, 220), opening(b.description, 1, 220)),
        ("Kind", kind_name(a.type), kind_name(b.type)),
        ("Tactics", _tactic_names(ctx, a), _tactic_names(ctx, b)),
        ("Mitigations", str(len(a.mitigations)), str(len(b.mitigations))),
        ("Case studies", str(len(a.case_studies)), str(len(b.case_studies))),
    ]
    if a.type in ("mitigation", "case-study") or b.type in ("mitigation", "case-study"):
        rows[3:] = [("Techniques", str(len(a.techniques)), str(len(b.techniques)))]
    table = [f"| | {a.name} ({reply.ref(a.id)}) | {b.name} ({reply.ref(b.id)}) |", "|---|---|---|"]
    table += [f"| {label} | {_cell(x)} | {_cell(y)} |" for label, x, y in rows]
    reply.para("\n".join(table))
    shared = sorted(set(a.mitigations) & set(b.mitigations))
    only_a = sorted(set(a.mitigations) - set(b.mitigations))
    only_b = sorted(set(b.mitigations) - set(a.mitigations))
    lines = []
    if shared:
        lines.append(f"**Shared mitigations:** {reply.names(shared, 6)}")
    if only_a and (shared or only_b):
        lines.append(f"**Only {a.name}:** {reply.names(only_a, 6)}")
    if only_b and (shared or only_a):
        lines.append(f"**Only {b.name}:** {reply.names(only_b, 6)}")
    if lines:
        reply.para("  \n".join(lines))
    reply.source(a.id)
    reply.source(b.id)
    return reply


# "guidelines vs guardrails vs alignment": a comparison of up to this many sides shows them
# all (a table wider than four columns no longer reads).
MOST_COMPARED = 4


def _compare_many(ctx: Context, records: list[Record]) -> Reply:
    """Three or four objects side by side: what sets them apart in one sentence, each in one
    line (numbered, so "the second one" can follow), a table, and the mitigations they share."""
    reply = Reply(ctx.catalog)
    kinds = {r.type for r in records}
    parent = records[0].parent
    if parent and parent in ctx.catalog and all(r.parent == parent for r in records):
        how = (f"all are sub-techniques of {reply.name(parent, bold=False)}; they differ in how "
               "it is done:")
    elif kinds <= set(TECHNIQUE_TYPES) and len({tuple(sorted(r.tactics)) for r in records}) > 1:
        how = "they serve different adversary goals: " + "; ".join(
            f"{r.name} is used for {_tactic_names(ctx, r)}" for r in records) + "."
    elif len(kinds) == 1:
        how = f"all {len(records)} are {kind_name(records[0].type, 2)}; each in a sentence:"
    else:
        how = "; ".join(f"{r.name} is {kind_name(r.type)}" for r in records) + "."
    reply.para(f"{join([reply.name(r.id) for r in records])}: {how}")
    for record in records:
        reply.item(record.id, f"{reply.name(record.id, bold=False)}: "
                   f"{shorten(opening(record.description, 1, 200), 200)}")
    related = "techniques" if kinds & {"mitigation", "case-study"} else "mitigations"
    rows = [("Kind", [kind_name(r.type) for r in records]),
            ("Tactics", [_tactic_names(ctx, r) for r in records]),
            ("Mitigations" if related == "mitigations" else "Techniques",
             [str(len(r.mitigations if related == "mitigations" else r.techniques)) for r in records])]
    table = ["| | " + " | ".join(f"{r.name} ({reply.ref(r.id)})" for r in records) + " |",
             "|---|" + "---|" * len(records)]
    table += [f"| {label} | " + " | ".join(_cell(c) for c in cells) + " |" for label, cells in rows]
    reply.para("\n".join(table))
    if related == "mitigations":
        shared = sorted(set.intersection(*(set(r.mitigations) for r in records)))
        if shared:
            reply.para(f"**Mitigations all {len(records)} share:** {reply.names(shared, 6)}")
    return reply


def _compared(ctx: Context, reading: Reading, ids: list[str], wanted: int = 2) -> list[str]:
    """The things a comparison names (``wanted`` of them), each linked on its own."""
    parts = [p for p in _sides(reading.question) if len(p) >= 3 and ctx.reader.subject_words(p)]
    if len(parts) == 1 and ids and reading.source == "ordinal" and _ONE_OF_SHOWN.search(parts[0]):
        # "vs the memory one": the one side named is the item the reader picked from those
        # shown; it is compared with the conversation's subject, not searched again.
        parts = []
    types = TARGET_TYPES.get(reading.target)
    found = list(ids)
    # After an answer about two objects, only a part that names one for sure replaces them
    # ("which one is worse" compares the same two).
    earlier = [i for i in reading.state.subjects if i not in found and i in ctx.catalog]
    known = [ctx.catalog.records[i].type for i in [*found, *earlier[:1]]]
    if known:
        # A comparison compares like with like: a side found by search, or kept from the last
        # answer, is of the kind of the side already known ("how's it different from spamming
        # the system with junk", after a technique and its tactic).
        types = TECHNIQUE_TYPES if known[0] in TECHNIQUE_TYPES else (known[0],)
        earlier = [i for i in earlier if ctx.catalog.records[i].type in types]
    # A message that sets out its own sides ("guardrails vs guidelines") compares what they
    # name: a side no name links is searched, not replaced by the last answer's subject. A side
    # that points back ("how is it different from X") is the last answer's subject.
    own_sides = len(parts) >= 2 and not any(points_back(p) for p in parts)
    side: dict[str, int] = {}  # the part of the message each object was found in
    for n, part in enumerate(parts):
        links = _side_links(ctx, reading, part, found, earlier, types)
        side.update({lk.id: n for lk in links if lk.id in found and lk.id not in side})
        if not links and (len(found) + (0 if own_sides else len(earlier)) < wanted
                          or ctx.reader.confident_search(part)):
            links = ctx.linker.search(ctx.linker.correct(part), types, 3)
            if len(ctx.reader.subject_words(part)) == 1:  # a bare term ("poisoning")
                links = _same_level_first(ctx, links, found[:1])
        link: Link | None = next((lk for lk in links if lk.id not in found), None)
        if link is not None:
            found.append(link.id)
            side.setdefault(link.id, n)
    if all(i in side for i in found):
        found.sort(key=side.__getitem__)  # the message's order ("guidelines vs guardrails vs ...")
    if len(found) < 2:
        found += [i for i in earlier if i not in found]
    return found[:wanted if len(parts) > 2 else 2]


def _side_links(ctx: Context, reading: Reading, part: str, found: list[str], earlier: list[str],
                types: tuple[str, ...] | None) -> list[Link]:
    """What one side of a comparison names: a name, an item of the list just shown ("the X
    one"), or an object found or discussed already that its words name ("memory vs thread
    sub-techniques" after both were shown)."""
    links = ctx.linker.link(part).links or _item_named(ctx, reading, part, types if found else None)
    if links or not (found or earlier):
        return links
    mentioned = ctx.linker.item_named(part, [*found, *earlier])
    if mentioned is None or not set(ctx.reader.subject_words(part)) <= set(
            tokenize(ctx.catalog.full_name(ctx.catalog.records[mentioned]))):
        return []  # only a word of it ("data poisoning" is not Poison AI Model)
    return [Link(mentioned, 0.9, "item")]


# "the X one": English's pro-form for one member of a set just shown.
_ONE_OF_SHOWN = re.compile(r"\bone\W*$", re.IGNORECASE)


def _item_named(ctx: Context, reading: Reading, part: str,
                types: tuple[str, ...] | None) -> list[Link]:
    """A side that names an item of the list just shown as "the X one" ("diff between the
    inference api one and full model access", after a tactic's techniques): that item, when
    it is of the kind compared and the words name it."""
    state = reading.state
    if not state.items_in_last or not _ONE_OF_SHOWN.search(part):
        return []
    items = [i for i in state.items if i in ctx.catalog
             and (types is None or ctx.catalog.records[i].type in types)]
    item = ctx.linker.item_named(part, items)
    if item is None:
        return []
    # Every word of "the X one" is in the item's name: it is named, not merely resembled.
    name = set(tokenize(ctx.catalog.full_name(ctx.catalog.records[item])))
    return [Link(item, 0.9, "item")] if ctx.linker.pointing_terms(part) <= name else []


def _same_level_first(ctx: Context, links: list[Link], known: list[str]) -> list[Link]:
    """Like with like, down to the level: against a top-level technique ("Evade AI Model"), a
    side named by a bare term is a top-level technique among the close results ("poisoning": Poison
    Training Data before Manipulate AI Model: Poison AI Model); against a sub-technique, a
    sub-technique."""
    if not known or not links or ctx.catalog.records[known[0]].type not in TECHNIQUE_TYPES:
        return links
    level = ctx.catalog.records[known[0]].type
    return close_first(links, lambda link: ctx.catalog.records[link.id].type != level)


def _sides(question: str) -> list[str]:
    """The parts of a comparison that name its sides, each up to where a clause of its own
    begins ("indirect injection - which one is it when ..."); a one-word first side shares the
    second side's head noun ("direct vs indirect injection": English coordination)."""
    text = _FRAME.sub("", without_opening(question.strip()))
    parts = [_CLAUSE.split(p.strip(" .!?-"), maxsplit=1)[0].strip(" .!?-") for p in _SPLIT.split(text)]
    parts = [p for p in parts if p]
    if len(parts) >= 2 and len(parts[0].split()) == 1 and len(parts[1].split()) >= 2:
        parts[0] = " ".join([parts[0], *parts[1].split()[1:]])
    return parts


def _like(ctx: Context, a: str, b: str) -> bool:
    """Two objects of one kind (techniques and sub-techniques are one kind here)."""
    kinds = {ctx.catalog.records[a].type, ctx.catalog.records[b].type}
    return len(kinds) == 1 or kinds <= set(TECHNIQUE_TYPES)


def _difference(ctx: Context, reply: Reply, a: Record, b: Record) -> str:
    catalog = ctx.catalog
    if b.parent == a.id or a.parent == b.id:
        parent, child = (a, b) if b.parent == a.id else (b, a)
        return (f"{child.name} is a sub-technique of {parent.name}, one specific way of doing "
                "it; the parent covers every way.")
    if a.parent and a.parent == b.parent and a.parent in catalog:
        return (f"both are sub-techniques of {reply.name(a.parent, bold=False)}; they differ "
                f"in how it is done. {shorten(opening(a.description, 1, 200), 200)} "
                f"By contrast, {_lower(shorten(opening(b.description, 1, 200), 200))}")
    if a.type != b.type:
        return (f"one is {kind_name(a.type)} and the other {kind_name(b.type)}; "
                + _relation_between(ctx, reply, a, b))
    tactics_a, tactics_b = set(a.tactics), set(b.tactics)
    if a.type in TECHNIQUE_TYPES and tactics_a and tactics_b and tactics_a != tactics_b:
        return (f"they serve different adversary goals: {a.name} is used for "
                f"{_tactic_names(ctx, a)}, {b.name} for {_tactic_names(ctx, b)}. "
                f"{shorten(opening(a.description, 1, 180), 180)} "
                f"{shorten(opening(b.description, 1, 180), 180)}")
    shared = "both serve " + _tactic_names(ctx, a) + "; " if tactics_a and tactics_a == tactics_b else ""
    return (f"{shared}{shorten(opening(a.description, 1, 200), 200)} "
            f"By contrast, {_lower(shorten(opening(b.description, 1, 200), 200))}")


def _relation_between(ctx: Context, reply: Reply, a: Record, b: Record) -> str:
    linked = b.id in (set(a.mitigations) | set(a.techniques) | set(a.case_studies))
    linked = linked or a.id in (set(b.mitigations) | set(b.techniques) | set(b.case_studies))
    if linked:
        return "ATLAS links the two directly."
    related = set(family(ctx.catalog, a.id)) & set(family(ctx.catalog, b.id))
    return "they share a family in ATLAS." if related else "ATLAS does not link them directly."


def _tactic_names(ctx: Context, record: Record) -> str:
    tactics = ctx.catalog.tactics_of(record)
    return join([ctx.catalog.records[t].name for t in tactics if t in ctx.catalog]) or "–"


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2].istitle() else text
