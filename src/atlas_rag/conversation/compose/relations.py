"""Lists and counts: an object's relations from the graph, objects of a kind, or objects
matching a description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ...catalog import Catalog
from ...ids import find_id_mentions
from ...lexical import tokenize
from ...records import Record
from ...text import opening, shorten
from ..facets import Facet, date_of, narrow
from ..knowledge import (
    TARGET_TYPES,
    TECHNIQUE_TYPES,
    case_studies_using,
    family_instead,
    kind_family,
    matrix_order,
    rank_mitigations,
    relative_word,
    rolled_up,
    techniques_of,
    techniques_of_case_study,
    use_text,
)
from ..linking import NAMED_HOW
from ..reader import Reading, asks_jointly, points_at_one, points_at_several
from ..reply import Reply, hit_of, join, kind_name
from .base import COMPOSERS, Context, case_studies_line, composes, may_seek_incidents, relative
from .objects import card

SEARCH_LIST = 8
SEARCH_SHARE = 0.45
DETAIL_CHARS = 170
SHOW_AFTER_COUNT = 15
# A count names what it counted in one paragraph up to this many (every kind but techniques).
COMPACT_LIST = 60
NAMED_LIST = 15
# Words besides a common name that make a question a description (two: one stray word such
# as "all" or "real" is not a description, a phrase is).
DESCRIBED_BEYOND = 2
# Case studies of other techniques discussed that are closer to the situation, shown at most.
CLOSER_SHOWN = 2
# Objects a follow-up pointing at several ("either one", "both") gets answered for, at most.
EACH_SHOWN = 3
# A technique with no mitigations or case studies of its own or its family's: its nearest
# techniques searched, and how many of those that have some are offered instead.
NEIGHBOUR_SEARCH = 8
NEIGHBOURS_SHOWN = 3
NEAREST_ITEMS = 8  # of the objects offered instead, shown at most
# A follow-up's situation was told within this many turns before it.
DESCRIBED_TURNS = 3


@dataclass
class Listing:
    """Objects related to a subject, in the order to show them."""

    kind: str  # the ATLAS kind listed (mitigation, case-study, ...)
    relation: str  # how the lead says it: "mitigations of", "techniques addressed by"
    ids: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    via: dict[str, str] = field(default_factory=dict)  # listed through this other object
    derived: str = ""  # said when the list is computed, not published as such
    # The object the list is derived through (a sub-technique's parent for its siblings),
    # named with its ID after ``derived``.
    through: str = ""
    ranked: str = ""  # said when the items are ordered by closeness, not by ID
    closer: list[str] = field(default_factory=list)  # related otherwise, closer to the question


Relation = Callable[[Catalog, Record], Listing]
# (target, subject kind) -> the relation that answers it. A subject kind missing here has
# no such relation in ATLAS; the answer then says so.
RELATIONS: dict[tuple[str, str], Relation] = {}


def relation(target: str, *kinds: str) -> Callable[[Relation], Relation]:
    def register(function: Relation) -> Relation:
        for kind in kinds:
            RELATIONS[(target, kind)] = function
        return function

    return register


def _rolled(catalog: Catalog, record: Record, field_name: str, kind: str, noun: str,
            detail: Callable[[Record, str], str]) -> Listing:
    """A technique's related objects, then its sub-techniques' (labelled with the one they came
    through); ``detail(technique, related)`` says what ATLAS says of the pair."""
    out = Listing(kind, noun)
    for related in rolled_up(catalog, record.id, field_name):
        out.ids.append(related.id)
        out.details[related.id] = detail(catalog.records[related.via or record.id], related.id)
        if related.via:
            out.via[related.id] = related.via
    return out


@relation("mitigation", *TECHNIQUE_TYPES)
def _mitigations(catalog: Catalog, record: Record) -> Listing:
    return _rolled(catalog, record, "mitigations", "mitigation", "mitigations",
                   lambda technique, m: catalog.records[m].uses.get(technique.id, ""))


@relation("case_study", *TECHNIQUE_TYPES)
def _case_studies(catalog: Catalog, record: Record) -> Listing:
    return _rolled(catalog, record, "case_studies", "case-study", "case studies",
                   lambda technique, cs: next((e.description for e in technique.examples
                                               if e.case_study == cs), ""))


def described(catalog: Catalog, kind: str, relation: str, ids: list[str]) -> Listing:
    """A listing whose items are told by the first sentence of their own description."""
    ids = [i for i in ids if i in catalog]
    return Listing(kind, relation, ids,
                   {i: opening(catalog.records[i].description, 1) for i in ids})


@relation("subtechnique", "technique")
def _subtechniques(catalog: Catalog, record: Record) -> Listing:
    return described(catalog, "subtechnique", "sub-techniques", sorted(record.subtechniques))


@relation("subtechnique", "subtechnique")
def _siblings(catalog: Catalog, record: Record) -> Listing:
    """A sub-technique has none under it: asked for sub-techniques, the user means its family,
    the parent's sub-techniques, in ID order (a "3rd one" after it counts in that order).
    The one asked about is marked, not described again: its siblings are what is new."""
    parent = catalog.parent_of(record) or record
    out = _subtechniques(catalog, parent)
    if record.id in out.details:
        out.details[record.id] = "the one asked about"
    out.derived, out.through = "it is one of the sub-techniques of", parent.id
    return out


@relation("parent", "subtechnique")
def _parent(catalog: Catalog, record: Record) -> Listing:
    return described(catalog, "technique", "parent technique",
                     [record.parent] if record.parent else [])


@relation("parent", "technique")
def _no_parent(catalog: Catalog, record: Record) -> Listing:
    return Listing("technique", "parent technique")


@relation("tactic", *TECHNIQUE_TYPES, "case-study")
def _tactics(catalog: Catalog, record: Record) -> Listing:
    return described(catalog, "tactic", "tactics", catalog.tactics_in_order(record))


@relation("technique", "tactic")
def _techniques_of_tactic(catalog: Catalog, record: Record) -> Listing:
    return described(catalog, "technique", "techniques", sorted(record.techniques))


@relation("technique", "mitigation")
def _techniques_of_mitigation(catalog: Catalog, record: Record) -> Listing:
    out = Listing("technique", "techniques addressed", sorted(record.techniques))
    out.details = {i: record.uses.get(i, "") for i in out.ids}
    return out


@relation("technique", "case-study")
def _techniques_of_case_study(catalog: Catalog, record: Record) -> Listing:
    out = Listing("technique", "techniques used, in step order",
                  techniques_of_case_study(catalog, record.id))
    for atlas_id in out.ids:
        step = next((s for s in record.procedure if s.technique == atlas_id), None)
        out.details[atlas_id] = step.description if step else ""
    return out


@relation("attack_ref", *TECHNIQUE_TYPES, "tactic")
def _attack(catalog: Catalog, record: Record) -> Listing:
    return Listing("attack", "ATT&CK reference")


@relation("mitigation", "case-study", "tactic")
def _mitigations_of_techniques(catalog: Catalog, record: Record) -> Listing:
    techniques = techniques_of(catalog, record)
    ranked = rank_mitigations(catalog, {t: 1.0 for t in techniques})
    out = Listing("mitigation", "mitigations", [c.id for c in ranked])
    out.details = {c.id: f"addresses {len(c.covers)} of its techniques" for c in ranked}
    out.derived = (f"ATLAS links mitigations to techniques, not to {kind_name(record.type, 2)}; "
                   "these address the techniques it " + ("used" if record.type == "case-study"
                                                          else "groups") + ", most covered first")
    return out


@relation("case_study", "mitigation", "tactic")
def _case_studies_of_techniques(catalog: Catalog, record: Record) -> Listing:
    out = described(catalog, "case-study", "case studies",
                    case_studies_using(catalog, record.techniques))
    verb = "addresses" if record.type == "mitigation" else "groups"
    out.derived = f"these case studies used techniques it {verb}"
    return out


# ---------------------------------------------------------------------- composers


@composes("list")
def list_related(ctx: Context, reading: Reading) -> Reply:
    return _answer(ctx, reading, count=False)


@composes("count")
def count_related(ctx: Context, reading: Reading) -> Reply:
    return _answer(ctx, reading, count=True)


def _answer(ctx: Context, reading: Reading, count: bool) -> Reply:
    reply = Reply(ctx.catalog)
    subjects = ctx.subjects(reading) or _weak_subjects(ctx, reading)
    if subjects:
        pointed = _each_pointed(ctx, reading, subjects)
        if len(pointed) == 2 and asks_jointly(reading.question) and _jointly(
                ctx, reading, reply, pointed, count):
            return reply
        # "does either one have mitigations": each object pointed at, one after another.
        for n, atlas_id in enumerate(pointed):
            if n:
                reply.para("")
            _answer_one(ctx, reading, reply, atlas_id, count)
        return reply
    types = TARGET_TYPES.get(reading.target) or TECHNIQUE_TYPES
    facets = narrow(reading.question, ctx.catalog, ctx.catalog.of_type(*types))
    if facets:
        return _faceted(ctx, reading, reply, count, types, facets)
    described = _described_subject(ctx, reading, types)
    if described is not None:  # "what is data poisoning and what tactic is it under"
        reply.para(f"_Reading this as about {reply.name(described, bold=False)}._")
        _answer_one(ctx, reading, reply, described, count)
        return reply
    if ctx.reader.subject_words(reading.question):
        return _matching(ctx, reading, reply, count)
    return _everything(ctx, reading, reply, count)


def _described_subject(ctx: Context, reading: Reading, types: tuple[str, ...]) -> str | None:
    """Objects of one kind asked for by words that search surely finds an object of another
    kind for ("which tactic is data poisoning under", "case studies of model inversion") are
    that object's relation of the kind ("what mitigations are there for model inversion")."""
    if not ctx.reader.subject_words(reading.question):
        return None
    sure = ctx.reader.sure_link(reading.question)
    if sure is None:
        return None
    record = ctx.catalog.records[sure.id]
    if record.type in types or (reading.target, record.type) not in RELATIONS:
        return None
    listing = _listing(ctx, reading, record)
    if not (listing and listing.ids) and _named_by_words(ctx, reading.question, types):
        # "mitigations specifically about AI agents": the object found (AI Agent) has none,
        # while the words name mitigations themselves; those are asked for.
        return None
    return sure.id


