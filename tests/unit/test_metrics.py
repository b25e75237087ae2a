"""Ranking metrics and bootstrap intervals, checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from atlas_rag.evaluation.conversations import check_turn
from atlas_rag.evaluation.metrics import (
    bootstrap_ci,
    hit_at,
    mean,
    ndcg_at,
    percentile,
    recall_at,
    reciprocal_rank,
    score_all,
)
from atlas_rag.evaluation.run import EvalReport, check_gates

pytestmark = pytest.mark.unit

RANKED = ["a", "b", "c", "d", "e", "f"]


def test_hit_at_k() -> None:
    assert hit_at(RANKED, {"c"}, 3) == 1.0
    assert hit_at(RANKED, {"c"}, 2) == 0.0
    assert hit_at(RANKED, {"x", "a"}, 1) == 1.0
    assert hit_at([], {"a"}, 5) == 0.0


def test_recall_at_k() -> None:
    assert recall_at(RANKED, {"a", "e", "z"}, 5) == pytest.approx(2 / 3)
    assert recall_at(RANKED, {"f"}, 5) == 0.0
    assert recall_at(RANKED, set(), 5) == 0.0


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(RANKED, {"d", "f"}) == 0.25
    assert reciprocal_rank(RANKED, {"z"}) == 0.0


def test_ndcg() -> None:
    assert ndcg_at(RANKED, {"a"}, 10) == 1.0
    # One relevant item at rank 2 of one expected: 1/log2(3).
    assert ndcg_at(RANKED, {"b"}, 10) == pytest.approx(1 / math.log2(3))
    # Two expected, found at ranks 1 and 3: (1 + 1/2) / (1 + 1/log2(3)).
    assert ndcg_at(RANKED, {"a", "c"}, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at(RANKED, {"z"}, 10) == 0.0


def test_score_all_names_every_metric() -> None:
    scores = score_all(RANKED, {"b"})
    assert scores == {"hit@1": 0.0, "hit@5": 1.0, "recall@10": 1.0, "mrr": 0.5,
                      "ndcg@10": pytest.approx(1 / math.log2(3))}


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_agreement() -> None:
    values = [1.0] * 70 + [0.0] * 30
    low, high = bootstrap_ci(values)
    assert low < mean(values) < high
    assert low > 0.55 and high < 0.85
    assert bootstrap_ci([1.0] * 50) == (1.0, 1.0)
    assert bootstrap_ci([]) == (0.0, 0.0)


def test_percentile() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) in (50.0, 51.0)
    assert percentile(values, 0.95) == 95.0
    assert percentile([3.0], 0.99) == 3.0


def _report(ours: float, theirs: float) -> EvalReport:
    cell = lambda v: {"mean": v, "low": v, "high": v}  # noqa: E731
    report = EvalReport(atlas_version="test")
    report.results = {"concept": {"atlas-rag": {"hit@5": cell(ours)}, "bm25": {"hit@5": cell(theirs)}}}
    return report


def test_gates_fail_below_a_threshold_or_behind_a_baseline() -> None:
    thresholds = {"gates": [{"category": "concept", "metric": "hit@5", "min": 0.8}],
                  "beat_baselines": True, "beat_baselines_tolerance": 0.03}
    good = _report(0.85, 0.80)
    check_gates(good, thresholds)
    assert good.passed
    low = _report(0.75, 0.70)
    check_gates(low, thresholds)
    assert not low.passed
    behind = _report(0.85, 0.90)
    check_gates(behind, thresholds)
    assert [g["gate"] for g in behind.gates if not g["passed"]] == ["concept hit@5: atlas-rag >= bm25"]
    tie = _report(0.85, 0.87)  # within the tolerance
    check_gates(tie, thresholds)
    assert tie.passed


def test_a_turn_checks_the_numbers_a_count_asks_for() -> None:
    turn = {"number": [17, 40]}
    assert check_turn(turn, "17 incidents and 40 exercises (57 in all).", [], False) == []
    # A number only inside an ID or a larger number is not the count.
    assert check_turn(turn, "AML.T0017 has 400 steps and 40 more.", [], False) == ["no number 17"]
    assert check_turn({"number": [5]}, "It has 5.", [], False) == []
