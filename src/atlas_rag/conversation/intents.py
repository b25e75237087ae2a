"""What a chat message asks for, learned from labelled examples.

Two linear classifiers (linear support vector machines) share one set of features of a message: its
sentence embedding, its word uni- and bigrams, its character n-grams (so typos still look like
the words they miss) and a few shape features (length, sentences, question mark). One predicts
the *intent* (explain, defend, threat_model, ...), the other the *target*: the kind of ATLAS
object a good answer consists of (technique, mitigation, case_study, ...).

The examples in ``examples/*.jsonl`` are the only teacher: no word list or pattern decides an
intent. IDs are masked before anything is computed, down to the kind of object their form tells
("AML.T0051" and "T0054" look alike), so the classifier learns the question's form rather than
which object it names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..embeddings import Embedder
from ..ids import find_id_mentions, id_kind, normalize_id

logger = logging.getLogger(__name__)

INTENTS = (
    "explain", "compare", "attack", "defend", "threat_model", "list", "count", "incident",
    "greeting", "thanks", "help", "off_topic", "injection",
)
TARGETS = (
    "technique", "subtechnique", "parent", "tactic", "mitigation", "case_study", "attack_ref",
    "none",
)
# Feature group weights, the penalty and the hash size were chosen by training on one example
# writer's file and testing on the other's (`atlas-rag eval --suite intents` reports it):
# dropping the embedding costs 3 points of intent accuracy, words or characters about 0.5-1.
EMBEDDING_WEIGHT = 1.0
WORD_WEIGHT = 1.0
CHAR_WEIGHT = 1.0
SHAPE_WEIGHT = 1.0
REGULARISATION = 0.5  # C of the linear SVMs
HASH_FEATURES = 2**16
# Decision scores become probabilities through a softmax at this sharpness.
SHARPNESS = 4.0
FEATURE_VERSION = 2


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    target: str
    source: str = ""


@dataclass(frozen=True)
class Prediction:
    """The intent and target of one message, with the probability of each choice."""

    intent: str
    intent_p: float
    target: str
    target_p: float
    intents: dict[str, float]
    targets: dict[str, float]

    def runner_up(self) -> tuple[str, float]:
        ranked = sorted(self.intents.items(), key=lambda item: -item[1])
        return ranked[1] if len(ranked) > 1 else ranked[0]


def mask_ids(text: str) -> str:
    """The text with every ID-like mention replaced by a token for its kind ("M0015" and
    "AML.M0001" both become "atlasmitigation"): the kind is in the ID's form, the object not."""
    out, last = [], 0
    for mention in find_id_mentions(text):
        kind = id_kind(mention.atlas_id) if normalize_id(mention.atlas_id) else "id"
        out += [text[last : mention.start], f" atlas{kind.replace('-', '')} "]
        last = mention.end
    out.append(text[last:])
    return re.sub(r"\s+", " ", "".join(out)).strip()


def shape(text: str) -> list[float]:
    """Length and form of a message: an incident or a system description is long."""
    sentences = len(re.findall(r"[.!?](?:\s|$)", text)) + text.count("\n\n")
    words = len(text.split())
    return [
        math.log1p(len(text)) / math.log(4000),
        min(sentences, 12) / 12,
        min(words, 300) / 300,
        1.0 if text.rstrip().endswith("?") else 0.0,
        1.0 if words <= 3 else 0.0,
    ]


def read_examples(paths: Iterable[Path]) -> list[Example]:
    """Labelled examples from JSON Lines files; lines with unknown labels are refused."""
    examples: list[Example] = []
    seen: set[str] = set()
    for path in paths:
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            text, intent, target = str(row["text"]).strip(), row["intent"], row["target"]
            if intent not in INTENTS or target not in TARGETS:
                raise ValueError(f"{path}:{n}: unknown label {intent!r}/{target!r}")
            key = text.lower()
            if text and key not in seen:
                seen.add(key)
                examples.append(Example(text, intent, target, Path(path).stem))
    return examples