def _first_holding(ctx: Context, reading: Reading, subjects: list[str]) -> str:
    """Of the objects the last answer led with, the first of the first one's kind that has
    the relation asked: a user asks for what an object has, so "parent technique?" after four
    techniques asks it of the sub-technique among them. The first, when none has it."""
    family = kind_family(ctx.catalog.records[subjects[0]].type)
    for atlas_id in subjects:
        record = ctx.catalog.records[atlas_id]
        if kind_family(record.type) == family:
            listing = _listing(ctx, reading, record)
            if listing is not None and listing.ids:
                return atlas_id
    return subjects[0]


def _listing(ctx: Context, reading: Reading, record: Record) -> Listing | None:
    """The relation asked of ``record``; None when ATLAS relates nothing of the kind to it."""
    function = RELATIONS.get((reading.target, record.type))
    if function is None:
        function = _default_relation(reading.target, record.type)
    return None if function is None else function(ctx.catalog, record)


def _answer_one(ctx: Context, reading: Reading, reply: Reply, atlas_id: str, count: bool) -> None:
    """The relation asked for, of one subject."""
    record = ctx.catalog.records[atlas_id]
    listing = _listing(ctx, reading, record)
    if listing is None:
        card(ctx.catalog, reply, record)
        return
    if listing.kind == "case-study":
        _closest_first(ctx, reading, record, listing)
        _stated_fields_first(ctx, reading, listing)
    if listing.kind == "attack":
        _attack_reference(reply, record)
    else:
        write_listing(ctx, reply, record, listing, count)


