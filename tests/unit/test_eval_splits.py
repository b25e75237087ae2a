"""The eval's choice of parts: CI scores the test parts it gates, tuning reads the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atlas_rag.conversation.intents import Example
from atlas_rag.errors import AtlasRagError
from atlas_rag.evaluation.intents import evaluate_intents, split_of
from atlas_rag.evaluation.run import main
from helpers import FakeEmbedder, make_settings

pytestmark = pytest.mark.unit

# Fictional wording in two writers' files; enough lines that each split holds some.
PHRASES = {
    "explain": ("what is {} about", "explain the {} trick", "tell me about {}"),
    "defend": ("how do we stop {}", "protect our silo from {}", "any defences against {}"),
    "list": ("case studies of {}", "which incidents used {}", "real cases with {}"),
}
TARGET = {"explain": "technique", "defend": "mitigation", "list": "case_study"}
THINGS = ("orchard drift", "ledger leakage", "seedbank tampering", "beacon relays",
          "lantern spoofing", "quarry echo", "marble hooks", "harbour fog")


def _writer(path: Path, things: tuple[str, ...]) -> Path:
    rows = [{"text": form.format(thing), "intent": intent, "target": TARGET[intent]}
            for intent, forms in PHRASES.items() for form in forms for thing in things]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_the_intent_eval_scores_each_writer_only_when_asked(tmp_path: Path) -> None:
    files = [_writer(tmp_path / "writer-a.jsonl", THINGS[:4]),
             _writer(tmp_path / "writer-b.jsonl", THINGS[4:])]
    texts = [json.loads(line)["text"] for f in files for line in f.read_text().splitlines()]
    assert {split_of(Example(t, "explain", "technique")) for t in texts} == {"dev", "test"}

    gated = evaluate_intents(FakeEmbedder(), None, files, writers=False)
    full = evaluate_intents(FakeEmbedder(), None, files)

    assert gated["writers"] == {}
    assert set(full["writers"]) == {"writer-a", "writer-b"}
    assert gated["test"] == full["test"]


def test_an_unknown_split_is_refused_with_what_to_use(tmp_path: Path) -> None:
    with pytest.raises(AtlasRagError, match="unknown split") as error:
        main("id", tmp_path / "out", make_settings(tmp_path), splits=("train",))
    assert "use dev, test" in str(error.value)
    assert not (tmp_path / "out").exists()