def packaged_example_files() -> list[Path]:
    folder = resources.files("atlas_rag").joinpath("conversation/examples")
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith(".jsonl"))


class Featurizer:
    """Turns messages into the shared sparse feature matrix."""

    def __init__(self, embedder: Embedder) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.embedder = embedder
        self.words = HashingVectorizer(
            analyzer="word", ngram_range=(1, 2), n_features=HASH_FEATURES,
            alternate_sign=False, norm="l2", token_pattern=r"(?u)\b\w+\b|[?!]",
        )
        self.chars = HashingVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), n_features=HASH_FEATURES,
            alternate_sign=False, norm="l2",
        )

    def matrix(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> Any:
        from scipy import sparse

        masked = [mask_ids(t) or t for t in texts]
        if vectors is None:
            vectors = self.embedder.embed(masked)
        lowered = [t.lower() for t in masked]
        return sparse.hstack([
            sparse.csr_matrix(np.asarray(vectors, dtype=np.float32) * EMBEDDING_WEIGHT),
            self.words.transform(lowered) * WORD_WEIGHT,
            self.chars.transform(lowered) * CHAR_WEIGHT,
            sparse.csr_matrix(np.array([shape(t) for t in texts], dtype=np.float32) * SHAPE_WEIGHT),
        ]).tocsr()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed([mask_ids(t) or t for t in texts])


class LinearHead:
    """One fitted linear classifier (one-vs-rest), kept as plain arrays."""

    def __init__(self, classes: Sequence[str], coef: np.ndarray, intercept: np.ndarray) -> None:
        self.classes = list(classes)
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)

    @classmethod
    def fit(cls, features: Any, labels: Sequence[str], c: float = REGULARISATION) -> LinearHead:
        from sklearn.svm import LinearSVC

        # Each class weighs as much as the others: how many examples a writer gave a class
        # says how much they wrote, not how often users ask it, and a large new file of one
        # class would otherwise pull every unsure message into it.
        model = LinearSVC(C=c, random_state=0, class_weight="balanced")
        model.fit(features, list(labels))
        return cls([str(x) for x in model.classes_], model.coef_, model.intercept_)

    def probabilities(self, features: Any) -> np.ndarray:
        scores = (np.asarray(features @ self.coef.T) + self.intercept) * SHARPNESS
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))


# The intent head's probability of its best intent above which the target head cannot make
# the reading small talk (the reader's level of a sure reading, SMALLTALK_SURE; at a bare
# majority, 0.5, greetings with a line about the user's team were made questions).
INTENT_SURE = 0.8
# Readings that answer no question (see _joint).
SMALL_TALK = ("greeting", "thanks", "help")