def _jointly(ctx: Context, reading: Reading, reply: Reply, ids: list[str], count: bool) -> bool:
    """"case studies that used both": the objects related to each of the two, in the first
    one's order. When none is, that is said and each one's follow (returns False)."""
    records = [ctx.catalog.records[i] for i in ids]
    functions = [f for r in records if (f := RELATIONS.get((reading.target, r.type)))]
    if len(functions) < 2:
        return False
    first, second = (f(ctx.catalog, r) for f, r in zip(functions, records, strict=True))
    shared = [i for i in first.ids if i in set(second.ids)]
    names = f"both {reply.name(ids[0])} and {reply.name(ids[1])}"
    version = ctx.catalog.version
    if not shared:
        reply.para(f"ATLAS {version} lists no {kind_name(first.kind, 1)} for {names}. "
                   "Each one's:")
        return False
    noun = kind_name(first.kind, len(shared))
    reply.para(f"ATLAS {version} lists **{len(shared)}** {noun} for {names}"
               + ("." if count and len(shared) > SHOW_AFTER_COUNT else ":"))
    if count and len(shared) > SHOW_AFTER_COUNT:
        _compact(reply, shared)
        return True
    for atlas_id in shared:
        detail = shorten(first.details.get(atlas_id, ""), DETAIL_CHARS)
        reply.item(atlas_id, reply.name(atlas_id, bold=False) + (f": {detail}" if detail else ""))
    return True


