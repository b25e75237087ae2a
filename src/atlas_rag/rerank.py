"""Optional re-ranking of the best results by a local cross-encoder (off by default).

No cross-encoder ships with atlas-rag; a user who has one on disk (a sentence-transformers
``CrossEncoder`` folder) sets ``ATLAS_RAG_RERANKER_PATH`` and the first ``rerank_depth``
results of every search are put in the order the cross-encoder gives them. Like the
embedding model, it is loaded by local path with hub access off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .embeddings import LocalModel
from .errors import SettingsError


class Reranker(Protocol):
    """Scores how well each text answers the query; higher is better."""

    def score(self, query: str, texts: list[str]) -> list[float]: ...


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder loaded by local path on first use (thread-safe)."""

    def __init__(self, model_path: Path) -> None:
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise SettingsError(
                f"no cross-encoder model at {path}",
                "set ATLAS_RAG_RERANKER_PATH to a local sentence-transformers CrossEncoder "
                "folder, or leave it empty to search without re-ranking",
            )
        self.path = path
        self._model = LocalModel(path, "CrossEncoder", "cross-encoder")

    def score(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        scores = self._model.get().predict([(query, text) for text in texts], show_progress_bar=False)
        return [float(s) for s in scores]
