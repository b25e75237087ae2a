"""The full release, built once per test session with the real model and shared by modules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from atlas_rag import AtlasRAG, build_index
from atlas_rag.corpus import read_pages
from helpers import Full, make_settings, release_path, shared_cache


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> Full:
    source = release_path()
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    # The user's cache (see ``shared_cache``): the eval, run before, trained this model.
    settings = make_settings(tmp_path_factory.mktemp("full"), cache_dir=shared_cache())
    # As `atlas-rag build` does: pages embedded with the base model, questions with the base
    # model fine-tuned on the release (trained once per release and cached).
    report = build_index(source, settings.corpus_dir, settings.index_dir, settings=settings)
    rag = AtlasRAG.open(settings.index_dir, settings=settings)
    embedder = rag.embedder
    corpus = read_pages(Path(settings.corpus_dir))
    assert corpus.skipped == []
    return Full(source, raw, settings, embedder, report, rag, {p.id: p for p in corpus.pages})