def _each_pointed(ctx: Context, reading: Reading, subjects: list[str]) -> list[str]:
    """The subjects to answer for: all those of the first one's kind when the message points
    at several ("does either one have mitigations", "their case studies"), or at none of them
    after an answer that led with several ("what tactics" after a comparison, or "tactic?"
    after "an adversary would most likely use A, B and C": a bare follow-up singles none out,
    so it is asked of each, up to EACH_SHOWN); else the first that has the relation."""
    if reading.source != "history":
        return subjects[:1]
    kinds = [kind_family(ctx.catalog.records[i].type) for i in subjects]
    alike = [i for i, kind in zip(subjects, kinds, strict=True) if kind == kinds[0]]
    if points_at_several(reading.question):
        pointed = alike[:EACH_SHOWN]
    elif len(alike) >= 2 and not points_at_one(reading.question):
        # Singled out by nothing: each that has the relation ("parent technique?" after three
        # techniques asks it of the sub-technique among them).
        pointed = [i for i in alike[:EACH_SHOWN]
                   if (listing := _listing(ctx, reading, ctx.catalog.records[i])) is not None
                   and listing.ids]
    else:
        pointed = []
    return pointed if len(pointed) > 1 else [_first_holding(ctx, reading, subjects)]


def _faceted(ctx: Context, reading: Reading, reply: Reply, count: bool,
             types: tuple[str, ...], facets: list[Facet]) -> Reply:
    """Objects of the wanted kind with the fields the question states; when it also describes
    them in words ("realized techniques against agents"), those that search finds for them."""
    kept = set.intersection(*(set(f.kept) for f in facets))
    used = set().union(*(f.words for f in facets))
    order = next((f.kept for f in facets if f.ordered), None)
    ids = [i for i in order if i in kept] if order else sorted(kept)
    if order is None and [w for w in ctx.reader.subject_words(reading.question) if w not in used]:
        found = [h for h in ctx.search(reading.question, types, k=len(kept) + SEARCH_LIST * 8)
                 if h.id in kept]
        ids = [h.id for h in relative(found, SEARCH_SHARE, SEARCH_LIST)]
    kind = "technique" if "technique" in types else types[0]
    label = " and ".join(f.label for f in facets)
    # "how many are incidents vs exercises": the other values named, counted too.
    also = [f"**{n}** {other}" for f in facets for other, n in f.also]
    label += f" (and {join(also)})" if also and len(facets) == 1 else ""
    noun = kind_name(kind, len(ids))
    if not ids:
        reply.para(f"ATLAS {ctx.catalog.version} has no {kind_name(kind, 2)} {label}"
                   " matching this.")
        return reply
    if order is not None:  # "the newest techniques": the first few in that order
        reply.para(f"The **{len(ids)}** {noun} of ATLAS {ctx.catalog.version}, {label}:")
    elif len(ids) < len(kept):
        # The words beside the facet picked some: the count is still of all with the fields
        # ("how many are real incidents vs red team exercises" is not "5 incidents").
        reply.para(f"ATLAS {ctx.catalog.version} has **{len(kept)}** "
                   f"{kind_name(kind, len(kept))} {label}; the {len(ids)} closest to your "
                   "other words:")
    else:
        reply.para(f"ATLAS {ctx.catalog.version} has **{len(ids)}** {noun} {label}"
                   + ("." if count and len(ids) > SHOW_AFTER_COUNT else ":"))
    if count and len(ids) > SHOW_AFTER_COUNT:
        _compact(reply, ids)
        return reply
    notes = {i: note for f in facets for i, note in f.notes}
    for atlas_id in ids:
        record = ctx.catalog.records[atlas_id]
        when = notes.get(atlas_id) or date_of(record)
        reply.item(atlas_id, reply.name(atlas_id, bold=False) + (f" ({when})" if when else ""))
    return reply


