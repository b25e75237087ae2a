"""Ranking metrics as small pure functions, and bootstrap confidence intervals."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence


def hit_at(ranked: Sequence[str], expected: set[str], k: int) -> float:
    """1.0 if any expected ID is among the first ``k`` results."""
    return 1.0 if any(r in expected for r in ranked[:k]) else 0.0


def recall_at(ranked: Sequence[str], expected: set[str], k: int) -> float:
    """Share of the expected IDs found among the first ``k`` results."""
    if not expected:
        return 0.0
    return len(expected & set(ranked[:k])) / len(expected)


def reciprocal_rank(ranked: Sequence[str], expected: set[str]) -> float:
    """1/rank of the first expected ID, 0.0 if none is ranked."""
    for n, r in enumerate(ranked, start=1):
        if r in expected:
            return 1.0 / n
    return 0.0


def ndcg_at(ranked: Sequence[str], expected: set[str], k: int = 10) -> float:
    """Normalised discounted cumulative gain with binary relevance."""
    dcg = sum(1.0 / math.log2(n + 1) for n, r in enumerate(ranked[:k], start=1) if r in expected)
    ideal = sum(1.0 / math.log2(n + 1) for n in range(1, min(len(expected), k) + 1))
    return dcg / ideal if ideal else 0.0


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bootstrap_ci(
    values: Sequence[float], reps: int = 1000, level: float = 0.95, seed: int = 7
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``."""
    if not values:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(reps))
    low = means[int((1 - level) / 2 * reps)]
    high = means[min(reps - 1, int((1 + level) / 2 * reps))]
    return (low, high)


METRICS: dict[str, Callable[[Sequence[str], set[str]], float]] = {
    "hit@1": lambda r, e: hit_at(r, e, 1),
    "hit@5": lambda r, e: hit_at(r, e, 5),
    "recall@10": lambda r, e: recall_at(r, e, 10),
    "mrr": reciprocal_rank,
    "ndcg@10": lambda r, e: ndcg_at(r, e, 10),
}


def score_all(ranked: Sequence[str], expected: set[str]) -> dict[str, float]:
    """Every metric of one ranked list."""
    return {name: fn(ranked, expected) for name, fn in METRICS.items()}
