"""Fine-tuning the real model on a release's labelled text: deterministic, cached, used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from atlas_rag import AtlasRAG, build_index
from atlas_rag.catalog import Catalog
from atlas_rag.tuning import base_embedder, stale_query_model, tuned_embedder
from helpers import FIXTURE_RELEASE, make_settings

pytestmark = pytest.mark.integration

PROBE = ["someone queried the prediction endpoint and fitted a replica of the predictor"]


def test_tuning_is_deterministic_cached_and_changes_the_model(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tuned_embedder(make_settings(tmp_path / "a"), catalog)
    second = tuned_embedder(make_settings(tmp_path / "b"), catalog)
    assert first.name == second.name and first.name.startswith("all-MiniLM-L6-v2-atlas-")
    assert np.allclose(first.embed(PROBE), second.embed(PROBE), atol=1e-5)
    base = base_embedder(make_settings(tmp_path / "a"))
    assert not np.allclose(first.embed(PROBE), base.embed(PROBE), atol=1e-4)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached model should have been used")

    monkeypatch.setattr("atlas_rag.tuning.train_contrastive", no_training)
    again = tuned_embedder(make_settings(tmp_path / "a"), catalog)
    assert again.path == first.path


def test_a_build_is_searched_with_the_tuned_model_after_reopening(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    report = build_index(FIXTURE_RELEASE, settings=settings)
    rag = AtlasRAG.open(settings=settings)
    assert rag.manifest["model"] == rag.embedder.name == "all-MiniLM-L6-v2"  # pages
    assert rag.manifest["query_model"].startswith("all-MiniLM-L6-v2-atlas-")  # questions
    assert rag.query_embedder.name == rag.manifest["query_model"]
    assert stale_query_model(settings, rag.manifest) == ""  # `make chat` keeps it
    assert rag.search("fitted a replica of the predictor")[0].id == "AML.T0903"
    assert report.chunks > 0
    plain = make_settings(tmp_path / "plain", fine_tune=False)
    build_index(FIXTURE_RELEASE, settings=plain)
    assert AtlasRAG.open(settings=plain).manifest["query_model"] == "all-MiniLM-L6-v2"