def _weak_subjects(ctx: Context, reading: Reading) -> list[str]:
    """A name too common to be a subject on its own ("exfiltration") is one when the relation
    asked for fits its kind ("techniques in the exfiltration tactic")."""
    return [link.id for link in reading.links.links
            if (reading.target, ctx.catalog.records[link.id].type) in RELATIONS
            and not _described_beyond(ctx, reading.question, link.span)][:1]


def _described_beyond(ctx: Context, question: str, span: tuple[int, int] | None) -> bool:
    """The question describes what it wants in more words than the name it holds ("case
    studies involving exfiltration through an agent's tools"): the name alone is not it."""
    if span is None:
        return False
    rest = question[: span[0]] + " " + question[span[1]:]
    return len(ctx.reader.subject_words(rest)) >= DESCRIBED_BEYOND




def without_ids(text: str) -> str:
    """``text`` without the IDs it holds, in any form: an ID names its object, it describes
    nothing."""
    for mention in reversed(find_id_mentions(text)):
        text = text[:mention.start] + " " + text[mention.end:]
    return text


def _closest_first(ctx: Context, reading: Reading, record: Record, listing: Listing) -> None:
    """Case studies asked for about a described situation ("was there a demo where injected
    text leaked the chat through an image link", or a follow-up "has this actually happened?")
    come in the order of closeness to what was described: the longest of this question and
    the last few (where the situation was told), with this one. A conversation that only
    named the subject ("what's Verify Attack") described nothing: ID order stays, and so it
    does for a question that names its subject itself after a description told earlier ("which
    case studies used RAG poisoning?" after a system description asks about that technique)."""
    asked = [t.question for t in reading.state.turns[-DESCRIBED_TURNS:]] + [reading.question]
    told = max(asked, key=len)
    beyond = set(ctx.reader.subject_words(without_ids(told))) - set(
        tokenize(ctx.catalog.full_name(record)))
    named = any(s.id == record.id and s.how in NAMED_HOW for s in reading.subjects)
    if len(listing.ids) < 2 or len(beyond) < DESCRIBED_BEYOND or (named and told != reading.question):
        return
    text = told if told == reading.question else " ".join([told, reading.question])
    hits = ctx.search(text, ("case-study",), k=len(ctx.catalog.of_type("case-study")))
    score = {h.id: h.score for h in hits}
    listing.ids.sort(key=lambda i: -score.get(i, 0.0))
    listing.ranked = "closest to what you described first"
    # Case studies of the other techniques the conversation showed, when closer still; not
    # when this question names its technique ("which case studies used RAG poisoning?").
    if named:
        return
    best = score.get(listing.ids[0], 0.0)
    others = case_studies_using(ctx.catalog, _discussed_techniques(ctx, reading))
    listing.closer = sorted((i for i in others if i not in listing.ids and score.get(i, 0.0) > best),
                            key=lambda i: -score[i])[:CLOSER_SHOWN]


def _stated_fields_first(ctx: Context, reading: Reading, listing: Listing) -> None:
    """"real incidents involving RAG poisoning": of the case studies listed, those with the
    fields the question states (a type, a year) first, and how many there are said; the
    list stays whole, so its count is still ATLAS's."""
    records = [ctx.catalog.records[i] for i in listing.ids]
    facets = [f for f in narrow(reading.question, ctx.catalog, records) if not f.ordered]
    if not facets or len(listing.ids) < 2:
        return
    kept = set.intersection(*(set(f.kept) for f in facets))
    listing.ids.sort(key=lambda i: i not in kept)  # stable: the order within each part stays
    label = " and ".join(f.label for f in facets)
    said = (f"{len(kept)} of them {label}, " + ("first" if len(kept) > 1 else "listed first")
            if kept else f"none of them {label}")
    listing.ranked = f"{said}; {listing.ranked}" if listing.ranked else said


def _discussed_techniques(ctx: Context, reading: Reading) -> list[str]:
    """The techniques the last answers showed or were about, and those their mitigations
    address."""
    out: list[str] = []
    for atlas_id in [*reading.state.subjects, *reading.state.items]:
        record = ctx.catalog.records.get(atlas_id)
        if record is None:
            continue
        if record.type in TECHNIQUE_TYPES:
            out.append(atlas_id)
        elif record.type == "mitigation":
            out += list(record.techniques)
    return list(dict.fromkeys(out))


