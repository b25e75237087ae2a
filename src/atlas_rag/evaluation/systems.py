"""The systems an eval compares: atlas-rag and three simple baselines on the same index."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from ..api import AtlasRAG
from ..corpus import Page
from ..embeddings import Embedder, as_llama_index_embedding
from .sets import Question

DEPTH = 10


class System(Protocol):
    name: str

    def rank(self, question: Question) -> list[str]: ...


class CachedEmbedder:
    """Remembers vectors by text, so fold rebuilds only embed text they have not seen."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.cache: dict[str, np.ndarray] = {}
        self.computed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # count_tokens, max_tokens: the model's own

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.embed(missing, progress=progress), strict=True))
            self.computed += len(missing)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self.cache[t] for t in texts])


def _pages_in_order(rag: AtlasRAG, chunk_scores: Iterable[tuple[int, float]], question: Question) -> list[str]:
    best: dict[str, float] = {}
    for position, score in chunk_scores:
        page = rag.retriever.chunks[position].page_id
        best[page] = max(score, best.get(page, float("-inf")))
    ranked = sorted(best, key=lambda p: -best[p])
    return _filter(rag, ranked, question)[:DEPTH]


def _filter(rag: AtlasRAG, ids: list[str], question: Question) -> list[str]:
    if not question.types:
        return ids
    records = rag.catalog.records
    return [i for i in ids if i in records and records[i].type in question.types]


class AtlasSystem:
    name = "atlas-rag"

    def __init__(self, rag: AtlasRAG) -> None:
        self.rag = rag

    def rank(self, question: Question) -> list[str]:
        return [h.id for h in self.rag.search(question.query, k=DEPTH, types=question.types)]


class BM25Baseline:
    """BM25 alone over the same chunks, best chunk per object; no ID or name matching."""

    name = "bm25"

    def __init__(self, rag: AtlasRAG) -> None:
        self.rag = rag

    def rank(self, question: Question) -> list[str]:
        return _pages_in_order(self.rag, self.rag.retriever.bm25.top(question.query, 300), question)


class DenseBaseline:
    """Dense search alone over the same chunks, best chunk per object."""

    name = "dense"

    def __init__(self, rag: AtlasRAG) -> None:
        self.rag = rag

    def rank(self, question: Question) -> list[str]:
        dense = self.rag.retriever.dense
        assert dense is not None
        return _pages_in_order(self.rag, dense(question.query, 300), question)


class LlamaIndexBaseline:
    """A plain llama-index pipeline: VectorStoreIndex over whole pages, default chunking."""

    name = "llama-index"

    def __init__(self, rag: AtlasRAG, pages: list[Page], embedder: Embedder) -> None:
        from llama_index.core import Document, VectorStoreIndex

        self.rag = rag
        documents = [
            Document(
                text=page.body,
                metadata={"page_id": page.id},
                excluded_embed_metadata_keys=["page_id"],
                excluded_llm_metadata_keys=["page_id"],
            )
            for page in pages
        ]
        index = VectorStoreIndex.from_documents(
            documents, embed_model=as_llama_index_embedding(embedder)
        )
        self.retriever: Any = index.as_retriever(similarity_top_k=60)

    def rank(self, question: Question) -> list[str]:
        ranked = list(
            dict.fromkeys(n.node.metadata["page_id"] for n in self.retriever.retrieve(question.query))
        )
        return _filter(self.rag, ranked, question)[:DEPTH]
