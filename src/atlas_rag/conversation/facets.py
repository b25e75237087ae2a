"""Narrowing a list by what the question says of the objects' own fields: a year ("case studies
from 2025"), a maturity ("realized techniques"), a case study's type ("real incidents", "research
exercises"), a mitigation's lifecycle stage or category ("which apply at deployment", "policy
mitigations") or a relation an object has or lacks ("which have no mitigations"). The values come
from the release itself (a year is a formal notation; maturities, case-study types, stages and
categories are ATLAS's own field values; relations are the catalog's own fields), so the only
word lists here are closed classes of English. A new facet is one function and one line in
FACETS."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..catalog import Catalog
from ..lexical import stem, tokenize
from ..records import Record
from .linking import SYSTEM_PREFIXES

_YEAR_RE = re.compile(r"\b(19[89]\d|20\d\d)\b")
# The words that put a year to an object ("dated 2026", "reported in 2025", "a 2024 date"): a
# closed class of English words of dating, used up by the year they go with, so they are not
# read as describing the objects.
DATING_TERMS = frozenset(tokenize(
    "date dated dates dating year years published reported happened occurred added released"))


@dataclass(frozen=True)
class Facet:
    """Records kept by one facet, and how the answer says it ("from 2025")."""

    kept: tuple[str, ...]
    label: str
    words: frozenset[str]  # the question's terms the facet used up
    ordered: bool = False  # ``kept`` is in the order to show (newest first), not a set
    notes: tuple[tuple[str, str], ...] = ()  # what to say beside each kept object ("17 case studies")
    # The other values of the field the question names, each with how many objects hold it
    # ("incidents vs exercises": 40 of type “exercise”).
    also: tuple[tuple[str, int], ...] = ()


FacetFunction = Callable[[str, Catalog, Sequence[Record]], Facet | None]


def date_of(record: Record) -> str:
    """The date a question about "when" means: a case study's incident, else its creation."""
    return str(record.extra.get("incident_date") or record.created or "")


def year_facet(question: str, catalog: Catalog, records: Sequence[Record]) -> Facet | None:
    years = sorted(set(_YEAR_RE.findall(question)))
    if not years:
        return None
    kept = tuple(r.id for r in records if date_of(r)[:4] in years)
    return Facet(kept, "from " + " or ".join(years), frozenset(years) | DATING_TERMS)


def maturity_facet(question: str, catalog: Catalog, records: Sequence[Record]) -> Facet | None:
    values = {r.maturity for r in catalog if r.maturity}
    terms = set(tokenize(question))
    named = sorted(v for v in values if stem(v.lower()) in terms)
    if not named or not any(r.maturity for r in records):
        return None
    kept = tuple(r.id for r in records if r.maturity in named)
    label = "with maturity " + " or ".join(f"“{v}”" for v in named)
    return Facet(kept, label, frozenset(stem(v.lower()) for v in named))


def case_study_type_facet(question: str, catalog: Catalog,
                          records: Sequence[Record]) -> Facet | None:
    """ATLAS's case-study types ("incident", "exercise"); when the question names both ("real
    incidents rather than exercises"), the one it names first is the one it wants."""
    values = {str(r.extra.get("case_study_type") or "") for r in catalog.of_type("case-study")}
    terms = tokenize(question)
    named = [v for v in values if v and stem(v.lower()) in terms]
    if not named or not any(r.type == "case-study" for r in records):
        return None
    wanted = min(named, key=lambda v: terms.index(stem(v.lower())))
    kept = tuple(r.id for r in records if r.extra.get("case_study_type") == wanted)
    also = tuple((f"of type “{v}”", sum(r.extra.get("case_study_type") == v for r in records))
                 for v in sorted(named) if v != wanted)
    return Facet(kept, f"of type “{wanted}”", frozenset(stem(v.lower()) for v in named),
                 also=also)


def _field_values_named(question: str, values: set[str]) -> list[str]:
    """The values of a field (ATLAS's own: "Deployment", "Technical - Cyber") the question
    names: by a word no other value of the field holds ("deployed" for Deployment, "policy"),
    or by all of the value's words ("technical ML")."""
    terms = set(tokenize(question))
    # The "LLM"/"AI"/"ML" prefixes of names say nothing of which value of a field is meant.
    words = {v: set(tokenize(v)) - SYSTEM_PREFIXES for v in values}
    named = []
    for value, own in words.items():
        others = set().union(*(w for v, w in words.items() if v != value))
        if (own - others) & terms or (own and set(tokenize(value)) <= terms):
            named.append(value)
    return sorted(named)


def _listed_field_facet(field_name: str, label: str) -> FacetFunction:
    """A facet on a list-valued field of ``extra`` (a mitigation's lifecycle stages or
    category): the objects with any of the values the question names."""

    def facet(question: str, catalog: Catalog, records: Sequence[Record]) -> Facet | None:
        values = {v for r in catalog for v in r.extra.get(field_name) or () if isinstance(v, str)}
        named = _field_values_named(question, values)
        if not named or not any(r.extra.get(field_name) for r in records):
            return None
        kept = tuple(r.id for r in records if set(named) & set(r.extra.get(field_name) or ()))
        used = frozenset(t for v in named for t in tokenize(v))
        return Facet(kept, label + " " + " or ".join(f"“{v}”" for v in named), used)

    return facet


lifecycle_facet = _listed_field_facet("lifecycle", "for the AI lifecycle stage")
category_facet = _listed_field_facet("category", "of category")