def _default_relation(target: str, kind: str) -> Relation | None:
    """A relation for a target the subject kind has none of: the closest sensible one."""
    fallback = {"technique": ("subtechnique", "mitigation"), "subtechnique": ("mitigation",),
                "tactic": ("technique",), "mitigation": ("technique",),
                "case-study": ("technique",)}
    # A mitigation's tactics come through the techniques it addresses ("which attacks is it
    # for" after a mitigation): those techniques are the closest answer ATLAS gives. A list of
    # the subject's own kind ("what else is in that tactic") asks for what it holds.
    own = kind in (TARGET_TYPES.get(target) or ())
    if (target in ("technique", "subtechnique", "none") or own
            or (target, kind) == ("tactic", "mitigation")):
        for other in fallback.get(kind, ()):
            if (other, kind) in RELATIONS:
                return RELATIONS[(other, kind)]
    return None


def write_listing(ctx: Context, reply: Reply, record: Record, listing: Listing, count: bool) -> None:
    catalog = ctx.catalog
    n = len(listing.ids)
    noun = listing.relation
    singular = kind_name(listing.kind, n) if listing.kind != "technique" else (
        "technique" if n == 1 else "techniques")
    subject = reply.name(record.id)
    reply.source(record.id)
    if not n and noun == "parent technique":
        subs = sorted(record.subtechniques)
        reply.para(f"{subject} is a top-level technique, not a sub-technique: it has no parent."
                   + (f" Its sub-techniques are {reply.names(subs)}." if subs else ""))
        return
    if not n and listing.derived and record.techniques:
        # "any mitigations for it?" about a case study whose techniques have none listed.
        used = techniques_of(catalog, record)
        used = used if record.type == "case-study" else sorted(used)
        reply.para(f"ATLAS {catalog.version} lists no {noun} for {subject}: ATLAS links "
                   f"{noun} to techniques, and none is listed for the techniques it "
                   f"{'used' if record.type == 'case-study' else 'groups'}, "
                   f"{reply.names(used, bold=True)}.")
        return
    if not n:
        reply.para(f"ATLAS {catalog.version} lists no {noun} for {subject}.")
        nearest_instead(ctx, reply, record, listing)
        return
    own = [i for i in listing.ids if i not in listing.via]
    if listing.relation == "parent technique":
        reply.para(f"The parent technique of {subject} is {reply.name(listing.ids[0])}.")
    elif listing.derived:
        through = f" {reply.name(listing.through, bold=False)}" if listing.through else ""
        reply.para(f"{subject}: {listing.derived}{through} ({n}).")
    elif listing.via:
        reply.para(f"ATLAS {catalog.version} lists {len(own)} {kind_name(listing.kind, len(own))} "
                   f"for {subject} itself and {n - len(own)} more through its sub-techniques "
                   f"({n} in all).")
    elif count:
        reply.para(f"ATLAS {catalog.version} lists **{n}** {singular} for {subject}"
                   f"{_with_subtechniques(catalog, record, listing)}.")
    else:
        verb = "has" if noun != "techniques addressed" else "addresses"
        what = singular if noun in ("mitigations", "case studies", "sub-techniques", "tactics",
                                    "techniques", "techniques addressed") else noun
        if n == 1:
            what = what.replace("techniques", "technique", 1)
        reply.para(f"{subject} {verb} {n} {what}{_with_subtechniques(catalog, record, listing)} "
                   f"in ATLAS {catalog.version}:"
                   if verb == "has" else f"{subject} addresses {n} {what}:")
    if listing.ranked:
        reply.lines[-1] = reply.lines[-1].rstrip(":.") + f" ({listing.ranked}):"
    if listing.closer:
        reply.lines[-1] = reply.lines[-1].rstrip(":") + "."
        reply.para(f"Closer to what you described, through the other techniques discussed: "
                   f"{reply.names(listing.closer, bold=True)}. Those of {record.name}:")
    if count and n > SHOW_AFTER_COUNT:
        _compact(reply, listing.ids)
        return
    shown_via = False
    for atlas_id in listing.ids:
        if atlas_id not in catalog:
            continue
        if atlas_id in listing.via and not shown_via and not listing.ranked:
            shown_via = True
            reply.add("", "Through its sub-techniques:")
        detail = shorten(listing.details.get(atlas_id, ""), DETAIL_CHARS)
        via = listing.via.get(atlas_id)
        label = reply.name(atlas_id, bold=False)
        if via:
            label += f" (via {catalog.records[via].name}, {reply.ref(via)})"
        reply.item(atlas_id, label + (f": {detail}" if detail else ""))


