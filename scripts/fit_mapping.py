"""Refit the incident mapping's calibration (``mapping.WEIGHTS``, ``BIAS``, ``MIN_CONFIDENCE``)
on the dev half of the mapping eval, and report what the fit would score on both halves.

Run the eval first (it records each mapped text's candidate techniques with their evidence
features and whether the text's expected set holds them), then fit on its output:

    atlas-rag eval --suite mapping --out reports
    python scripts/fit_mapping.py reports/eval.json

The weights are a logistic regression of "this candidate is right" on the evidence features,
over the dev rows only; the threshold is the one with the best mean per-text F1 on dev. Test
rows are only scored, never fitted. Paste the printed constants into ``mapping.py`` and rerun
the eval to confirm (the real ``map_text`` also drops parent/sub-technique echoes, which this
replay does not).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = ("window", "support", "document", "together")
L2 = 1e-3  # a light penalty: four features, thousands of candidates
THRESHOLDS = np.round(np.arange(0.10, 0.60, 0.005), 3)


def _matrix(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    x, y = [], []
    for row in rows:
        for features, right, _ in row["features"]:
            x.append([features[f] for f in FEATURES])
            y.append(1.0 if right else 0.0)
    return np.asarray(x), np.asarray(y)


def fit(rows: Sequence[dict[str, Any]], steps: int = 50) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression by Newton's method."""
    x, y = _matrix(rows)
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = L2 * np.eye(len(w))
    penalty[-1, -1] = 0.0  # the bias is not penalised
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-xb @ w))
        gradient = xb.T @ (p - y) + penalty @ w
        hessian = xb.T @ (xb * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def replay(rows: Sequence[dict[str, Any]], weights: np.ndarray, bias: float,
           threshold: float) -> float:
    """Mean per-text F1 of the candidates whose confidence reaches the threshold."""
    scores = []
    for row in rows:
        expected = set(row["expected"])
        kept = set()
        for features, _, atlas_id in row["features"]:
            z = bias + float(np.dot(weights, [features[f] for f in FEATURES]))
            if 1.0 / (1.0 + np.exp(-z)) >= threshold:
                kept.add(atlas_id)
        hits = len(kept & expected)
        p = hits / len(kept) if kept else 0.0
        r = hits / len(expected) if expected else 0.0
        scores.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_json", type=Path, help="eval.json written by `atlas-rag eval`")
    args = parser.parse_args(argv)
    rows = json.loads(args.eval_json.read_text()).get("mapping_rows") or []
    dev = [r for r in rows if r["split"] == "dev"]
    test = [r for r in rows if r["split"] == "test"]
    if not dev:
        print("no mapping rows in that file: run `atlas-rag eval --suite mapping` first",
              file=sys.stderr)
        return 2
    weights, bias = fit(dev)
    threshold = max(THRESHOLDS, key=lambda t: replay(dev, weights, bias, float(t)))
    print("WEIGHTS = {" + ", ".join(f'"{f}": {w:.2f}' for f, w in zip(FEATURES, weights,
                                                                      strict=True)) + "}")
    print(f"BIAS = {bias:.2f}")
    print(f"MIN_CONFIDENCE = {threshold:.3f}")
    kinds = sorted({r["kind"] for r in rows})
    print("\nreplayed mean F1 (dev / test):")
    for kind in kinds:
        d = [r for r in dev if r["kind"] == kind]
        t = [r for r in test if r["kind"] == kind]
        print(f"  {kind:9} {replay(d, weights, bias, float(threshold)):.3f} / "
              f"{replay(t, weights, bias, float(threshold)):.3f}  (n {len(d)} / {len(t)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
