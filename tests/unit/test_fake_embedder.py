"""The fake embedder the unit tests rely on behaves like a real one where it matters."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import FakeEmbedder

pytestmark = pytest.mark.unit


def test_vectors_are_float32_unit_vectors_of_the_declared_dimension() -> None:
    vectors = FakeEmbedder().embed(["seedbank kernels", "", "!!!", "a b c d e f g"])
    assert vectors.shape == (4, 64)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert FakeEmbedder(dimension=32).embed(["x"]).shape == (1, 32)


def test_vectors_are_deterministic_and_case_insensitive() -> None:
    a, b = FakeEmbedder(), FakeEmbedder()
    assert np.array_equal(a.embed(["Seedbank Kernels"]), b.embed(["seedbank kernels"]))


def test_shared_words_mean_similar_vectors() -> None:
    texts = ["tainted seedbank kernels", "seedbank kernels", "weathervane replica"]
    v = FakeEmbedder().embed(texts)
    assert float(v[0] @ v[1]) > 0.7
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.3


def test_it_counts_what_it_embedded() -> None:
    embedder = FakeEmbedder()
    embedder.embed(["a", "b"])
    embedder.embed([])
    assert (embedder.calls, embedder.embedded) == (2, 2)
    assert embedder.embed([]).shape == (0, 64)
