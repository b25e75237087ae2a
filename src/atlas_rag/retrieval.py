"""Hybrid retrieval: exact IDs and names first, then BM25 and dense results fused per object."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .catalog import Catalog, normalize_name
from .errors import QueryError, SettingsError
from .ids import find_attack_ids, find_ids
from .lexical import BM25, tokenize, with_formal_words
from .records import TYPES, Record
from .rerank import Reranker

# Dense search returns (chunk position, cosine similarity) pairs.
DenseSearch = Callable[[str, int], list[tuple[int, float]]]
# Example search returns the nearest example questions as (answering object, cosine) pairs.
ExampleSearch = Callable[[str, int], list[tuple[str, float]]]

NAME_BONUS = 0.1
# A page's head (its name and opening, or its first sentences) says most about what it is;
# a mitigation's advice for one technique says less about the page it sits on. Measured on
# evals/ (see README).
KIND_WEIGHTS = {"title": 1.2, "lead": 1.2, "mitigation-use": 0.8}
# Dense evidence of a page: its best chunk, plus a fifth of its second best, and so on.
DENSE_DECAY = 0.2
# Labelled procedure steps vote for their technique when the query reads like a step of an
# incident: not at all up to STEP_WORDS[0] words, fully from STEP_WORDS[1] words.
STEP_NEIGHBOURS = 20
STEP_WEIGHT = 0.6
STEP_WORDS = (10, 30)
# The example questions nearest a query vote for the objects answering them, each vote its
# similarity to this power: a near paraphrase counts far more than a loose one. Chosen on the
# dev conversations' first turns (README): hit@1 moved alike for 10-30 neighbours, powers 1-8
# and weights 0.5-3.
EXAMPLE_NEIGHBOURS = 20
EXAMPLE_SHARPNESS = 4
EXAMPLE_WEIGHT = 1.0
# The same questions' words, taken together per object, as one BM25 document each: a word
# users use for an object that its ATLAS text lacks ("sticker", "picklescan") counts for it
# even when no single question is near the query as a whole. Chosen on the dev conversations:
# first-turn hit@1 moved alike for weights 1-3; whole dev turns were best at 1.
EXAMPLE_WORDS_WEIGHT = 1.0
# Chunks made to summarise their page: a hit found by one quotes the description instead.
SUMMARY_KINDS = ("title", "lead")
CANDIDATES = 150
SNIPPET_CHARS = 300


@dataclass(frozen=True)
class Hit:
    """One ATLAS object found for a query, with the text that matched."""

    id: str
    name: str
    type: str
    score: float
    url: str
    snippet: str
    section: str = ""
    matched_by: tuple[str, ...] = ()
    tactics: tuple[str, ...] = field(default=(), repr=False)

    @property
    def title(self) -> str:
        return f"{self.id}: {self.name}"


@dataclass(frozen=True)
class ChunkRef:
    """What retrieval keeps in memory of each stored chunk."""

    id: str
    page_id: str
    kind: str
    section: str
    text: str
    context: str
    links: tuple[str, ...]


class Retriever:
    """Searches one index generation: its catalog, its chunks and their vectors."""

    def __init__(
        self,
        catalog: Catalog,
        chunks: Sequence[ChunkRef],
        dense: DenseSearch | None,
        max_query_chars: int = 4000,
        weights: dict[str, float] | None = None,
        reranker: Reranker | None = None,
        rerank_depth: int = 20,
        prefetch: Callable[[Sequence[str]], None] | None = None,
        examples: ExampleSearch | None = None,
        example_questions: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.catalog = catalog
        self._prefetch = prefetch
        self.examples = examples
        # Each object's example questions (text, answering object) as one document.
        asked: dict[str, list[str]] = {}
        for text, atlas_id in example_questions:
            if atlas_id in catalog:
                asked.setdefault(atlas_id, []).append(text)
        self.example_ids = list(asked)
        self.example_bm25 = BM25([" ".join(texts) for texts in asked.values()]) if asked else None
        self.chunks = list(chunks)
        # Answering asks the same query several times (scope check, subject, ranking).
        self.dense = functools.lru_cache(maxsize=512)(dense) if dense else None
        self.max_query_chars = max_query_chars
        # The weight of each signal in the fusion (see SIGNALS and settings.signal_weights).
        unknown = set(weights or {}) - set(SIGNALS)
        if unknown:
            raise SettingsError(f"unknown retrieval signal(s) {sorted(unknown)}",
                                f"use {', '.join(SIGNALS)}")
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        # Optional: a cross-encoder re-orders the best fused results (cached like dense).
        self.reranker = reranker
        self.rerank_depth = rerank_depth
        self._rerank_scores = functools.lru_cache(maxsize=256)(self._cross_scores)
        self.bm25 = BM25([f"{c.context} {c.text}" for c in self.chunks])
        self._chunk_bm25 = functools.lru_cache(maxsize=64)(
            lambda query: self.bm25.top(query, CANDIDATES))
        # Whole pages as documents too, under their full name: evidence spread over several
        # chunks adds up.
        by_page: dict[str, list[str]] = {}
        for chunk in self.chunks:
            if chunk.page_id not in by_page:
                record = catalog.records.get(chunk.page_id)
                by_page[chunk.page_id] = [catalog.full_name(record)] if record else []
            by_page[chunk.page_id].append(chunk.text)
        self.page_ids = list(by_page)
        self.page_bm25 = BM25([" ".join(texts) for texts in by_page.values()])
        # Every name an object goes by: a sub-technique also by its own name when that is
        # more than one word ("Invert AI Model").
        self._name_terms = {
            r.id: [set(tokenize(name)) for name in catalog.names_of(r) if tokenize(name)]
            for r in catalog
        }

    # ------------------------------------------------------------------ public

    def prefetch(self, queries: Sequence[str]) -> None:
        """Embed queries about to be searched in one batch (the windows of a write-up)."""
        if self._prefetch is not None and self.dense is not None:
            self._prefetch([with_formal_words(self.check_query(q)) for q in queries])

    def check_query(self, query: str, limit: int | None = None) -> str:
        """The query, cleaned; QueryError if it is empty or too long."""
        if not isinstance(query, str):
            raise QueryError("the query must be text")
        limit = limit or self.max_query_chars
        if len(query) > limit:
            raise QueryError(
                f"the query has {len(query):,} characters; the limit is {limit:,}",
                "shorten it, or use `atlas-rag map` / rag.map_text() for long incident texts",
            )
        cleaned = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", query).strip()
        if not cleaned or not re.search(r"\w", cleaned):
            raise QueryError("the query is empty", "type a question, an ATLAS ID or a name")
        return cleaned

    def search(
        self,
        query: str,
        k: int = 5,
        types: Iterable[str] | None = None,
        tactics: Iterable[str] | None = None,
        weights: dict[str, float] | None = None,
    ) -> list[Hit]:
        """The ``k`` best objects for ``query``, one hit per object, best first; ``weights``
        overrides some of the signal weights for this search."""
        query = self.check_query(query)
        if k <= 0:
            raise QueryError("k must be positive")
        wanted_types = _check_types(types)
        wanted_tactics = {t.upper() for t in tactics} if tactics else None
        ranked = self.rank(query, weights)
        hits = []
        for atlas_id, score, how, position in ranked:
            record = self.catalog.records.get(atlas_id)
            if record is None or not _keep(record, wanted_types, wanted_tactics):
                continue
            hits.append(self._hit(record, score, how, position, query))
            if len(hits) == k:
                break
        return hits

    def relevance(self, query: str) -> float:
        """Cosine similarity of the query to its nearest chunk (0.0 without dense search)."""
        if self.dense is None:
            return 0.0
        found = self.dense(query, CANDIDATES)
        return max((score for _, score in found), default=0.0)

    def rank(self, query: str, weights: dict[str, float] | None = None
             ) -> list[tuple[str, float, tuple[str, ...], int | None]]:
        """Every candidate object with its fused score and the signals that found it.

        Exact IDs and names come first; every other object is scored by the signals in
        SIGNALS, fused by :func:`fuse` with the weights of the settings (some overridden by
        ``weights``).
        """
        weights = {**self.weights, **(weights or {})}
        exact = self._exact(query)
        results = [result for name, signal in SIGNALS.items()
                   if weights.get(name, 0.0) and (result := signal(self, query)) is not None]
        fused, how, best_chunk = fuse(results, weights)
        for atlas_id, _ in self.name_matches(query)[:5]:
            fused[atlas_id] = fused.get(atlas_id, 0.0) + NAME_BONUS
            how.setdefault(atlas_id, []).append("name")
        out: list[tuple[str, float, tuple[str, ...], int | None]] = []
        for n, atlas_id in enumerate(exact):
            out.append((atlas_id, 1.0 + 1.0 / (n + 1), ("exact",), best_chunk.get(atlas_id)))
        top = max(fused.values(), default=1.0) or 1.0
        ranked = []
        for atlas_id, score in sorted(fused.items(), key=lambda item: -item[1]):
            if atlas_id not in exact:
                signals_used = tuple(dict.fromkeys(how[atlas_id]))
                ranked.append((atlas_id, score / top * 0.99, signals_used, best_chunk.get(atlas_id)))
        if self.reranker is not None:
            ranked = self._rerank(query, ranked)
        return out + ranked

    def chunk_bm25(self, query: str) -> list[tuple[int, float]]:
        """BM25 over chunks, cached per query (the step votes reuse it)."""
        return self._chunk_bm25(query)

    def _rerank(
        self, query: str, ranked: list[tuple[str, float, tuple[str, ...], int | None]]
    ) -> list[tuple[str, float, tuple[str, ...], int | None]]:
        """The first ``rerank_depth`` results in the cross-encoder's order; they keep the
        scores of the places they take, so scores still fall down the list."""
        head, tail = ranked[: self.rerank_depth], ranked[self.rerank_depth :]
        if len(head) < 2:
            return ranked
        pairs = tuple((atlas_id, self._rerank_text(atlas_id, position))
                      for atlas_id, _, _, position in head)
        scores = self._rerank_scores(query, pairs)
        order = sorted(range(len(head)), key=lambda n: -scores[n])
        reordered = [
            (head[n][0], head[place][1], (*head[n][2], "rerank"), head[n][3])
            for place, n in enumerate(order)
        ]
        return reordered + tail

    def _rerank_text(self, atlas_id: str, position: int | None) -> str:
        """What the cross-encoder reads of a result: its name and the text that matched."""
        record = self.catalog.records.get(atlas_id)
        name = self.catalog.full_name(record) if record else atlas_id
        if position is not None and self.chunks[position].kind not in SUMMARY_KINDS:
            text = self.chunks[position].text
        else:
            text = record.description if record else ""
        return f"{name}. {text[:1500]}"

    def _cross_scores(self, query: str, pairs: tuple[tuple[str, str], ...]) -> list[float]:
        assert self.reranker is not None
        return self.reranker.score(query, [text for _, text in pairs])

    # ------------------------------------------------------------------ signals

    def _exact(self, query: str) -> list[str]:
        """Objects the query names exactly: by ATLAS ID, ATT&CK ID, or its whole text as name."""
        found = [i for i in find_ids(query) if i in self.catalog]
        for attack_id in find_attack_ids(query):
            found += self.catalog.by_attack(attack_id)
        stripped = re.sub(
            r"^(what|who|explain|describe|tell me about|show|define)( is| are| me)?( the)?\s+",
            "",
            query.strip().rstrip("?!. "),
            flags=re.IGNORECASE,
        )
        for text in (query, stripped):
            if normalize_name(text):
                found += self.catalog.by_name(text)
        return list(dict.fromkeys(found))

    def name_matches(self, query: str) -> list[tuple[str, float]]:
        """Objects whose name shares most of its words with the query (Jaccard >= 0.5)."""
        terms = set(tokenize(query))
        if not terms:
            return []
        found = []
        for atlas_id, variants in self._name_terms.items():
            jaccard = max(
                (len(terms & name) / len(terms | name) for name in variants), default=0.0
            )
            if jaccard >= 0.5:
                found.append((atlas_id, jaccard))
        return sorted(found, key=lambda item: -item[1])

    def _best_per_page(
        self, chunk_scores: list[tuple[int, float]]
    ) -> list[tuple[str, tuple[float, int]]]:
        """Pages ranked by their best chunk: (page, (score, chunk position))."""
        per_page: dict[str, tuple[float, int]] = {}
        for position, raw in chunk_scores:
            chunk = self.chunks[position]
            score = raw * KIND_WEIGHTS.get(chunk.kind, 1.0)
            if chunk.page_id not in per_page or score > per_page[chunk.page_id][0]:
                per_page[chunk.page_id] = (score, position)
        return sorted(per_page.items(), key=lambda item: -item[1][0])

    def _dense_per_page(
        self, chunk_scores: list[tuple[int, float]]
    ) -> list[tuple[str, tuple[float, int]]]:
        """Pages ranked by their chunks' similarities, best first, each next one counting
        DENSE_DECAY times the one before: a page matching in several places ranks higher."""
        per_page: dict[str, list[tuple[float, int]]] = {}
        for position, raw in chunk_scores:
            chunk = self.chunks[position]
            per_page.setdefault(chunk.page_id, []).append(
                (raw * KIND_WEIGHTS.get(chunk.kind, 1.0), position)
            )
        ranked = []
        for page, found in per_page.items():
            found.sort(reverse=True)
            score = sum(value * DENSE_DECAY**n for n, (value, _) in enumerate(found))
            ranked.append((page, (score, found[0][1])))
        return sorted(ranked, key=lambda item: -item[1][0])

    def _step_votes(
        self, chunk_scores: list[tuple[int, float]]
    ) -> list[tuple[str, tuple[float, int]]]:
        """Techniques voted for by the procedure examples on their pages that match the query
        best (BM25, as a share of the best match): steps of past incidents labelled with
        the technique they show."""
        top = chunk_scores[0][1] if chunk_scores else 0.0
        votes: dict[str, tuple[float, int]] = {}
        seen = 0
        for position, score in chunk_scores:
            chunk = self.chunks[position]
            if chunk.kind != "procedure-example":
                continue
            total, first = votes.get(chunk.page_id, (0.0, position))
            votes[chunk.page_id] = (total + score / top, first)
            seen += 1
            if seen == STEP_NEIGHBOURS:
                break
        return sorted(votes.items(), key=lambda item: -item[1][0])

    # ------------------------------------------------------------------ hits

    def _hit(
        self, record: Record, score: float, how: tuple[str, ...], position: int | None, query: str
    ) -> Hit:
        if position is not None and self.chunks[position].kind not in SUMMARY_KINDS:
            chunk = self.chunks[position]
            text, section = chunk.text, chunk.section
        else:
            text, section = record.description, "Description"
        return Hit(
            id=record.id,
            name=self.catalog.full_name(record),
            type=record.type,
            score=round(float(score), 4),
            url=record.url,
            snippet=best_sentence(text, query),
            section=section,
            matched_by=how,
            tactics=record.tactics,
        )


@dataclass(frozen=True)
class SignalResult:
    """One signal's pages for a query, best first: (page, (score, best chunk position or -1)).

    ``complete`` says the list holds every page the signal matched (so its scale runs down
    to zero), not only its best candidates.
    """

    name: str
    label: str
    order: list[tuple[str, tuple[float, int]]]
    complete: bool
    scale: float = 1.0  # how much the signal applies to this query (0-1)


Signal = Callable[["Retriever", str], SignalResult | None]


def chunk_bm25_signal(retriever: Retriever, query: str) -> SignalResult:
    """BM25 over chunks; each page counts with its best chunk."""
    hits = retriever.chunk_bm25(query)
    return SignalResult("chunk_bm25", "bm25", retriever._best_per_page(hits), len(hits) < CANDIDATES)


def page_bm25_signal(retriever: Retriever, query: str) -> SignalResult:
    """BM25 over whole pages (under their full names): evidence spread over chunks adds up."""
    hits = retriever.page_bm25.top(query, CANDIDATES)
    order = [(retriever.page_ids[i], (s, -1)) for i, s in hits]
    return SignalResult("page_bm25", "bm25", order, len(hits) < CANDIDATES)


def dense_signal(retriever: Retriever, query: str) -> SignalResult | None:
    """Nearest chunks by embedding, the query followed by ATLAS's words for its everyday ones."""
    if retriever.dense is None:
        return None
    found = retriever.dense(with_formal_words(query), CANDIDATES)
    return SignalResult("dense", "dense", retriever._dense_per_page(found), len(found) < CANDIDATES)


