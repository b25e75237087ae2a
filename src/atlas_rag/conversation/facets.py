"""Narrowing a list by what the question says of the objects' own fields: a year ("case studies
from 2025") or a maturity ("realized techniques"). The values come from the release itself (a
year is a formal notation; maturities are ATLAS's own field values), so nothing here is a word
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


FACETS: tuple[FacetFunction, ...] = (year_facet, maturity_facet)


def narrow(question: str, catalog: Catalog, records: Sequence[Record]) -> list[Facet]:
    """Every facet the question states, each with the records it keeps."""
    found = [facet(question, catalog, records) for facet in FACETS]
    return [f for f in found if f is not None]