# Words asking for the most recent or the earliest objects (a closed class of English).
_NEWEST_RE = re.compile(r"\b(?:newest|latest|most\s+recent(?:ly\s+added)?|recently\s+added"
                        r"|recent\s+additions?|added\s+recently|last\s+added|what'?s\s+new)\b",
                        re.IGNORECASE)
_OLDEST_RE = re.compile(r"\b(?:oldest|earliest|first\s+added)\b", re.IGNORECASE)
# How many objects a "newest" question shows: enough for the last additions of a release.
RECENT_SHOWN = 8


def recency_facet(question: str, catalog: Catalog, records: Sequence[Record]) -> Facet | None:
    """"the newest techniques", "latest case study": the objects by date (a case study's
    incident, else the date ATLAS added it; ID order, which is the order of addition, breaks
    ties and stands in where a date is missing), newest first, or oldest first."""
    newest = _NEWEST_RE.search(question)
    oldest = _OLDEST_RE.search(question)
    if not (newest or oldest) or not records:
        return None
    ranked = sorted(records, key=lambda r: (date_of(r), r.id), reverse=bool(newest))
    kept = tuple(r.id for r in ranked[:RECENT_SHOWN])
    match = newest or oldest
    assert match is not None
    label = ("newest first" if newest else "oldest first") + (
        " (by the date ATLAS gives; a case study's is its incident date)")
    return Facet(kept, label, frozenset(tokenize(match.group(0))), ordered=True)


# The catalog's relation fields, as the answer words them and as a message names them (the
# data model's own nouns, singular or plural). A negation just before one ("no mitigations",
# "without case studies") asks for the objects lacking it.
RELATION_FIELDS = {
    "mitigations": ("mitigations", r"\bmitigations?\b"),
    "case_studies": ("case studies", r"\bcase[\s-]?stud(?:y|ies)\b"),
    "subtechniques": ("sub-techniques", r"\bsub[\s-]?techniques?\b"),
    "techniques": ("techniques", r"(?<![\w-])(?<!sub )techniques?\b"),
}
# Possession words before the noun make it a facet ("which have mitigations", "with case
# studies"); a negation among them asks for the objects lacking it. Closed classes of English.
_HAVING_RE = re.compile(r"\b(?:have|has|having|with|without|no|none|lacks?|lacking|missing)"
                        r"\W+(?:\w+\W+){0,2}$", re.IGNORECASE)
_LACKING_RE = re.compile(r"\b(?:without|no|none|lacks?|lacking|missing|zero)\b", re.IGNORECASE)


def relation_facet(question: str, catalog: Catalog, records: Sequence[Record]) -> Facet | None:
    """Objects that have (or lack) a kind of relation the question names; only a relation the
    listed objects can have counts ("which of those techniques have no mitigations")."""
    for field_name, (words, pattern) in RELATION_FIELDS.items():
        match = re.search(pattern, question, re.IGNORECASE)
        if not match or not any(getattr(r, field_name) for r in records):
            continue
        before = question[max(0, match.start() - 30): match.start()]
        having = _HAVING_RE.search(before)
        if not having:
            continue
        lacking = bool(_LACKING_RE.search(having.group(0)))
        kept = tuple(r.id for r in records if bool(getattr(r, field_name)) != lacking)
        label = ("with no " if lacking else "with ") + words + " listed"
        return Facet(kept, label, frozenset(tokenize(match.group(0))))
    return None


# Superlatives of quantity ("the most case studies", "fewest mitigations"): a closed class of
# English. The noun after them is one of the catalog's relation fields; up to two modifiers
# may stand between, hyphenated ones too ("the most real-world case studies").
_MODIFIERS = r"\s+(?:[\w'-]+\s+){0,2}$"
_MOST_RE = re.compile(r"\b(?:most|highest\s+number\s+of|largest\s+number\s+of|greatest\s+number\s+of)"
                      + _MODIFIERS, re.IGNORECASE)
_FEWEST_RE = re.compile(r"\b(?:fewest|least|lowest\s+number\s+of|smallest\s+number\s+of)"
                        + _MODIFIERS, re.IGNORECASE)


def count_facet(question: str, catalog: Catalog, records: Sequence[Record]) -> Facet | None:
    """"which technique shows up in the most case studies", "fewest mitigations": the objects
    ordered by how many of a relation they have, most (or fewest) first."""
    for field_name, (words, pattern) in RELATION_FIELDS.items():
        for match in re.finditer(pattern, question, re.IGNORECASE):
            before = question[max(0, match.start() - 40): match.start()]
            most, fewest = _MOST_RE.search(before), _FEWEST_RE.search(before)
            having = [r for r in records if getattr(r, field_name)]
            if not (most or fewest) or not having:
                continue
            ranked = sorted(records, key=lambda r: (-len(getattr(r, field_name)) if most
                                                    else len(getattr(r, field_name)), r.id))
            kept = ranked[:RECENT_SHOWN]
            notes = tuple((r.id, f"{len(getattr(r, field_name))} {words}") for r in kept)
            label = ("most " if most else "fewest ") + words + " first"
            used = (most or fewest).group(0)  # type: ignore[union-attr]
            return Facet(tuple(r.id for r in kept), label,
                         frozenset(tokenize(used + " " + match.group(0))), ordered=True,
                         notes=notes)
    return None


FACETS: tuple[FacetFunction, ...] = (year_facet, maturity_facet, case_study_type_facet,
                                     lifecycle_facet, category_facet, count_facet,
                                     relation_facet, recency_facet)


def narrow(question: str, catalog: Catalog, records: Sequence[Record]) -> list[Facet]:
    """Every facet the question states, each with the records it keeps."""
    found = [facet(question, catalog, records) for facet in FACETS]
    return [f for f in found if f is not None]