def steps_signal(retriever: Retriever, query: str) -> SignalResult | None:
    """Votes of the labelled procedure steps a query matches, when it reads like a step: not
    at all up to STEP_WORDS[0] words, fully from STEP_WORDS[1] words."""
    ramp = _ramp(len(query.split()), *STEP_WORDS)
    if not ramp:
        return None
    order = retriever._step_votes(retriever.chunk_bm25(query))
    return SignalResult("steps", "steps", order, True, scale=ramp)


def examples_signal(retriever: Retriever, query: str) -> SignalResult | None:
    """Votes of the example questions in users' words nearest the query (the index's packaged
    questions, each labelled with the object that answers it): users describe an attack in
    their own words ("junk meter reads"), and a question someone else wrote the same way
    finds what ATLAS's text alone does not."""
    if retriever.examples is None:
        return None
    votes: dict[str, float] = {}
    for atlas_id, similarity in retriever.examples(with_formal_words(query), EXAMPLE_NEIGHBOURS):
        if atlas_id in retriever.catalog:
            votes[atlas_id] = votes.get(atlas_id, 0.0) + max(similarity, 0.0) ** EXAMPLE_SHARPNESS
    order = sorted(((i, (v, -1)) for i, v in votes.items()), key=lambda item: -item[1][0])
    return SignalResult("examples", "examples", order, False)


