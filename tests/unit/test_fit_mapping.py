"""The mapping calibration refit: a logistic fit on dev rows, a threshold chosen on dev."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fit_mapping.py"


def _load():
    spec = importlib.util.spec_from_file_location("fit_mapping", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(split: str, rng: np.random.Generator, n: int = 12) -> dict:
    """Candidates whose 'window' and 'together' evidence is higher when they are right."""
    features, expected = [], []
    for i in range(n):
        right = i < 4
        base = 0.7 if right else 0.3
        f = {"window": base + rng.normal(0, 0.1), "support": rng.uniform(0, 1),
             "document": rng.uniform(0, 1), "together": base + rng.normal(0, 0.1)}
        features.append([f, right, f"T{i}"])
        if right:
            expected.append(f"T{i}")
    return {"split": split, "kind": "summary", "expected": expected, "features": features}


def test_fit_learns_the_informative_features_and_a_useful_threshold(tmp_path, capsys):
    fit_mapping = _load()
    rng = np.random.default_rng(0)
    rows = [_row("dev", rng) for _ in range(20)] + [_row("test", rng) for _ in range(10)]
    weights, bias = fit_mapping.fit([r for r in rows if r["split"] == "dev"])
    named = dict(zip(fit_mapping.FEATURES, weights, strict=True))
    assert named["window"] > abs(named["support"]) and named["together"] > abs(named["document"])
    assert fit_mapping.replay([r for r in rows if r["split"] == "test"], weights, bias, 0.5) > 0.9
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"mapping_rows": rows}))
    assert fit_mapping.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "WEIGHTS = {" in out and "MIN_CONFIDENCE = " in out and "summary" in out


def test_no_mapping_rows_says_what_to_run(tmp_path, capsys):
    fit_mapping = _load()
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"results": {}}))
    assert fit_mapping.main([str(path)]) == 2
    assert "atlas-rag eval --suite mapping" in capsys.readouterr().err
