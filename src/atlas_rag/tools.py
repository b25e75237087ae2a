"""The assistant's tools: plain functions over an opened index, returning JSON-ready dicts.

One definition, several shells: the MCP server (``mcp_server.py``) and the llama-index tools
(``integrations/llama_index.py``) register these functions as they are; the shells only bind
the index and translate errors. Argument types and descriptions here are the tools' schemas;
the return types (TypedDicts) are their output schemas. Every tool only reads.

Errors are AtlasRagError subclasses whose message says what was wrong and whose hint says
what to try instead.
"""

from __future__ import annotations

import functools
import inspect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import Field
from typing_extensions import TypedDict

from . import relations
from .api import AtlasRAG
from .corpus import page_body, render_page
from .errors import InvalidArgumentError, UnknownIdError
from .ids import read_id
from .navigator import tactic_shortname
from .records import TYPES, Record

MAX_K = 50
Relation = Literal[
    "mitigations", "case_studies", "subtechniques", "parent", "tactics", "techniques", "attack"
]
RELATIONS: tuple[str, ...] = get_args(Relation)
# The kind of relations.py each relation names; "techniques" depends on the subject's type.
_KINDS = {
    "mitigations": "mitigations_of", "case_studies": "case_studies_of",
    "subtechniques": "subtechniques_of", "parent": "parent_of", "tactics": "tactics_of",
    "attack": "atlas_to_attack",
}
_TECHNIQUES_OF = {
    "tactic": "techniques_of_tactic", "mitigation": "techniques_of_mitigation",
    "case-study": "techniques_of_case_study",
}


class Ref(TypedDict):
    """An object named by its ID and name."""

    id: str
    name: str


class SearchResult(TypedDict):
    id: Annotated[str, Field(description="ATLAS ID, e.g. AML.T0051.001")]
    name: Annotated[str, Field(description="Full name (a sub-technique's with its parent's)")]
    type: Annotated[str, Field(description="tactic, technique, subtechnique, mitigation or case-study")]
    score: Annotated[float, Field(description="Relevance, higher is better")]
    url: Annotated[str, Field(description="The object's page on atlas.mitre.org")]
    snippet: Annotated[str, Field(description="The text that matched")]


class SearchResults(TypedDict):
    results: list[SearchResult]


class Step(TypedDict):
    tactic: str
    technique: str
    description: str


class ObjectInfo(TypedDict):
    """One ATLAS object with its fields; relations as IDs with names."""

    id: str
    type: str
    name: str
    full_name: str
    description: str
    url: str
    atlas_version: str
    tactics: list[Ref]
    parent: Ref | None
    subtechniques: list[Ref]
    mitigations: list[Ref]
    case_studies: list[Ref]
    techniques: list[Ref]
    attack_reference: dict[str, str] | None
    maturity: str | None
    created: str | None
    modified: str | None
    uses: Annotated[
        dict[str, str],
        Field(description="How each related mitigation applies (technique) or each addressed "
                          "technique is mitigated (mitigation), by the other object's ID"),
    ]
    procedure: Annotated[list[Step], Field(description="A case study's steps, in order")]


class RelatedItem(TypedDict):
    id: Annotated[str, Field(description="ATLAS ID (ATT&CK ID for 'attack')")]
    name: Annotated[str, Field(description="Full name (empty for ATT&CK IDs)")]
    url: str


class Related(TypedDict):
    id: Annotated[str, Field(description="The object asked about, canonical ID")]
    relation: str
    results: list[RelatedItem]


class AskResult(TypedDict):
    text: Annotated[str, Field(description="The answer in markdown, citing ATLAS IDs")]
    citations: Annotated[list[str], Field(description="ATLAS IDs the answer cites")]
    abstained: Annotated[bool, Field(description="True when ATLAS holds no answer to this")]


class MappedTechnique(TypedDict):
    id: str
    name: str
    tactics: list[Ref]
    confidence: Annotated[float, Field(description="Calibrated confidence, 0-1")]
    evidence: Annotated[str, Field(description="The sentence of the text that shows it")]


class MapResult(TypedDict):
    techniques: Annotated[list[MappedTechnique], Field(description="In ATLAS matrix order")]


class TacticColumn(TypedDict):
    id: str
    name: str
    shortname: Annotated[str, Field(description="Navigator name: lower case, hyphenated")]
    techniques: list[Ref]


class TacticList(TypedDict):
    tactics: Annotated[list[TacticColumn], Field(description="In ATLAS matrix order")]


class ReleaseInfo(TypedDict):
    atlas_version: str
    objects: int
    counts: Annotated[dict[str, int], Field(description="Objects by type")]


AtlasId = Annotated[
    str,
    Field(description="An ATLAS ID in any common form: AML.T0051.001, t0051.001, AML-T0043-001, "
                      "M0015, AML.CS0005, AML.TA0004"),
]


# ------------------------------------------------------------------------------- tools