def example_words_signal(retriever: Retriever, query: str) -> SignalResult | None:
    """BM25 over each object's example questions taken together: the words users choose for
    an object, found even when ATLAS's own text never uses them."""
    if retriever.example_bm25 is None:
        return None
    hits = retriever.example_bm25.top(query, CANDIDATES)
    order = [(retriever.example_ids[i], (s, -1)) for i, s in hits]
    return SignalResult("example_words", "examples", order, len(hits) < CANDIDATES)


# A new signal is one function here and one weight in DEFAULT_WEIGHTS (and the settings).
SIGNALS: dict[str, Signal] = {
    "chunk_bm25": chunk_bm25_signal,
    "page_bm25": page_bm25_signal,
    "dense": dense_signal,
    "steps": steps_signal,
    "examples": examples_signal,
    "example_words": example_words_signal,
}
# Measured on the dev halves of evals/ (README); settings.signal_weights overrides them.
DEFAULT_WEIGHTS = {"chunk_bm25": 0.5, "page_bm25": 1.0, "dense": 1.6, "steps": STEP_WEIGHT,
                   "examples": EXAMPLE_WEIGHT, "example_words": EXAMPLE_WORDS_WEIGHT}


def fuse(
    results: Sequence[SignalResult], weights: dict[str, float]
) -> tuple[dict[str, float], dict[str, list[str]], dict[str, int]]:
    """Each signal's page scores scaled to 0..1 for this query and added with its weight.

    A signal that separates its pages clearly counts for more than one whose pages are all
    alike. The scale runs from the signal's best page down to its last candidate, or down to
    zero when every match is a candidate. Returns (scores, signal labels, best chunk) by page.
    """
    fused: dict[str, float] = {}
    how: dict[str, list[str]] = {}
    best_chunk: dict[str, int] = {}
    for result in results:
        if not result.order:
            continue
        weight = weights.get(result.name, 0.0) * result.scale
        high = result.order[0][1][0]
        low = 0.0 if result.complete else result.order[-1][1][0]
        spread = (high - low) or 1.0
        for page, (score, position) in result.order:
            fused[page] = fused.get(page, 0.0) + weight * max(0.0, score - low) / spread
            how.setdefault(page, []).append(result.label)
            if position >= 0:
                best_chunk.setdefault(page, position)
    return fused, how, best_chunk