def _with_subtechniques(catalog: Catalog, record: Record, listing: Listing) -> str:
    """A tactic's techniques are counted two ways ("how many techniques under impact": the
    top-level ones, or with their sub-techniques, which sit under their parent's tactics);
    both are said."""
    if record.type != "tactic" or listing.kind != "technique":
        return ""
    subs = sum(len(catalog.records[i].subtechniques) for i in listing.ids if i in catalog)
    return (f" ({len(listing.ids) + subs} counting their {subs} sub-technique"
            f"{'s' if subs != 1 else ''})" if subs else "")


def nearest_instead(ctx: Context, reply: Reply, record: Record, listing: Listing) -> None:
    """When a technique has none of something, offer its family's or, failing those, its
    closest neighbours': the case studies of the nearest one that has some, or the mitigations
    listed for the nearest few that have some, the nearest one's first (one neighbour's list
    alone can miss the control a user needs; a ranking by how many neighbours each covers
    would put a far neighbour's family before the nearest one's)."""
    if listing.kind not in ("mitigation", "case-study") or record.type not in TECHNIQUE_TYPES:
        return
    field_name = "mitigations" if listing.kind == "mitigation" else "case_studies"
    found_in_family = family_instead(ctx.catalog, record, field_name)
    if found_in_family:
        relative, related = found_in_family
        _nearest_list(ctx, reply, listing,
                      f"{relative_word(record, relative)} {reply.name(relative, bold=False)}",
                      related, relative)
        return
    parent = ctx.catalog.parent_of(record)
    family = ([parent.id] if parent else []) + list(record.subtechniques)
    found = ctx.search(record.name + ". " + opening(record.description, 1), TECHNIQUE_TYPES,
                       k=NEIGHBOUR_SEARCH)
    neighbours = [h for h in found if h.id != record.id and h.id not in family
                  and getattr(ctx.catalog.records[h.id], field_name)][:NEIGHBOURS_SHOWN]
    if not neighbours:
        return
    if listing.kind == "case-study":
        first = neighbours[0].id
        _nearest_list(ctx, reply, listing,
                      f"the closely related {reply.name(first, bold=False)}",
                      sorted(ctx.catalog.records[first].case_studies), first)
        return
    ids = [h.id for h in neighbours]
    reply.para("Closest instead: the mitigations ATLAS lists for closely related techniques, "
               "the closest first:")
    offered: dict[str, str] = {}  # mitigation -> the nearest neighbour listing it
    for neighbour in ids:
        for mitigation in sorted(ctx.catalog.records[neighbour].mitigations):
            offered.setdefault(mitigation, neighbour)
    for atlas_id in list(offered)[:NEAREST_ITEMS]:
        use = shorten(use_text(ctx.catalog, atlas_id, [offered[atlas_id]]), DETAIL_CHARS)
        reply.item(atlas_id, reply.name(atlas_id, bold=False) + (f": {use}" if use else "")
                   + f" (listed for {reply.name(offered[atlas_id], bold=False)})")


def _nearest_list(ctx: Context, reply: Reply, listing: Listing, whose: str,
                  related: list[str], other: str) -> None:
    reply.para(f"Closest instead: {whose} has {len(related)} "
               f"{kind_name(listing.kind, len(related))}:")
    for atlas_id in related[:NEAREST_ITEMS]:
        detail = (ctx.catalog.records[atlas_id].uses.get(other, "")
                  if listing.kind == "mitigation" else "")
        reply.item(atlas_id, reply.name(atlas_id, bold=False)
                   + (f": {shorten(detail, DETAIL_CHARS)}" if detail else ""))


def _attack_reference(reply: Reply, record: Record) -> None:
    ref = record.attack_reference or {}
    reply.source(record.id)
    if ref.get("id"):
        reply.para(f"{reply.name(record.id)} corresponds to MITRE ATT&CK "
                   f"[{ref['id']}]({ref.get('url', '')}).")
    else:
        reply.para(f"{reply.name(record.id)} has no ATT&CK reference in ATLAS: it is specific "
                   "to AI systems.")


