"""How well the question reader's classifier generalises, on examples it was not trained on.

Two measures: a fixed fifth of the examples (chosen by a hash of their text) held out as the
test part, and each writer's examples tested against a model trained on the others' only. The
model that ships is trained on every example.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..conversation.intents import (
    Example,
    IntentModel,
    cached_vectors,
    packaged_example_files,
    read_examples,
)
from ..embeddings import Embedder

TEST_SHARE = 5  # one example in five is in the test part


def split_of(example: Example) -> str:
    digest = hashlib.sha1(example.text.lower().encode("utf-8")).digest()
    return "test" if digest[0] % TEST_SHARE == 0 else "dev"


def accuracy(model: IntentModel, examples: Sequence[Example], vectors: np.ndarray) -> dict[str, Any]:
    predictions = model.predict_many([e.text for e in examples], vectors)
    intent_hits = [p.intent == e.intent for p, e in zip(predictions, examples, strict=True)]
    target_hits = [p.target == e.target for p, e in zip(predictions, examples, strict=True)]
    per_intent: dict[str, list[bool]] = {}
    for hit, example in zip(intent_hits, examples, strict=True):
        per_intent.setdefault(example.intent, []).append(hit)
    return {
        "n": len(examples),
        "intent_accuracy": float(np.mean(intent_hits)) if examples else 0.0,
        "target_accuracy": float(np.mean(target_hits)) if examples else 0.0,
        "intent_recall": {k: float(np.mean(v)) for k, v in sorted(per_intent.items())},
    }


def evaluate_intents(
    embedder: Embedder, cache_dir: Path | None, files: Sequence[Path] | None = None,
    writers: bool = True,
) -> dict[str, Any]:
    """Accuracy on the held-out test part, and (``writers``) of each example writer against
    a model trained on the others' examples."""
    files = list(files or packaged_example_files())
    examples = read_examples(files)
    vectors = cached_vectors(embedder, examples, cache_dir)
    index = {id(e): n for n, e in enumerate(examples)}

    def part(selected: list[Example]) -> tuple[list[Example], np.ndarray]:
        return selected, vectors[[index[id(e)] for e in selected]]

    dev, dev_vectors = part([e for e in examples if split_of(e) == "dev"])
    test, test_vectors = part([e for e in examples if split_of(e) == "test"])
    model = IntentModel.train(embedder, dev, dev_vectors)
    result: dict[str, Any] = {"test": accuracy(model, test, test_vectors), "writers": {}}
    sources = sorted({e.source for e in examples})
    for held_out in sources if writers and len(sources) > 1 else []:
        train, train_vectors = part([e for e in examples if e.source != held_out])
        other, other_vectors = part([e for e in examples if e.source == held_out])
        writer_model = IntentModel.train(embedder, train, train_vectors)
        result["writers"][held_out] = accuracy(writer_model, other, other_vectors)
    result["examples"] = len(examples)
    return result


def render(result: dict[str, Any]) -> list[str]:
    if not result:
        return []
    test = result["test"]
    lines = ["", "## Question reader (intent and target classifier)", "",
             f"{result['examples']} labelled examples by {len(result['writers'])} writers. Test: a "
             "fifth held out by hash; writer: trained on the other writers' examples, tested on "
             "this writer's.", "",
             "| held out | n | intent accuracy | target accuracy |", "|---|---|---|---|",
             f"| test part | {test['n']} | {test['intent_accuracy']:.3f} | "
             f"{test['target_accuracy']:.3f} |"]
    for writer, entry in result["writers"].items():
        lines.append(f"| writer {writer} | {entry['n']} | {entry['intent_accuracy']:.3f} | "
                     f"{entry['target_accuracy']:.3f} |")
    lines += ["", "Intent recall on the test part: " + ", ".join(
        f"{k} {v:.2f}" for k, v in test["intent_recall"].items()) + "."]
    return lines