def best_sentence(text: str, query: str, limit: int = SNIPPET_CHARS) -> str:
    """The sentence of ``text`` sharing the most terms with ``query``, shortened to ``limit``."""
    from .corpus import plain_text

    text = plain_text(text)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip()) > 20]
    if not sentences:
        sentences = [text.strip()]
    terms = set(tokenize(query))
    best = max(sentences, key=lambda s: (len(terms & set(tokenize(s))), -sentences.index(s)))
    best = re.sub(r"\s+", " ", best)
    return best if len(best) <= limit else best[: limit - 1].rsplit(" ", 1)[0] + "…"


def _ramp(value: float, low: float, high: float) -> float:
    """0 up to ``low``, 1 from ``high``, linear in between."""
    return min(1.0, max(0.0, (value - low) / (high - low)))


def _check_types(types: Iterable[str] | None) -> set[str] | None:
    if types is None:
        return None
    wanted = {t.strip().lower() for t in ([types] if isinstance(types, str) else types) if t}
    unknown = wanted - set(TYPES) - {"note"}
    if unknown:
        raise QueryError(
            f"unknown type(s): {', '.join(sorted(unknown))}", f"use one of {', '.join(TYPES)}"
        )
    return wanted or None


def _keep(record: Record, types: set[str] | None, tactics: set[str] | None) -> bool:
    if types and record.type not in types:
        return False
    if tactics:
        own = {record.id} if record.type == "tactic" else set(record.tactics)
        if not own & tactics:
            return False
    return True