def search(
    rag: AtlasRAG,
    query: Annotated[str, Field(description="Words, a name or an ATLAS ID to look for")],
    k: Annotated[int, Field(description="How many results", ge=1, le=MAX_K)] = 5,
    types: Annotated[
        list[str] | None,
        Field(description=f"Keep only these types: {', '.join(TYPES)}"),
    ] = None,
    tactics: Annotated[
        list[str] | None,
        Field(description="Keep only objects of these tactics (IDs, e.g. AML.TA0004)"),
    ] = None,
) -> SearchResults:
    """Search ATLAS tactics, techniques, mitigations and case studies; exact IDs and names first."""
    _check_k(k)
    tactic_ids = [_tactic_id(rag, t) for t in tactics] if tactics else None
    hits = rag.search(query, k=k, types=types or None, tactics=tactic_ids)
    return {"results": [
        {"id": h.id, "name": h.name, "type": h.type, "score": round(h.score, 4), "url": h.url,
         "snippet": h.snippet}
        for h in hits
    ]}


def get_object(rag: AtlasRAG, atlas_id: AtlasId) -> ObjectInfo:
    """One ATLAS object with its fields and its relations (IDs with names)."""
    record = rag.get(atlas_id)
    catalog = rag.catalog

    def refs(ids: tuple[str, ...]) -> list[Ref]:
        return [_ref(rag, i) for i in ids]

    return {
        "id": record.id, "type": record.type, "name": record.name,
        "full_name": catalog.full_name(record), "description": record.description,
        "url": record.url, "atlas_version": record.atlas_version,
        "tactics": refs(catalog.tactics_of(record) if record.type != "case-study" else record.tactics),
        "parent": _ref(rag, record.parent) if record.parent else None,
        "subtechniques": refs(record.subtechniques), "mitigations": refs(record.mitigations),
        "case_studies": refs(record.case_studies), "techniques": refs(record.techniques),
        "attack_reference": record.attack_reference, "maturity": record.maturity,
        "created": record.created, "modified": record.modified, "uses": dict(record.uses),
        "procedure": [{"tactic": s.tactic, "technique": s.technique, "description": s.description}
                      for s in record.procedure],
    }


def related(
    rag: AtlasRAG,
    atlas_id: AtlasId,
    relation: Annotated[
        Relation,
        Field(description="mitigations, case_studies, subtechniques, parent or tactics of a "
                          "technique; techniques of a tactic, mitigation or case study; attack: "
                          "the ATT&CK reference of a technique"),
    ],
) -> Related:
    """Objects related to one ATLAS object, exactly as the release records them."""
    record = rag.get(atlas_id)
    if relation not in RELATIONS:
        raise InvalidArgumentError(
            f"unknown relation {relation!r}", f"use one of {', '.join(RELATIONS)}"
        )
    kind = _relation_kind(relation, record.type)
    if kind is None:
        usable = [r for r in RELATIONS if _relation_kind(r, record.type)]
        raise InvalidArgumentError(
            f"{record.id} is a {record.type}; it has no {relation!r} relation",
            f"for a {record.type} use one of {', '.join(usable)}",
        )
    ids = relations.related(rag.catalog, kind, record.id)
    if relation == "attack":
        url = (record.attack_reference or {}).get("url", "")
        results: list[RelatedItem] = [{"id": i, "name": "", "url": url} for i in ids]
    else:
        results = [{**_ref(rag, i), "url": rag.catalog.records[i].url if i in rag.catalog else ""}
                   for i in ids]
    return {"id": record.id, "relation": relation, "results": results}


def ask(
    rag: AtlasRAG,
    question: Annotated[str, Field(description="A question about ATLAS, in plain words")],
    history: Annotated[
        list[list[str]] | None,
        Field(description="Earlier turns as [question, answer] pairs, oldest first, so "
                          "follow-ups ('and its mitigations?') are understood"),
    ] = None,
) -> AskResult:
    """Answer a question about ATLAS, citing ATLAS IDs; says so when ATLAS has no answer."""
    pairs = []
    for n, turn in enumerate(history or []):
        if len(turn) != 2 or not all(isinstance(part, str) for part in turn):
            raise InvalidArgumentError(
                f"history turn {n} is not a [question, answer] pair",
                "pass history as [[question, answer], ...]",
            )
        pairs.append((turn[0], turn[1]))
    answer = rag.ask(question, pairs or None)
    return {"text": answer.text, "citations": list(answer.citations),
            "abstained": answer.abstained}


def map_text(
    rag: AtlasRAG,
    text: Annotated[str, Field(description="An incident write-up or system description")],
    k: Annotated[int, Field(description="Most techniques to return", ge=1, le=MAX_K)] = 10,
) -> MapResult:
    """The ATLAS techniques a text shows, each with its evidence sentence and a confidence."""
    _check_k(k)
    return {"techniques": [
        {"id": h.id, "name": h.name, "tactics": [_ref(rag, t) for t in h.tactics],
         "confidence": round(h.score, 4), "evidence": h.snippet}
        for h in rag.map_text(text, k=k)
    ]}