class IntentModel:
    """The trained intent and target classifiers for one embedding model."""

    def __init__(self, featurizer: Featurizer, intent: LinearHead, target: LinearHead,
                 pairs: frozenset[tuple[str, str]] | None = None) -> None:
        self.featurizer = featurizer
        self.intent_head = intent
        self.target_head = target
        # The (intent, target) pairs the examples hold: a reading is one of them ("defend" is
        # answered with mitigations, never with case studies). None allows every pair.
        self.pairs = pairs

    @classmethod
    def train(
        cls,
        embedder: Embedder,
        examples: Sequence[Example],
        vectors: np.ndarray | None = None,
        c: float = REGULARISATION,
    ) -> IntentModel:
        featurizer = Featurizer(embedder)
        texts = [e.text for e in examples]
        features = featurizer.matrix(texts, vectors)
        return cls(
            featurizer,
            LinearHead.fit(features, [e.intent for e in examples], c),
            LinearHead.fit(features, [e.target for e in examples], c),
            frozenset((e.intent, e.target) for e in examples),
        )

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[Prediction]:
        features = self.featurizer.matrix(texts, vectors)
        intents = self.intent_head.probabilities(features)
        targets = self.target_head.probabilities(features)
        out = []
        for row_i, row_t in zip(intents, targets, strict=True):
            i, t = self._joint(row_i, row_t)
            out.append(Prediction(
                self.intent_head.classes[i], float(row_i[i]),
                self.target_head.classes[t], float(row_t[t]),
                dict(zip(self.intent_head.classes, map(float, row_i), strict=True)),
                dict(zip(self.target_head.classes, map(float, row_t), strict=True)),
            ))
        return out


    def _joint(self, row_i: np.ndarray, row_t: np.ndarray) -> tuple[int, int]:
        """The likeliest reading of both heads together among the pairs the examples hold
        (each head's own best when no pairs are known, or when that pair is one of them).
        A question the intent head is sure of is not made small talk by the target head:
        "fine. top 3 things to do first" names no kind, and a target head sure of "none"
        must not turn a defence question into thanks (small talk answers nothing)."""
        i, t = int(row_i.argmax()), int(row_t.argmax())
        names_i, names_t = self.intent_head.classes, self.target_head.classes
        if self.pairs is None or (names_i[i], names_t[t]) in self.pairs:
            return i, t
        index_i = {name: n for n, name in enumerate(names_i)}
        index_t = {name: n for n, name in enumerate(names_t)}
        known = [pair for pair in self.pairs if pair[0] in index_i and pair[1] in index_t]
        best = max(known, key=lambda pair: row_i[index_i[pair[0]]] * row_t[index_t[pair[1]]],
                   default=None)
        if (best and best[0] in SMALL_TALK and names_i[i] not in SMALL_TALK
                and row_i[i] >= INTENT_SURE):
            best = max((pair for pair in known if pair[0] == names_i[i]),
                       key=lambda pair: row_t[index_t[pair[1]]], default=best)
        return (index_i[best[0]], index_t[best[1]]) if best else (i, t)


def examples_key(examples: Sequence[Example], embedder: Embedder) -> str:
    digest = hashlib.sha256()
    digest.update(f"{FEATURE_VERSION}|{embedder.name}|{embedder.dimension}|".encode())
    for e in examples:
        digest.update(f"{e.text}\t{e.intent}\t{e.target}\n".encode())
    return digest.hexdigest()[:20]


def cached_vectors(
    embedder: Embedder, examples: Sequence[Example], cache_dir: Path | None
) -> np.ndarray:
    """Embeddings of the examples, from the cache when this model embedded them before."""
    path = cache_dir / "intents" / f"{examples_key(examples, embedder)}.npy" if cache_dir else None
    if path is not None and path.is_file():
        try:
            vectors = np.load(path)
            if vectors.shape == (len(examples), embedder.dimension):
                return vectors
        except (OSError, ValueError):
            logger.warning("ignoring an unreadable intent cache at %s", path)
    vectors = Featurizer(embedder).embed([e.text for e in examples])
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, vectors)
            tmp.replace(path)
        except OSError as exc:  # a read-only cache only costs time
            logger.info("could not cache intent vectors at %s: %s", path, exc)
    return vectors


class LazyIntentModel:
    """Trains the intent model on first use, once, whichever thread asks first."""

    def __init__(
        self, embedder: Embedder, cache_dir: Path | None, example_files: Sequence[Path] | None = None
    ) -> None:
        self.embedder = embedder
        self.cache_dir = cache_dir
        self.example_files = list(example_files) if example_files else None
        self._model: IntentModel | None = None
        self._lock = threading.Lock()

    def get(self) -> IntentModel:
        with self._lock:
            if self._model is None:
                examples = read_examples(self.example_files or packaged_example_files())
                vectors = cached_vectors(self.embedder, examples, self.cache_dir)
                self._model = IntentModel.train(self.embedder, examples, vectors)
                logger.info("intent model trained on %d examples", len(examples))
            return self._model

    def predict(self, text: str) -> Prediction:
        return self.get().predict(text)
