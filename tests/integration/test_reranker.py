"""A real sentence-transformers cross-encoder, loaded by local path, re-ranking search results.

No trained cross-encoder ships offline, so the test builds one from the embedding model's
folder (its classification head is untrained): the scores mean little, but the model is real
and everything around it (local loading, hub access off, re-ordering, errors) is exercised.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from atlas_rag import AtlasRAG
from atlas_rag.embeddings import default_model_path
from atlas_rag.errors import SettingsError
from helpers import BuiltIndex, FakeEmbedder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cross-encoder") / "model"
    shutil.copytree(default_model_path(), folder)
    return folder


def test_cross_encoder_reorders_the_best_results(
    built_index: BuiltIndex, cross_encoder_dir: Path
) -> None:
    plain = AtlasRAG.open(built_index.index_dir, settings=built_index.settings,
                          embedder=FakeEmbedder())
    settings = built_index.settings.replace(reranker_path=cross_encoder_dir, rerank_depth=5)
    rag = AtlasRAG.open(built_index.index_dir, settings=settings, embedder=FakeEmbedder())
    rag.warm_up()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    query = "how do adversaries copy a proprietary predictor?"
    before = plain.search(query, k=10)
    after = rag.search(query, k=10)
    assert {h.id for h in after[:5]} == {h.id for h in before[:5]}
    assert [h.id for h in after[5:]] == [h.id for h in before[5:]]
    assert all("rerank" in h.matched_by for h in after[:5])
    assert [h.score for h in after] == sorted((h.score for h in after), reverse=True)
    # Exact IDs are not re-ranked.
    assert rag.search("AML.T0903", k=3)[0].id == "AML.T0903"


def test_missing_cross_encoder_is_a_settings_error(built_index: BuiltIndex, tmp_path: Path) -> None:
    settings = built_index.settings.replace(reranker_path=tmp_path / "no-such-model")
    with pytest.raises(SettingsError) as caught:
        AtlasRAG.open(built_index.index_dir, settings=settings, embedder=FakeEmbedder())
    assert "no cross-encoder model at" in caught.value.message
    assert "ATLAS_RAG_RERANKER_PATH" in (caught.value.hint or "")
