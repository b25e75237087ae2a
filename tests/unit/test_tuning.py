"""Fine-tuning data from the release's labelled text, and the cache of tuned models."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_rag import IndexIncompatibleError
from atlas_rag.catalog import Catalog
from atlas_rag.evaluation.sets import without_case_studies
from atlas_rag.ids import normalize_id
from atlas_rag.settings import Settings
from atlas_rag.tuning import (
    TuningConfig,
    document,
    embedder_for,
    example_questions,
    model_key,
    questions_digest,
    stale_query_model,
    training_pairs,
)
from helpers import FakeEmbedder

pytestmark = pytest.mark.unit


def test_pairs_tie_each_labelled_text_to_its_object(catalog: Catalog) -> None:
    pairs = training_pairs(catalog)
    cloning = "Weathervane Model Cloning."
    step = next(s.description for s in catalog.records["AML.CS0901"].procedure
                if s.technique == "AML.T0903")
    assert any(a == step[:500].strip() and p.startswith(cloning) for a, p in pairs)
    use = catalog.records["AML.M0901"].uses["AML.T0903"]
    assert any(a == use.strip() and p.startswith(cloning) for a, p in pairs)
    # a sub-technique's name also points at its parent
    assert any(a == "Lighthouse Beacon Probing: Foghorn Echo Mapping"
               and p.startswith("Lighthouse Beacon Probing.") for a, p in pairs)


def test_a_held_out_case_study_teaches_nothing(catalog: Catalog) -> None:
    held_out = without_case_studies(catalog, {"AML.CS0901"})
    texts = " ".join(a + p for a, p in training_pairs(held_out))
    for step in catalog.records["AML.CS0901"].procedure:
        assert step.description[:80] not in texts
    assert "Operation Copper Kestrel" not in texts


def test_questions_in_users_words_point_at_their_object(catalog: Catalog) -> None:
    questions = [("how do they map the harbour lights before striking", "AML.T0903"),
                 ("that kestrel copper thing, did it really happen", "AML.CS0901")]
    pairs = training_pairs(catalog, questions)
    assert pairs[: len(training_pairs(catalog))] == training_pairs(catalog)
    assert (questions[0][0], document(catalog.records["AML.T0903"], catalog)) in pairs
    held_out = training_pairs(without_case_studies(catalog, {"AML.CS0901"}), questions)
    assert any(a == questions[0][0] for a, _ in held_out)
    assert not any(a == questions[1][0] for a, _ in held_out)


def test_the_packaged_questions_are_well_formed() -> None:
    questions = example_questions()
    assert len(questions) > 500
    for text, atlas_id in questions:
        assert text.strip() and "AML." not in text.upper()
        assert normalize_id(atlas_id) == atlas_id


def test_the_model_key_changes_with_data_seed_and_model(catalog: Catalog) -> None:
    pairs = training_pairs(catalog)
    base = FakeEmbedder()
    key = model_key(base, pairs, TuningConfig())
    assert key == model_key(base, list(pairs), TuningConfig())
    assert key != model_key(base, pairs[:-1], TuningConfig())
    assert key != model_key(base, pairs, TuningConfig(seed=14))
    assert key != model_key(FakeEmbedder(name="other"), pairs, TuningConfig())


def test_an_index_of_a_tuned_model_missing_here_says_to_rebuild(tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, cache_dir=tmp_path)
    with pytest.raises(IndexIncompatibleError, match="not in"):
        embedder_for(settings, "all-MiniLM-L6-v2-atlas-0123456789abcdef")
    assert embedder_for(settings, "all-MiniLM-L6-v2").name == "all-MiniLM-L6-v2"


def test_an_index_tuned_on_other_example_questions_is_out_of_date(tmp_path: Path) -> None:
    """`make chat` builds again when a new version's example questions would tune another
    query model; an index built with tuning off, or on these questions, is kept."""
    settings = Settings.from_env(env={}, cache_dir=tmp_path)
    assert settings.fine_tune and settings.tune_questions
    assert "example questions" in stale_query_model(settings, {"questions": "0123456789abcdef"})
    assert stale_query_model(settings, {}) != ""  # built before the questions were recorded
    assert stale_query_model(settings, {"questions": questions_digest()}) == ""
    untuned = settings.replace(fine_tune=False)
    assert stale_query_model(untuned, {}) == ""


def test_an_out_of_date_index_that_cannot_be_built_again_stays_in_use(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Offline with no local release, `make chat` keeps serving the published index."""
    from atlas_rag.errors import ReleaseError
    from atlas_rag.scripts import ensure_index

    class Published:
        version, manifest = "5.6.0", {"questions": "0123456789abcdef"}
        store = type("Store", (), {"location": "index"})()

    def offline(**kwargs: object) -> None:
        raise ReleaseError("cannot download the release", "set ATLAS_RAG_SOURCE to a local file")

    monkeypatch.setattr(ensure_index.AtlasRAG, "open", lambda settings: Published())
    monkeypatch.setattr(ensure_index, "build_index", offline)
    assert ensure_index.main() == 0
    out, err = capsys.readouterr()
    assert "out of date" in out and "stays in use" in err
