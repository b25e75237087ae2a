"""Answers computed from the relation graph: roll-ups, coverage rankings, matrix order.

Pure functions of a catalog; the composers turn their results into text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..catalog import Catalog
from ..records import Record

TECHNIQUE_TYPES = ("technique", "subtechnique")


def kind_family(kind: str) -> str:
    """Techniques and sub-techniques are one kind of object here; every other type is its own."""
    return "technique" if kind in TECHNIQUE_TYPES else kind
# The kinds of object each target names (the reader matches them against a message's subjects).
TARGET_KINDS: dict[str, tuple[str, ...]] = {
    "technique": TECHNIQUE_TYPES,
    "subtechnique": ("subtechnique",),
    "parent": TECHNIQUE_TYPES,
    "tactic": ("tactic",),
    "mitigation": ("mitigation",),
    "case_study": ("case-study",),
}
# The data model's nouns for kinds of object as users write them ("case study", "sub-technique",
# "case studie" as a plural's stem), and the kind each names.
KIND_WORDS = {"tactic": "tactic", "parent": "parent", "mitigation": "mitigation",
              "case study": "case-study", "case-study": "case-study", "casestudy": "case-study",
              "case studie": "case-study", "case-studie": "case-study", "case": "case-study",
              "subtechnique": "subtechnique", "sub-technique": "subtechnique",
              "technique": "technique"}


def kind_of_word(word: str) -> str:
    """The kind a noun names ("Case  Study" -> case-study), or ""."""
    return KIND_WORDS.get(re.sub(r"\s+", " ", word.lower()), "")


# Any of the data model's nouns for a kind of object (and the usual synonyms of the asking
# vocabulary): a message that says one asks for that kind, not for the last list again.
KIND_WORD = re.compile(
    r"\b(?:tactic|parent|mitigation|case[\s-]?stud(?:y|ies)|sub-?technique|technique|defen[cs]e"
    r"|control|countermeasure|incident|example|attack|ttp|procedure|step)s?\b", re.IGNORECASE)


def kinds_named(text: str) -> set[str]:
    """The kinds ``text`` names by the data model's nouns ("the tactic ...", "which case
    studies"), as ``kind_of_word`` gives them; a technique and a sub-technique are one kind."""
    named = {kind_of_word(m.group(0).rstrip("sS")) or kind_of_word(m.group(0))
             for m in KIND_WORD.finditer(text)} - {""}
    return named | set(TECHNIQUE_TYPES) if named & set(TECHNIQUE_TYPES) else named


# The kinds of object that answer each target (the composers' view: an ATT&CK reference is
# answered from techniques and tactics; "none" has no kind of its own).
TARGET_TYPES: dict[str, tuple[str, ...] | None] = {
    **TARGET_KINDS,
    "attack_ref": (*TECHNIQUE_TYPES, "tactic"),
    "none": None,
}


@dataclass(frozen=True)
class Related:
    """One related object, and through which object it is related when not directly."""

    id: str
    via: str | None = None


def family(catalog: Catalog, atlas_id: str) -> list[str]:
    """A technique with its sub-techniques; a sub-technique with its parent."""
    record = catalog.records[atlas_id]
    if record.type == "technique":
        return [atlas_id, *record.subtechniques]
    parent = catalog.parent_of(record)
    if record.type == "subtechnique" and parent is not None:
        return [atlas_id, parent.id]
    return [atlas_id]


def family_instead(catalog: Catalog, record: Record, field_name: str) -> tuple[str, list[str]] | None:
    """When ``record`` lists nothing in ``field_name``: the first of its family (its parent,
    else its sub-techniques in ID order) that lists something, with what it lists (sorted);
    None when none does."""
    parent = catalog.parent_of(record)
    for other in ([parent.id] if parent else []) + sorted(record.subtechniques):
        related = sorted(getattr(catalog.records[other], field_name))
        if related:
            return other, related
    return None


def relative_word(record: Record, relative: str) -> str:
    """How ``relative`` stands to ``record``: "its parent" or "its sub-technique"."""
    return "its parent" if relative == record.parent else "its sub-technique"


