"""The embedding model adapted to ATLAS: fine-tuned on the release's own labelled text.

ATLAS labels its text: each procedure step of a case study names the technique it shows,
each mitigation says how it applies to each technique, each sub-technique has a parent, each
object a name and a description. Those pairs teach the base model (all-MiniLM-L6-v2) that
"the researchers queried the endpoint and trained a copy" is close to Extract AI Model.

ATLAS's text is written in ATLAS's words; users write in theirs ("run up our bill" for cost
harvesting, "stickers on a stop sign" for a physical adversarial patch). Example questions in
users' words, each labelled with the object that answers it (``questions/*.jsonl``, written for
this project, not ATLAS text), teach that wording too: several per object, so the model learns
the vocabulary of the domain rather than any one sentence.

The tuned model is built once per release text, base model, seed and settings, and cached; an
index records which model embedded it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .embeddings import Embedder, SentenceTransformerEmbedder, default_model_path, train_contrastive
from .errors import IndexIncompatibleError
from .records import Record
from .settings import Settings
from .text import opening

logger = logging.getLogger(__name__)

MODELS_FOLDER = "models"
STEP_CHARS = 500
DOC_CHARS = 400
QUESTIONS_FOLDER = "questions"


@dataclass(frozen=True)
class TuningConfig:
    """How the model is fine-tuned; part of the cache key."""

    seed: int = 13
    epochs: int = 1
    batch_size: int = 32
    # Chosen on dev items only (dense search of the concept and mitigation dev halves, of the
    # dev conversations' first turns, and of one held-out question per object): 3e-5 with the
    # questions once moved concept dev hit@5 0.705 -> 0.750; 2e-4 with each question three
    # times, 0.909.
    learning_rate: float = 2e-4
    question_repeats: int = 3
    max_seq_length: int = 128
    frozen_layers: int = 2
    version: int = 2  # of the pairs and the training loop


def config_of(settings: Settings) -> TuningConfig:
    return TuningConfig(seed=settings.tune_seed, epochs=settings.tune_epochs)


def document(record: Record, catalog: Catalog) -> str:
    """What a pair's positive side says of an object: its name and opening sentences."""
    return f"{catalog.full_name(record)}. {opening(record.description, 2, DOC_CHARS)}"


def example_questions() -> list[tuple[str, str]]:
    """The packaged example questions in users' words, as (question, object ID) pairs."""
    folder = resources.files("atlas_rag") / QUESTIONS_FOLDER
    found: list[tuple[str, str]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            for line in entry.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    item = json.loads(line)
                    found.append((str(item["text"]), str(item["id"])))
    return found


def questions_digest() -> str:
    """A fingerprint of the packaged example questions: an index whose query model was tuned
    on other questions (an older version's) is searched with a stale model."""
    digest = hashlib.sha256()
    for text, atlas_id in example_questions():
        digest.update(f"{text}\t{atlas_id}\n".encode())
    return digest.hexdigest()[:16]


def stale_query_model(settings: Settings, manifest: dict[str, Any]) -> str:
    """Why an index's query model is not the one this version tunes, or "" when it is."""
    if not (settings.fine_tune and settings.tune_questions):
        return ""
    if manifest.get("questions", "") != questions_digest():
        return "its query model was tuned on other example questions than this version's"
    return ""


def training_pairs(
    catalog: Catalog, questions: Iterable[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """(text, the object it is about) pairs from the catalog's labelled text, in catalog order,
    then ``questions`` about objects the catalog has.

    A held-out evaluation passes a catalog without its held-out case studies (their pages and
    their steps on technique pages), so nothing about them is learned: questions about them
    are dropped with them.
    """
    pairs: list[tuple[str, str]] = []
    records = catalog.records
    for record in catalog:
        doc = document(record, catalog)
        pairs.append((catalog.full_name(record), doc))
        if record.type in ("technique", "subtechnique"):
            later = re.split(r"(?<=[.!?])\s+", opening(record.description, 5, 2000))[1:4]
            pairs += [(s, doc) for s in later if len(s) > 40]
            pairs += [(e.description[:STEP_CHARS], doc) for e in record.examples
                      if e.case_study in records]
            parent = catalog.parent_of(record)
            if parent is not None:
                pairs.append((catalog.full_name(record), document(parent, catalog)))
        elif record.type == "mitigation":
            for technique, use in record.uses.items():
                if use and technique in records:
                    pairs.append((use[:DOC_CHARS], document(records[technique], catalog)))
                    pairs.append((use[:DOC_CHARS], doc))
        elif record.type == "case-study":
            pairs.append((opening(record.description, 2, DOC_CHARS), doc))
    pairs += [(text, document(records[atlas_id], catalog)) for text, atlas_id in questions
              if atlas_id in records]
    return [(a.strip(), p) for a, p in pairs if a.strip()]


def model_key(base: Embedder, pairs: Iterable[tuple[str, str]], config: TuningConfig) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([base.name, base.dimension, asdict(config)]).encode())
    for anchor, positive in pairs:
        digest.update(f"{anchor}\t{positive}\n".encode())
    return digest.hexdigest()[:16]


def models_dir(settings: Settings) -> Path:
    return Path(settings.cache_dir) / MODELS_FOLDER


def base_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(settings.model_path, settings.embed_batch_size)


def tuned_embedder(
    settings: Settings, catalog: Catalog, progress: bool = False
) -> SentenceTransformerEmbedder:
    """The base model fine-tuned on ``catalog``'s labelled text: from the cache, or trained."""
    base = base_embedder(settings)
    config = config_of(settings)
    questions = example_questions() * config.question_repeats if settings.tune_questions else []
    pairs = training_pairs(catalog, questions)
    name = f"{base.name}-atlas-{model_key(base, pairs, config)}"
    target = models_dir(settings) / name
    if not (target / "modules.json").is_file():
        logger.info("fine-tuning %s on %d pairs of ATLAS %s", base.name, len(pairs), catalog.version)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".tuning-", dir=target.parent) as tmp:
            trained = Path(tmp) / name
            train_contrastive(
                Path(settings.model_path or default_model_path()), pairs, trained,
                seed=config.seed, epochs=config.epochs, batch_size=config.batch_size,
                learning_rate=config.learning_rate, max_seq_length=config.max_seq_length,
                frozen_layers=config.frozen_layers, progress=progress,
            )
            (trained / "atlas-tuning.json").write_text(json.dumps(
                {"base": base.name, "atlas_version": catalog.version, "pairs": len(pairs),
                 **asdict(config)}, indent=2))
            if not (target / "modules.json").is_file():  # another build may have finished first
                shutil.rmtree(target, ignore_errors=True)
                trained.replace(target)
    return SentenceTransformerEmbedder(target, settings.embed_batch_size)


def query_embedder(settings: Settings, catalog: Catalog, progress: bool = False) -> Embedder | None:
    """The model a build's index is searched with: tuned for the release, or None (the base
    model) when tuning is off."""
    return tuned_embedder(settings, catalog, progress) if settings.fine_tune else None


def embedder_for(settings: Settings, name: str) -> Embedder:
    """A model by name: the base model, or a tuned one from the cache."""
    base = base_embedder(settings)
    if not name or name == base.name:
        return base
    path = models_dir(settings) / name
    if not (path / "modules.json").is_file():
        raise IndexIncompatibleError(
            f"the index is searched with the fine-tuned model {name!r}, which is not in "
            f"{models_dir(settings)}",
            "rebuild it with `atlas-rag build` (the model is tuned again and cached)",
        )
    return SentenceTransformerEmbedder(path, settings.embed_batch_size)
