"""Scoring whole conversations: every turn asked with the conversation so far as history.

A turn passes when every check it carries holds:
- ``cite``: every one of these IDs is cited;
- ``lead``: at least one of these IDs appears in the first ``LEAD_CHARS`` characters;
- ``abstain``: the answer abstains exactly when this says so;
- ``no_citations``: the answer cites nothing (small talk);
- ``number``: every one of these numbers is written in the answer (a count asked for).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..api import AtlasRAG
from .metrics import bootstrap_ci, mean
from .sets import read_jsonl

LEAD_CHARS = 400
SPLITS = ("dev", "test")
CHECKS = {"cite", "lead", "abstain", "no_citations", "number"}


def check_turn(turn: dict[str, Any], text: str, citations: Sequence[str], abstained: bool) -> list[str]:
    """The checks of one turn that fail, as short reasons (empty: the turn passes)."""
    failed = []
    missing = [i for i in turn.get("cite") or [] if i not in citations]
    if missing:
        failed.append(f"not cited: {', '.join(missing)}")
    lead = turn.get("lead") or []
    if lead and not any(i in text[:LEAD_CHARS] for i in lead):
        failed.append(f"none of {', '.join(lead[:4])}{'…' if len(lead) > 4 else ''} in the lead")
    if "abstain" in turn and bool(turn["abstain"]) != abstained:
        failed.append("abstained" if abstained else "did not abstain")
    if turn.get("no_citations") and citations:
        failed.append(f"cited {', '.join(citations[:3])}")
    numbers = [n for n in turn.get("number") or [] if not _says_number(text, n)]
    if numbers:
        failed.append(f"no number {', '.join(map(str, numbers))}")
    return failed


def _says_number(text: str, number: int) -> bool:
    """``number`` is written in ``text`` as a number of its own (not a digit of an ID such as
    AML.T0017 or of a larger number)."""
    return re.search(rf"(?<![\w.]){number}(?![\w.]\d|\d)", text) is not None


def run_conversation(rag: AtlasRAG, conversation: dict[str, Any]) -> list[dict[str, Any]]:
    """Ask every turn with the earlier (question, answer) pairs as history."""
    history: list[tuple[str, str]] = []
    rows = []
    for n, turn in enumerate(conversation["turns"]):
        started = time.perf_counter()
        answer = rag.ask(turn["user"], history)
        seconds = time.perf_counter() - started
        history.append((turn["user"], answer.text))
        if not CHECKS & set(turn):
            continue  # a turn that only sets up the next one
        failed = check_turn(turn, answer.text, answer.citations, answer.abstained)
        rows.append({
            "id": f"{conversation['id']}#{n + 1}",
            "split": conversation.get("split", "dev"),
            "intent": turn.get("intent", ""),
            "read_as": answer.intent,
            "user": turn["user"][:300],
            "passed": not failed,
            "failed": failed,
            "seconds": seconds,
            "answer": answer.text[:LEAD_CHARS],
        })
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    values = [1.0 if r["passed"] else 0.0 for r in rows]
    low, high = bootstrap_ci(values)
    by_intent: dict[str, list[float]] = {}
    for row, value in zip(rows, values, strict=True):
        by_intent.setdefault(row["intent"] or "?", []).append(value)
    latencies = sorted(r["seconds"] for r in rows)
    return {
        "turns": len(rows),
        "pass_rate": {"mean": mean(values), "low": low, "high": high},
        "by_intent": {k: {"n": len(v), "pass_rate": mean(v)} for k, v in sorted(by_intent.items())},
        "latency_p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0.0,
    }


def evaluate_conversations(
    rag: AtlasRAG, path: Path, splits: Sequence[str] = SPLITS
) -> dict[str, Any]:
    """Per split: the share of turns passing, by intent; and the failed turns."""
    rows: list[dict[str, Any]] = []
    for conversation in read_jsonl(path):
        if conversation.get("split", "dev") in splits:
            rows += run_conversation(rag, conversation)
    summary = {split: summarise([r for r in rows if r["split"] == split])
               for split in splits if any(r["split"] == split for r in rows)}
    return {"summary": summary, "misses": [r for r in rows if not r["passed"]]}


def render(result: dict[str, Any]) -> list[str]:
    summary = result.get("summary", {})
    if not summary:
        return []
    intents = sorted({i for s in summary.values() for i in s["by_intent"]})
    splits = list(summary)
    lines = ["", "## Conversations (`evals/conversations.jsonl`, every turn with its history)", "",
             "| turns passing | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    cells = []
    for split in splits:
        rate = summary[split]["pass_rate"]
        cells.append(f"{rate['mean']:.3f} [{rate['low']:.3f}–{rate['high']:.3f}] "
                     f"of {summary[split]['turns']}")
    lines.append("| all | " + " | ".join(cells) + " |")
    for intent in intents:
        row = []
        for split in splits:
            entry = summary[split]["by_intent"].get(intent)
            row.append(f"{entry['pass_rate']:.2f} ({entry['n']})" if entry else "–")
        lines.append(f"| {intent} | " + " | ".join(row) + " |")
    return lines
