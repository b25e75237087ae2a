"""Narrowing a list by what the question says of the objects' own fields: a year ("case studies
from 2025"), a maturity ("realized techniques"), a case study's type ("real incidents", "research
exercises") or a relation an object has or lacks ("which have no mitigations"). The values come
from the release itself (a year is a formal notation; maturities and case-study types are
ATLAS's own field values; relations are the catalog's own fields), so nothing here is a word
list. A new facet is one function and one line in FACETS."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..catalog import Catalog
from ..lexical import stem, tokenize
from ..records import Record

_YEAR_RE = re.compile(r"\b(19[89]\d|20\d\d)\b")


@dataclass(frozen=True)
class Facet:
    """Records kept by one facet, and how the answer says it ("from 2025")."""

    kept: tuple[str, ...]
    label: str
    words: frozenset[str]  # the question's terms the facet used up


FacetFunction = Callable[[str, Catalog, Sequence[Record]], Facet | None]


def date_of(record: Record) -> str:
    """The date a question about "when" means: a case study's incident, else its creation."""
    return str(record.extra.get("incident_date") or record.created or "")


def year_facet(question: str, catalog: Catalog, records: Sequence[Record]) -> Facet | None:
    years = sorted(set(_YEAR_RE.findall(question)))
    if not years:
        return None
    kept = tuple(r.id for r in records if date_of(r)[:4] in years)
    return Facet(kept, "from " + " or ".join(years), frozenset(years))


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
    return Facet(kept, f"of type “{wanted}”", frozenset(stem(v.lower()) for v in named))


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


FACETS: tuple[FacetFunction, ...] = (year_facet, maturity_facet, case_study_type_facet,
                                     relation_facet)


def narrow(question: str, catalog: Catalog, records: Sequence[Record]) -> list[Facet]:
    """Every facet the question states, each with the records it keeps."""
    found = [facet(question, catalog, records) for facet in FACETS]
    return [f for f in found if f is not None]