def list_tactics(rag: AtlasRAG) -> TacticList:
    """ATLAS tactics in the order of the matrix, each with its techniques."""
    catalog = rag.catalog
    columns: list[TacticColumn] = []
    for tactic_id in catalog.tactic_order():
        tactic = catalog.records[tactic_id]
        techniques = [catalog.records[t] for t in tactic.techniques if t in catalog.records]
        columns.append({
            "id": tactic.id, "name": tactic.name, "shortname": tactic_shortname(tactic.name),
            "techniques": [{"id": t.id, "name": catalog.full_name(t)}
                           for t in sorted(techniques, key=lambda r: r.id)],
        })
    return {"tactics": columns}


def navigator_layer(
    rag: AtlasRAG,
    atlas_ids: Annotated[
        list[str] | None, Field(description="Technique IDs to highlight")
    ] = None,
    text: Annotated[
        str | None,
        Field(description="Or an incident write-up: its mapped techniques, scored by confidence"),
    ] = None,
    name: Annotated[str, Field(description="The layer's name")] = "atlas-rag",
) -> dict[str, Any]:
    """An ATLAS Navigator layer (JSON) of the given techniques (highlighted, score 100) or of
    those a text shows (score = confidence x 100, comment = evidence sentence)."""
    if bool(atlas_ids) == bool(text and text.strip()):
        raise InvalidArgumentError(
            "give either atlas_ids or text",
            "atlas_ids=['AML.T0051'] highlights techniques; text='...' maps a write-up",
        )
    if atlas_ids:
        return rag.layer(ids=atlas_ids, name=name)
    return rag.layer(text=str(text), name=name)


# ---------------------------------------------------------------------------- resources


def object_page(rag: AtlasRAG, atlas_id: str) -> str:
    """The object's page: markdown with YAML frontmatter, as the corpus holds it."""
    return render_page(rag.get(atlas_id), rag.catalog)


def object_text(rag: AtlasRAG, record: Record) -> str:
    """The object's page without frontmatter: what a language model should read."""
    return page_body(record, rag.catalog)


def release_info(rag: AtlasRAG) -> ReleaseInfo:
    """The ATLAS release the index holds: version and objects by type."""
    counts = Counter(r.type for r in rag.catalog)
    return {"atlas_version": rag.version, "objects": len(rag.catalog),
            "counts": {t: counts.get(t, 0) for t in (*TYPES, *sorted(set(counts) - set(TYPES)))}}


# ------------------------------------------------------------------------ registration


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the shells register it: its name, a short title and its function."""

    name: str
    title: str
    function: Callable[..., Any]

    @property
    def description(self) -> str:
        return inspect.getdoc(self.function) or ""

    def bind(self, rag: Callable[[], AtlasRAG]) -> Callable[..., Any]:
        """The function with the index bound: its signature (the schema) lacks ``rag``."""
        function = self.function

        @functools.wraps(function)
        def tool(*args: Any, **kwargs: Any) -> Any:
            return function(rag(), *args, **kwargs)

        signature = inspect.signature(function, eval_str=True)
        tool.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=list(signature.parameters.values())[1:]
        )
        del tool.__wrapped__
        tool.__annotations__ = {
            **{p.name: p.annotation for p in list(signature.parameters.values())[1:]},
            "return": signature.return_annotation,
        }
        return tool


TOOLS = (
    ToolSpec("search", "Search ATLAS", search),
    ToolSpec("get_object", "Look up an ATLAS object", get_object),
    ToolSpec("related", "Related ATLAS objects", related),
    ToolSpec("ask", "Ask about ATLAS", ask),
    ToolSpec("map_text", "Map a text to ATLAS techniques", map_text),
    ToolSpec("list_tactics", "ATLAS tactics and techniques", list_tactics),
    ToolSpec("navigator_layer", "ATLAS Navigator layer", navigator_layer),
)


# ------------------------------------------------------------------------------ helpers


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise InvalidArgumentError(f"k must be between 1 and {MAX_K}, got {k}", "use e.g. k=5")


def _ref(rag: AtlasRAG, atlas_id: str) -> Ref:
    record = rag.catalog.records.get(atlas_id)
    return {"id": atlas_id, "name": rag.catalog.full_name(record) if record else ""}


def _tactic_id(rag: AtlasRAG, text: str) -> str:
    canonical = read_id(text) or text
    record = rag.catalog.records.get(canonical)
    if record is None or record.type != "tactic":
        raise UnknownIdError(
            f"{text!r} is not a tactic of ATLAS {rag.version}",
            "pass tactic IDs such as AML.TA0004; list_tactics() lists them",
        )
    return record.id


def _relation_kind(relation: str, record_type: str) -> str | None:
    """The relations.py kind of ``relation`` for a subject of this type; None if it has none."""
    kind = _TECHNIQUES_OF.get(record_type) if relation == "techniques" else _KINDS.get(relation)
    if kind is None:
        return None
    types = relations.RELATIONS[kind][0]
    return kind if not types or record_type in types else None
