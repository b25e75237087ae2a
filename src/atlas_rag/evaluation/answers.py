"""Scoring the assistant's answers: cited IDs against expected ones, and abstention."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..api import AtlasRAG
from ..catalog import Catalog
from ..relations import related
from .metrics import bootstrap_ci, mean
from .sets import read_jsonl

IN_SCOPE = ("object", "relationship", "open", "incident", "follow-up")
# Categories where any one expected ID is a right answer; elsewhere every ID is expected.
ANY_OF = ("open",)


def expected_ids(case: dict[str, Any], catalog: Catalog) -> tuple[set[str], set[str]]:
    """(expected IDs, also acceptable IDs) of one eval case."""
    relation = case.get("relation")
    if relation:
        kind, subject = relation["kind"], relation["id"]
        if kind == "atlas_to_attack":
            return set(related(catalog, kind, subject)), {subject}
        ids = set(related(catalog, kind, subject))
        return ids, {subject} if kind != "attack_to_atlas" else set()
    return set(case.get("expected_citations") or []), set()


def score_case(case: dict[str, Any], rag: AtlasRAG) -> dict[str, Any]:
    catalog = rag.catalog
    turns = case.get("turns") or [case["question"]]
    history: list[dict[str, str]] = []
    started = time.perf_counter()
    answer = None
    for turn in turns:
        answer = rag.ask(turn, history)
        history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer.text}]
    assert answer is not None
    seconds = time.perf_counter() - started
    expected, acceptable = expected_ids(case, catalog)
    relation = case.get("relation") or {}
    if relation.get("kind") == "atlas_to_attack":
        cited = {e for e in expected if e in answer.text}  # ATT&CK IDs are named, not cited
    else:
        cited = set(answer.citations)
    if case["category"] in ANY_OF:
        recall = 1.0 if expected & cited else 0.0
    else:
        recall = len(expected & cited) / len(expected) if expected else 1.0
    allowed = expected | acceptable
    precision = len(cited & allowed) / len(cited) if cited else (1.0 if not expected else 0.0)
    return {
        "id": case["id"],
        "category": case["category"],
        "recall": recall,
        "precision": precision,
        "abstained": answer.abstained,
        "intent": answer.intent,
        "seconds": seconds,
        "expected": sorted(expected),
        "cited": sorted(cited)[:20],
    }


def evaluate_answers(rag: AtlasRAG, path: Path) -> dict[str, Any]:
    """Per category: citation recall and precision, abstention rates, and misses."""
    rows = [score_case(case, rag) for case in read_jsonl(path)]
    by_category: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_category.setdefault(row["category"], []).append(row)
    summary: dict[str, Any] = {}
    for category, items in by_category.items():
        entry: dict[str, Any] = {"n": len(items)}
        if category in IN_SCOPE:
            for metric in ("recall", "precision"):
                values = [r[metric] for r in items]
                low, high = bootstrap_ci(values)
                entry[metric] = {"mean": mean(values), "low": low, "high": high}
            entry["false_abstention"] = mean([1.0 if r["abstained"] else 0.0 for r in items])
        else:
            entry["abstention"] = mean([1.0 if r["abstained"] else 0.0 for r in items])
        summary[category] = entry
    in_scope = [r for r in rows if r["category"] in IN_SCOPE]
    out_scope = [r for r in rows if r["category"] not in IN_SCOPE]
    summary["in-scope"] = {"n": len(in_scope),
                           "false_abstention": mean([1.0 if r["abstained"] else 0.0 for r in in_scope])}
    summary["out-of-scope"] = {"n": len(out_scope),
                               "abstention": mean([1.0 if r["abstained"] else 0.0 for r in out_scope])}
    latencies = sorted(r["seconds"] for r in rows)
    summary["latency_p50_ms"] = 1000 * latencies[len(latencies) // 2] if latencies else 0.0
    misses = [r for r in rows if (r["category"] in IN_SCOPE and (r["recall"] < 1.0 or r["abstained"]))
              or (r["category"] not in IN_SCOPE and not r["abstained"])]
    return {"summary": summary, "misses": misses}
