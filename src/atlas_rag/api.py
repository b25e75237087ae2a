"""The public Python API: build an index, open it, search it, look objects up."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import navigator
from .answer import Answer, GroundedAnswerer, final_answer, stream_text
from .catalog import Catalog
from .conversation.intents import LazyIntentModel
from .embeddings import Embedder, SentenceTransformerEmbedder, whole_words
from .errors import IndexIncompatibleError, InvalidArgumentError
from .indexer import BuildReport, build, manifest_problem
from .mapping import map_text
from .records import Record
from .rerank import CrossEncoderReranker
from .retrieval import ChunkRef, ExampleSearch, Hit, Retriever
from .settings import Settings
from .store import Generation, Store, StoreBackend, StoredExamples
from .tuning import embedder_for

logger = logging.getLogger(__name__)
# Query vectors embedded ahead (a write-up's windows) kept at most, in case some go unused.
PREFETCH_LIMIT = 2000


def exact_nearest(matrix: np.ndarray, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Rows of ``matrix`` (unit vectors) most similar to ``vector``: (row, cosine), best first."""
    if not len(matrix):
        return []
    scores = matrix @ np.asarray(vector, dtype=np.float32)
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best]


def _example_search(examples: StoredExamples,
                    vector: Callable[[str], np.ndarray]) -> ExampleSearch:
    """Nearest stored example questions to a query, as (answering object, cosine) pairs; the
    query's vector is the one dense search uses."""

    def nearest(query: str, k: int) -> list[tuple[str, float]]:
        return [(examples.atlas_ids[row], score)
                for row, score in exact_nearest(examples.embeddings, vector(query), k)]

    return nearest


def default_embedder(settings: Settings) -> Embedder:
    return SentenceTransformerEmbedder(settings.model_path, settings.embed_batch_size)


def build_index(
    source: str | os.PathLike[str] | None = None,
    corpus_dir: str | os.PathLike[str] | None = None,
    index_dir: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    render: bool = True,
    progress: bool = False,
    vault_dir: str | os.PathLike[str] | None = None,
) -> BuildReport:
    """Render an ATLAS release into corpus pages and (re)build the index from them.

    ``source`` is a local ATLAS.yaml or a URL; None uses the setting or downloads the pinned
    release. With ``render=False`` the corpus folder is indexed as it is. ``vault_dir`` (or the
    setting) is a team's vault (pages in the vault format, or notes), indexed on top: a vault
    page replaces the release page of its ID. With ``render=False`` and no corpus folder, the
    vault alone.
    """
    settings = (settings or Settings.from_env()).replace(
        corpus_dir=Path(corpus_dir) if corpus_dir else None,
        index_dir=Path(index_dir) if index_dir else None,
        vault_dir=Path(vault_dir) if vault_dir else None,
    )
    return build(
        settings,
        embedder,
        source=str(source) if source is not None else None,
        render=render,
        progress=progress,
    )


