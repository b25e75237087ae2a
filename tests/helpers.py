"""Test helpers: the fictional mini release, a deterministic fake embedder, settings and builds."""

from __future__ import annotations

import re
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atlas_rag import AtlasRAG, BuildReport, Settings, build_index

TESTS_DIR = Path(__file__).resolve().parent
FIXTURE_RELEASE = TESTS_DIR / "fixtures" / "mini-atlas.yaml"

# What the fixture release holds, written out by hand (not computed by the code under test).
FIXTURE_TACTICS = ("AML.TA0901", "AML.TA0902", "AML.TA0903")
FIXTURE_TECHNIQUES = ("AML.T0901", "AML.T0902", "AML.T0903", "AML.T0904")
FIXTURE_SUBTECHNIQUES = ("AML.T0901.001", "AML.T0901.002", "AML.T0902.001")
FIXTURE_MITIGATIONS = ("AML.M0901", "AML.M0902", "AML.M0903")
FIXTURE_CASE_STUDIES = ("AML.CS0901", "AML.CS0902")
FIXTURE_IDS = (
    FIXTURE_TACTICS
    + FIXTURE_TECHNIQUES
    + FIXTURE_SUBTECHNIQUES
    + FIXTURE_MITIGATIONS
    + FIXTURE_CASE_STUDIES
)
FIXTURE_NAMES = {
    "AML.TA0901": "Orchard Surveying",
    "AML.TA0902": "Seedbank Tampering",
    "AML.TA0903": "Harvest Siphoning",
    "AML.T0901": "Lighthouse Beacon Probing",
    "AML.T0901.001": "Foghorn Echo Mapping",
    "AML.T0901.002": "Tidal Chart Scraping",
    "AML.T0902": "Seedbank Poisoning",
    "AML.T0902.001": "Grafted Label Swapping",
    "AML.T0903": "Weathervane Model Cloning",
    "AML.T0904": "Silo Ledger Leakage",
    "AML.M0901": "Beacon Throttling",
    "AML.M0902": "Seedbank Provenance Sealing",
    "AML.M0903": "Ledger Vault Encryption",
    "AML.CS0901": "Operation Copper Kestrel",
    "AML.CS0902": "Glasshouse Cartographer Incident",
}

_WORD_RE = re.compile(r"[a-z0-9]+")


class FakeEmbedder:
    """A deterministic stand-in for the sentence-transformers model.

    A text's vector is its normalised bag of lower-case words, each word hashed (crc32, stable
    across processes) to one signed coordinate. Texts sharing words are similar; texts with
    different words are not. ``calls`` and ``embedded`` count what it was asked to embed.
    """

    def __init__(self, name: str = "fake-embedder", dimension: int = 64) -> None:
        self.name = name
        self.dimension = dimension
        self.calls = 0
        self.embedded = 0

    def vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dimension, dtype=np.float32)
        for word in _WORD_RE.findall(text.lower()):
            h = zlib.crc32(word.encode("utf-8"))
            vec[h % self.dimension] += 1.0 if (h >> 16) & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:  # no words (or words that cancel out): a fixed unit vector
            vec[:] = 0.0
            vec[0] = 1.0
            return vec
        return vec / norm

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self.vector(t) for t in texts]).astype(np.float32)


def make_settings(root: Path, **overrides: object) -> Settings:
    """Settings for an index under ``root``, never reading the real environment."""
    values: dict[str, object] = {
        "index_dir": root / "index",
        "corpus_dir": root / "corpus",
        "cache_dir": root / "cache",
        "offline": True,
    }
    values.update(overrides)
    return Settings.from_env(env={}, **values)


class IndexPaths:
    """The corpus and index folders of something built with ``settings``."""

    settings: Settings

    @property
    def corpus_dir(self) -> Path:
        return Path(self.settings.corpus_dir)

    @property
    def index_dir(self) -> Path:
        return Path(self.settings.index_dir)


@dataclass
class BuiltIndex(IndexPaths):
    root: Path
    settings: Settings
    report: BuildReport
    embedder: FakeEmbedder


def build_fixture(
    root: Path, embedder: FakeEmbedder | None = None, **overrides: object
) -> BuiltIndex:
    settings = make_settings(root, **overrides)
    embedder = embedder or FakeEmbedder()
    report = build_index(
        FIXTURE_RELEASE,
        settings.corpus_dir,
        settings.index_dir,
        settings=settings,
        embedder=embedder,
    )
    return BuiltIndex(root, settings, report, embedder)


REPO = TESTS_DIR.parent


def shared_cache() -> Path:
    """The user's cache folder, shared by tests that use the real model. What it holds is keyed
    by content (the intent examples' vectors by model and text, tuned models by release text,
    model and seed), so sharing it is safe; it spares each such test embedding the 8,628
    intent examples again, and training a model the eval trained before."""
    return Path(Settings.from_env(env={}).cache_dir)


def release_path() -> Path:
    """The full ATLAS release for integration tests (ATLAS_RAG_TEST_RELEASE, or ../shared)."""
    import os

    import pytest

    configured = os.environ.get("ATLAS_RAG_TEST_RELEASE")
    default = REPO.parent / "shared" / "atlas" / "5.6.0" / "ATLAS.yaml"
    path = Path(configured) if configured else default
    if not path.is_file():
        pytest.fail(
            f"the ATLAS release for integration tests is missing: {path} "
            "(set ATLAS_RAG_TEST_RELEASE=/path/to/ATLAS.yaml)"
        )
    return path


@dataclass
class Full(IndexPaths):
    """The full release built with the real model, shared by the integration tests."""

    source: Path
    raw: dict[str, Any]
    settings: Settings
    embedder: Any
    report: BuildReport
    rag: AtlasRAG
    pages: dict[str, Any]

    def current(self) -> str:
        return (self.index_dir / "CURRENT").read_text().strip()


def stop_process(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate a server started by a test, and kill it if it does not stop in time."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