def _matching(ctx: Context, reading: Reading, reply: Reply, count: bool) -> Reply:
    """Objects of the wanted kind whose text matches the question."""
    types = TARGET_TYPES.get(reading.target) or TECHNIQUE_TYPES
    named = _named_by_words(ctx, reading.question, types)
    if not named and types == ("mitigation",) and not count:
        # Mitigations for a described attack: those covering the techniques it describes,
        # as a defence question gets them.
        return COMPOSERS["defend"](ctx, reading)
    hits = relative(ctx.search(reading.question, types, k=SEARCH_LIST), SEARCH_SHARE, SEARCH_LIST)
    if named:
        found = {h.id for h in hits}
        hits = [hit_of(ctx.catalog.records[i], ctx.catalog) for i in sorted(named)
                if i not in found] + hits
    kind = types[0]
    if not hits:
        reply.para(f"I found no ATLAS {kind_name(kind, 2)} matching this.")
        return reply
    noun = kind_name(kind, len(hits))
    if count:
        reply.para(f"About **{len(hits)}** ATLAS {noun} match this closely; the best are "
                   f"{reply.names([h.id for h in hits[:3]])}:")
    else:
        verb = "matches" if len(hits) == 1 else "match"
        reply.para(f"The ATLAS {noun} that {verb} best: "
                   f"{reply.names([h.id for h in hits[:3]])}.")
    for hit in hits:
        record = ctx.catalog.records[hit.id]
        reply.item(hit.id, reply.name(hit.id, bold=False) + ": "
                   + shorten(opening(record.description, 1), DETAIL_CHARS))
    if kind != "case-study" and may_seek_incidents(reading):
        case_studies_line(ctx, reply, reading.question)
    return reply


def _named_by_words(ctx: Context, question: str, types: tuple[str, ...]) -> list[str]:
    """Objects whose names hold every word the question describes them by ("mitigations about
    AI agents"): they belong in the list, whatever their rank. Words that no ATLAS name holds
    ("specific", "involving") cannot name one; more than NAMED_LIST objects is no naming."""
    vocabulary = {t for r in ctx.catalog.records.values() for t in tokenize(ctx.catalog.full_name(r))}
    words = set(ctx.reader.subject_words(question)) & vocabulary
    named = [r.id for r in ctx.catalog.of_type(*types)
             if words and words <= set(tokenize(ctx.catalog.full_name(r)))]
    return named if len(named) <= NAMED_LIST else []


def _everything(ctx: Context, reading: Reading, reply: Reply, count: bool) -> Reply:
    """Every object of the wanted kind."""
    catalog = ctx.catalog
    types = TARGET_TYPES.get(reading.target) or TECHNIQUE_TYPES
    if "technique" in types and "subtechnique" in types:
        parents = catalog.of_type("technique")
        subs = catalog.of_type("subtechnique")
        reply.para(f"ATLAS {catalog.version} has **{len(parents) + len(subs)}** techniques: "
                   f"{len(parents)} techniques and {len(subs)} sub-techniques, under "
                   f"{len(catalog.of_type('tactic'))} tactics.")
        if not count:
            for tactic in catalog.tactic_order():
                ids = sorted(catalog.records[tactic].techniques)
                reply.add("", f"**{catalog.records[tactic].name}** ({reply.ref(tactic)}): "
                          + ", ".join(f"{catalog.records[i].name} ({reply.ref(i)})" for i in ids))
        return reply
    kind = types[0]
    ids = (catalog.tactic_order() if kind == "tactic"
           else sorted(r.id for r in catalog.of_type(*types)))
    noun = kind_name(kind, len(ids))
    reply.para(f"ATLAS {catalog.version} has **{len(ids)}** {noun}"
               + ("." if count else (", in matrix order:" if kind == "tactic" else ":")))
    if count:
        _compact(reply, ids)
        return reply
    for atlas_id in ids:
        reply.item(atlas_id, reply.name(atlas_id, bold=False))
    return reply


def _compact(reply: Reply, ids: list[str]) -> None:
    """After a count, the objects counted in one paragraph (a number alone cannot be
    checked, and the next question is usually which they are)."""
    if len(ids) <= COMPACT_LIST:
        reply.para("They are " + reply.names(ids, limit=COMPACT_LIST) + ".")


__all__ = ["RELATIONS", "Listing", "count_related", "list_related", "matrix_order"]