class AtlasRAG:
    """An opened index: search, look up, and (with the answer module) answer questions."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None,
        store: StoreBackend,
        query_embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        # Without an embedder, questions are embedded with the query model the generation was
        # built for (the base model fine-tuned on its release, found in the cache); its pages
        # were embedded with the base model.
        self.managed = embedder is None
        self.embedder: Embedder = embedder or default_embedder(settings)
        self.query_embedder: Embedder = query_embedder or self.embedder
        self.store = store
        self._lock = threading.Lock()
        self._generation: Generation | None = None
        self._retriever: Retriever | None = None
        self._answerer: GroundedAnswerer | None = None
        self.manifest: dict[str, Any] = {}
        # The question reader's classifier, trained on first use (its example vectors are
        # cached per embedding model in the cache folder).
        self.intents = LazyIntentModel(self.embedder, settings.cache_dir)
        self.reranker = CrossEncoderReranker(settings.reranker_path) if settings.reranker_path else None
        self._load()

    @classmethod
    def open(
        cls,
        index_dir: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
    ) -> AtlasRAG:
        """Open the published index; IndexNotBuiltError / IndexIncompatibleError say what to do."""
        settings = (settings or Settings.from_env()).replace(
            index_dir=Path(index_dir) if index_dir else None
        )
        return cls(settings, embedder, Store(settings))

    # ------------------------------------------------------------------ loading

    def _load(self) -> None:
        generation = self.store.current()
        with self.store.guard():
            manifest = generation.manifest()
            problem = manifest_problem(manifest, self.embedder)
            if problem:
                raise IndexIncompatibleError(
                    f"the index at {self.store.location} cannot be used: {problem}",
                    "rebuild it with `atlas-rag build`",
                )
            if self.managed:
                name = str(manifest.get("query_model") or self.embedder.name)
                if name != self.query_embedder.name:
                    self.query_embedder = (self.embedder if name == self.embedder.name
                                           else embedder_for(self.settings, name))
            catalog = Catalog(
                (Record.from_dict(d) for d in generation.read_pages()),
                str(manifest.get("atlas_version") or ""),
            )
            stored = generation.read_chunks(with_embeddings=True)
            examples = generation.read_examples()
        chunks = [
            ChunkRef(
                id=chunk_id,
                page_id=str(meta.get("page_id")),
                kind=str(meta.get("kind") or ""),
                section=str(meta.get("section") or ""),
                text=text or "",
                context=str(meta.get("context") or ""),
                links=tuple(str(meta.get("links") or "").split()),
            )
            for chunk_id, text, meta in zip(stored.ids, stored.documents, stored.metadatas, strict=True)
        ]
        # Exact nearest neighbours over the vectors in memory: a few thousand chunks are one
        # matrix product (well under a millisecond), exact and identical between rebuilds,
        # and a search needs no round trip to Chroma (or to a Chroma server).
        matrix = np.asarray(stored.embeddings, dtype=np.float32).reshape(len(chunks), -1)

        # Queries known in advance (the windows of a pasted write-up) are embedded in one batch,
        # several times faster than one by one; each vector is used once, then dropped.
        ready: dict[str, np.ndarray] = {}

        def prefetch(queries: Sequence[str]) -> None:
            missing = [q for q in dict.fromkeys(queries) if q not in ready]
            if len(ready) > PREFETCH_LIMIT:
                ready.clear()
            if missing:
                ready.update(zip(missing, self.query_embedder.embed(missing), strict=True))

        @functools.lru_cache(maxsize=512)
        def vector(query: str) -> np.ndarray:
            found = ready.pop(query, None)
            return found if found is not None else self.query_embedder.embed([query])[0]

        def dense(query: str, k: int) -> list[tuple[int, float]]:
            return exact_nearest(matrix, vector(query), k)

        # An index built before the example questions were stored searches without them.
        example_search: ExampleSearch | None = None
        asked: list[tuple[str, str]] = []
        if examples is not None:
            example_search = _example_search(examples, vector)
            asked = list(zip(examples.texts, examples.atlas_ids, strict=True))
        retriever = Retriever(
            catalog, chunks, dense, self.settings.max_query_chars, weights=self.settings.weights(),
            reranker=self.reranker, rerank_depth=self.settings.rerank_depth, prefetch=prefetch,
            examples=example_search, example_questions=asked,
        )
        answerer = GroundedAnswerer(catalog, retriever, self.intents, self.settings.max_input_chars,
                                    whole_words(self.settings.model_path))
        with self._lock:
            self._generation, self._retriever, self.manifest = generation, retriever, manifest
            self._answerer = answerer
        logger.info("opened index %s (%d objects, %d chunks)", generation.name, len(catalog), len(chunks))

    def warm_up(self) -> None:
        """Load the models and run one search, so the first question is fast."""
        self.retriever.relevance("warm up the embedding model")
        self.intents.get()
        if self.reranker is not None:
            self.retriever.rank("warm up the cross-encoder")

    def refresh(self) -> bool:
        """Switch to a newer published index if a build published one; True if it switched."""
        name = self.store.current_name()
        if name is None or self._generation is None or name == self._generation.name:
            return False
        self._load()
        return True

    # ------------------------------------------------------------------ queries

    @property
    def retriever(self) -> Retriever:
        assert self._retriever is not None
        return self._retriever

    @property
    def answerer(self) -> GroundedAnswerer:
        assert self._answerer is not None
        return self._answerer

    @property
    def catalog(self) -> Catalog:
        return self.retriever.catalog

    @property
    def version(self) -> str:
        """The ATLAS release this index was built from."""
        return self.catalog.version

    def search(
        self,
        query: str,
        k: int = 5,
        types: Iterable[str] | None = None,
        tactics: Iterable[str] | None = None,
    ) -> list[Hit]:
        """The ``k`` best ATLAS objects for ``query``; exact IDs and names come first."""
        return self.retriever.search(query, k=k, types=types, tactics=tactics)

    def get(self, atlas_id: str) -> Record:
        """The record of ``atlas_id`` (any letter case); UnknownIdError (a KeyError) if absent."""
        return self.catalog.get(atlas_id)

    def map_text(self, text: str, k: int = 10) -> list[Hit]:
        """Techniques shown in an incident write-up, each with the sentence that shows it."""
        return map_text(self.retriever, text, k=k, max_chars=self.settings.max_input_chars)

    def layer(
        self,
        case_study: str | None = None,
        *,
        ids: Iterable[str] | None = None,
        text: str | None = None,
        frequency: bool = False,
        name: str | None = None,
    ) -> dict[str, Any]:
        """An ATLAS Navigator layer (JSON as a dict) of one source: a case study's procedure,
        a list of technique ``ids``, the techniques a ``text`` shows (scored by confidence),
        or the ``frequency`` of techniques across case studies."""
        given = [case_study is not None, ids is not None, text is not None, frequency]
        if sum(given) != 1:
            raise InvalidArgumentError(
                "give exactly one source for a layer",
                "a case-study ID, ids=[...], text='...' or frequency=True",
            )
        if case_study is not None:
            return navigator.case_study_layer(self.catalog, case_study)
        if ids is not None:
            return navigator.ids_layer(self.catalog, ids, name=name or "atlas-rag")
        if text is not None:
            hits = self.map_text(text, k=navigator.MAX_MAPPED)
            return navigator.mapping_layer(self.catalog, hits, name=name or "atlas-rag map")
        return navigator.frequency_layer(self.catalog)

    def read_layer(self, data: str | bytes | dict[str, Any]) -> navigator.ReadLayer:
        """A Navigator layer read back against this release; LayerError says what is wrong."""
        return navigator.read_layer(self.catalog, data)

    def ask(self, question: str, history: Any = None) -> Answer:
        """Answer a question, citing ATLAS IDs; ``history`` holds the earlier turns."""
        return final_answer(self.stream(question, history))

    def stream(self, question: str, history: Any = None) -> Iterator[str | Answer]:
        """Answer text in pieces as it is produced; the last event is the full Answer."""
        self.refresh()
        grounded = self.answerer
        if self.settings.llm == "none":
            answer = grounded.answer(question, history)
            yield from stream_text(answer)
            yield answer
            return
        from .llm import LLMAnswerer

        yield from LLMAnswerer(self.settings, grounded).stream(question, history)