def rolled_up(catalog: Catalog, atlas_id: str, field_name: str) -> list[Related]:
    """A technique's mitigations or case studies, then those of its sub-techniques (labelled);
    each sorted by ID, no repeats."""
    record = catalog.records[atlas_id]
    own = sorted(getattr(record, field_name))
    out = [Related(i) for i in own]
    seen = set(own)
    if record.type == "technique":
        for sub in record.subtechniques:
            for other in sorted(getattr(catalog.records[sub], field_name)):
                if other not in seen:
                    seen.add(other)
                    out.append(Related(other, via=sub))
    return out


@dataclass
class Coverage:
    """A mitigation ranked by the relevant techniques it addresses."""

    id: str
    score: float
    covers: list[str] = field(default_factory=list)


def rank_mitigations(
    catalog: Catalog, weights: dict[str, float], boost: dict[str, float] | None = None
) -> list[Coverage]:
    """Mitigations by the summed weight of the relevant techniques they address.

    ``weights``: technique ID -> relevance. A technique's family (parent, sub-techniques)
    counts at half its weight, so a parent's mitigations help with its sub-techniques.
    ``boost``: mitigation ID -> extra score (a mitigation the question itself describes).
    """
    spread: dict[str, float] = {}
    for atlas_id, weight in weights.items():
        if atlas_id not in catalog:
            continue
        for n, member in enumerate(family(catalog, atlas_id)):
            value = weight if n == 0 else weight * 0.5
            spread[member] = max(spread.get(member, 0.0), value)
    ranked: dict[str, Coverage] = {}
    for atlas_id, weight in spread.items():
        for mitigation in catalog.records[atlas_id].mitigations:
            entry = ranked.setdefault(mitigation, Coverage(mitigation, 0.0))
            entry.score += weight
            if weights.get(atlas_id):
                entry.covers.append(atlas_id)
    for mitigation, extra in (boost or {}).items():
        if mitigation in catalog:
            ranked.setdefault(mitigation, Coverage(mitigation, 0.0)).score += extra
    return sorted(ranked.values(), key=lambda c: (-c.score, c.id))


def use_text(catalog: Catalog, mitigation: str, techniques: Sequence[str]) -> str:
    """What ATLAS says a mitigation does against the first of ``techniques`` it addresses."""
    record = catalog.records[mitigation]
    for technique in techniques:
        for member in family(catalog, technique):
            if record.uses.get(member):
                return record.uses[member]
    return ""


def matrix_order(catalog: Catalog, ids: Iterable[str]) -> list[str]:
    return sorted((i for i in ids if i in catalog), key=catalog.matrix_key)


def by_tactic(catalog: Catalog, ids: Iterable[str]) -> list[tuple[str | None, list[str]]]:
    """Techniques grouped under their first tactic, groups in matrix order."""
    groups: dict[str | None, list[str]] = {}
    for atlas_id in matrix_order(catalog, ids):
        tactics = catalog.tactics_of(catalog.records[atlas_id])
        column = min(tactics, key=catalog.matrix_key) if tactics else None
        groups.setdefault(column, []).append(atlas_id)
    return list(groups.items())


def techniques_of_case_study(catalog: Catalog, atlas_id: str) -> list[str]:
    """The techniques a case study used, in the order of its procedure."""
    record = catalog.records[atlas_id]
    return list(dict.fromkeys(step.technique for step in record.procedure)) or list(record.techniques)


def techniques_of(catalog: Catalog, record: Record) -> list[str]:
    """The techniques an object groups: a case study's in step order, else its own field."""
    if record.type == "case-study":
        return techniques_of_case_study(catalog, record.id)
    return list(record.techniques)


def case_studies_using(catalog: Catalog, techniques: Iterable[str]) -> list[str]:
    wanted = set(techniques)
    return [r.id for r in catalog.of_type("case-study")
            if wanted & set(techniques_of_case_study(catalog, r.id))]
