"""The learned intent and target classifier: its examples, its features, its training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from atlas_rag.conversation.intents import (
    INTENTS,
    TARGETS,
    Example,
    IntentModel,
    LazyIntentModel,
    cached_vectors,
    mask_ids,
    packaged_example_files,
    read_examples,
)
from helpers import FakeEmbedder

pytestmark = pytest.mark.unit

TOY = [
    Example("what is the beacon thing", "explain", "technique"),
    Example("explain seedbank poisoning to me", "explain", "technique"),
    Example("describe ledger leakage please", "explain", "technique"),
    Example("how do I protect my orchard model", "defend", "mitigation"),
    Example("how can we prevent seedbank tampering", "defend", "mitigation"),
    Example("ways to stop ledger leakage in our silo", "defend", "mitigation"),
    Example("hello there", "greeting", "none"),
    Example("hi!", "greeting", "none"),
    Example("good morning", "greeting", "none"),
]


def test_the_packaged_examples_cover_every_intent_and_target_in_numbers() -> None:
    examples = read_examples(packaged_example_files())
    by_intent = {i: sum(e.intent == i for e in examples) for i in INTENTS}
    assert min(by_intent.values()) >= 140, by_intent
    assert {e.target for e in examples} == set(TARGETS)
    assert len({e.text.lower() for e in examples}) == len(examples)  # no repeats


def test_unknown_labels_are_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "hi", "intent": "chitchat", "target": "none"}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: unknown label"):
        read_examples([path])


def test_ids_are_masked_by_the_kind_their_form_tells() -> None:
    assert mask_ids("is M0015 better than AML.M0004?") == "is atlasmitigation better than atlasmitigation ?"
    assert mask_ids("T0043.1 vs cs0042") == "atlassubtechnique vs atlascasestudy"
    assert mask_ids("what is the T5 model") == "what is the T5 model"


def test_a_model_trained_on_examples_reads_new_sentences_of_each_kind() -> None:
    model = IntentModel.train(FakeEmbedder(), TOY)
    assert model.predict("what is the ledger thing").intent == "explain"
    assert model.predict("how do we protect the silo").intent == "defend"
    prediction = model.predict("hello!")
    assert prediction.intent == "greeting" and prediction.target == "none"
    assert abs(sum(prediction.intents.values()) - 1.0) < 1e-5


def test_training_is_deterministic() -> None:
    first = IntentModel.train(FakeEmbedder(), TOY).predict("how to stop tampering")
    second = IntentModel.train(FakeEmbedder(), TOY).predict("how to stop tampering")
    assert first == second


def test_example_vectors_are_cached_per_model(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    cached_vectors(embedder, TOY, tmp_path)
    calls = embedder.calls
    again = cached_vectors(embedder, TOY, tmp_path)
    assert embedder.calls == calls and again.shape == (len(TOY), embedder.dimension)
    other = FakeEmbedder(name="another-model")
    cached_vectors(other, TOY, tmp_path)
    assert other.calls == 1  # another model's vectors are not reused


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    vectors = cached_vectors(FakeEmbedder(), TOY, blocked)
    assert vectors.shape[0] == len(TOY)


def test_the_lazy_model_trains_once(tmp_path: Path) -> None:
    path = tmp_path / "toy.jsonl"
    path.write_text("\n".join(json.dumps(e.__dict__ | {"source": ""}) for e in TOY))
    lazy = LazyIntentModel(FakeEmbedder(), tmp_path, [path])
    assert lazy.get() is lazy.get()
    assert lazy.predict("good morning").intent == "greeting"


def test_a_reading_is_a_pair_the_examples_hold() -> None:
    """Each head alone may pick a pair no example has (defend / case study); the joint
    reading is the likeliest pair the examples hold."""
    model = IntentModel.train(FakeEmbedder(), TOY)
    assert model.pairs == {("explain", "technique"), ("defend", "mitigation"), ("greeting", "none")}
    row_i = np.array([0.0, 0.0, 0.0])
    row_t = np.array([0.0, 0.0, 0.0])
    intents, targets = model.intent_head.classes, model.target_head.classes
    row_i[intents.index("defend")], row_i[intents.index("explain")] = 0.55, 0.45
    row_t[targets.index("technique")], row_t[targets.index("mitigation")] = 0.7, 0.3
    i, t = model._joint(row_i, row_t)
    # defend/technique was never seen: explain/technique (0.45 * 0.7) beats defend/mitigation.
    assert (intents[i], targets[t]) == ("explain", "technique")
    model.pairs = None  # without known pairs, each head decides alone
    i, t = model._joint(row_i, row_t)
    assert (intents[i], targets[t]) == ("defend", "technique")


def test_a_sure_question_is_not_made_small_talk_by_the_target_head() -> None:
    """"fine. top 3 things to do first": the intent head is sure of a defence question, the
    target head sure of "none" (no kind is named), and greeting/none is a known pair. The
    joint reading would be a greeting; a sure question stays a question, with its target."""
    model = IntentModel.train(FakeEmbedder(), TOY)
    intents, targets = model.intent_head.classes, model.target_head.classes
    row_i, row_t = np.zeros(len(intents)), np.zeros(len(targets))
    row_t[targets.index("none")], row_t[targets.index("mitigation")] = 0.96, 0.04
    row_i[intents.index("defend")], row_i[intents.index("greeting")] = 0.85, 0.15
    i, t = model._joint(row_i, row_t)
    assert (intents[i], targets[t]) == ("defend", "mitigation")
    # An unsure intent head leaves the joint reading to decide: the greeting.
    row_i[intents.index("defend")], row_i[intents.index("greeting")] = 0.6, 0.4
    i, t = model._joint(row_i, row_t)
    assert (intents[i], targets[t]) == ("greeting", "none")


def test_a_class_with_few_examples_is_not_outweighed_by_one_with_many() -> None:
    """A message nearer the examples of a rare class is read as that class, however many
    examples the common class has (the examples' counts are the writers', not the users')."""
    from atlas_rag.conversation.intents import LinearHead

    rng = np.random.default_rng(0)
    features = np.vstack([rng.normal([1.0, 0.0, 0.0], 0.2, size=(60, 3)),
                          rng.normal([0.0, 1.0, 0.0], 0.2, size=(4, 3)),
                          rng.normal([0.0, 0.0, 1.0], 0.2, size=(20, 3))])
    head = LinearHead.fit(features, ["common"] * 60 + ["rare"] * 4 + ["other"] * 20)
    nearer_rare = head.probabilities(np.array([[0.4, 0.6, 0.0]]))[0]
    assert head.classes[int(nearer_rare.argmax())] == "rare"
