"""Shared fixtures: the fictional mini release, a fake embedder and a built index."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_rag import AtlasRAG
from atlas_rag.catalog import Catalog
from atlas_rag.release import load_release
from helpers import FIXTURE_RELEASE, BuiltIndex, FakeEmbedder, build_fixture


@pytest.fixture(scope="session")
def fixture_release() -> Path:
    assert FIXTURE_RELEASE.is_file(), FIXTURE_RELEASE
    return FIXTURE_RELEASE


@pytest.fixture(scope="session")
def catalog(fixture_release: Path) -> Catalog:
    """The fixture release as loaded from its YAML. Tests must not modify it."""
    return load_release(fixture_release)


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory, fixture_release: Path) -> BuiltIndex:
    """The fixture release built once with the fake embedder. Tests must not modify it."""
    return build_fixture(tmp_path_factory.mktemp("built"))


@pytest.fixture(scope="session")
def rag(built_index: BuiltIndex) -> AtlasRAG:
    return AtlasRAG.open(
        built_index.index_dir, settings=built_index.settings, embedder=FakeEmbedder()
    )


@pytest.fixture
def fresh_index(tmp_path: Path) -> BuiltIndex:
    """A build of the fixture that the test may rebuild, break or lock."""
    return build_fixture(tmp_path)
