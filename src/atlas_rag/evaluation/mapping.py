"""Incident mapping, scored on whole documents.

Case studies held out by fold (their pages and their steps removed from the index): their
summary and, separately, their steps joined into one text are mapped and compared with the
case study's technique set. Pasted write-ups of the conversation sets (turns whose intent is
incident) are mapped too, against the techniques their writers expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..api import AtlasRAG
from ..catalog import Catalog
from ..mapping import evidence, map_text
from ..records import Record
from .metrics import mean
from .sets import split_of

TOP = 5
DEEP = 10


def case_study_texts(record: Record) -> dict[str, str]:
    steps = " ".join(s.description.strip() for s in record.procedure)
    return {"summary": record.description, "steps": steps}


def score(expected: set[str], kept: Sequence[str], ranked: Sequence[str]) -> dict[str, float]:
    hits = expected & set(kept)
    precision = len(hits) / len(kept) if kept else 0.0
    recall = len(hits) / len(expected) if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision, "recall": recall, "f1": f1, "returned": float(len(kept)),
        "hit@5": 1.0 if expected & set(ranked[:TOP]) else 0.0,
        "recall@10": len(expected & set(ranked[:DEEP])) / len(expected) if expected else 0.0,
    }


def map_case_studies(rag: AtlasRAG, full: Catalog, held_out: Iterable[str]) -> list[dict[str, Any]]:
    """Rows of scores (and the evidence features with their labels) for each held-out study."""
    rows = []
    for cs in held_out:
        record = full.records[cs]
        expected = set(record.techniques)
        for kind, text in case_study_texts(record).items():
            if not text.strip():
                continue
            row = map_row(rag, text, expected)
            rows.append({"id": cs, "kind": kind, "split": split_of(cs), **row})
    return rows


def map_row(rag: AtlasRAG, text: str, expected: set[str]) -> dict[str, Any]:
    text = text[: rag.settings.max_input_chars]
    found = evidence(rag.retriever, text)
    ranked = sorted(found, key=lambda i: -found[i].confidence())
    kept = [h.id for h in map_text(rag.retriever, text, max_chars=rag.settings.max_input_chars)]
    baselines = {}
    for name, system in (("bm25", rag.retriever.page_bm25), ):
        order = [rag.retriever.page_ids[i] for i, _ in system.top(text, 40)]
        order = [i for i in order if rag.catalog.records[i].type in ("technique", "subtechnique")]
        baselines[name] = score(expected, order[:TOP], order)
    dense = [h.id for h in rag.search(text[: rag.retriever.max_query_chars], k=DEEP,
                                       types=("technique", "subtechnique"))]
    baselines["hybrid search"] = score(expected, dense[:TOP], dense)
    return {
        "expected": sorted(expected),
        "kept": kept,
        "atlas-rag": score(expected, kept, ranked),
        "baselines": baselines,
        "features": [(found[i].features(), i in expected, i) for i in ranked[:30]],
    }


def map_incidents(rag: AtlasRAG, conversations: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write-ups pasted in the conversation sets, against the techniques their writers expect."""
    rows = []
    for conversation in conversations:
        for turn in conversation["turns"]:
            if turn.get("intent") != "incident" or len(turn["user"]) < 300:
                continue
            expected = {i for i in (turn.get("cite") or []) + (turn.get("lead") or [])
                        if i in rag.catalog and rag.catalog.records[i].type in
                        ("technique", "subtechnique")}
            if expected:
                row = map_row(rag, turn["user"], expected)
                rows.append({"id": conversation["id"], "kind": "write-up",
                             "split": conversation.get("split", "dev"), **row})
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean scores by kind of text and split, for atlas-rag and the baselines."""
    out: dict[str, Any] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(f"{row['kind']}:{row['split']}", []).append(row)
    for key, group in sorted(groups.items()):
        entry: dict[str, Any] = {"n": len(group)}
        systems = ["atlas-rag", *group[0]["baselines"]]
        for system in systems:
            scored = [r[system] if system == "atlas-rag" else r["baselines"][system] for r in group]
            entry[system] = {m: mean([s[m] for s in scored]) for m in scored[0]}
        out[key] = entry
    return out


def render(result: dict[str, Any]) -> list[str]:
    if not result:
        return []
    lines = ["", "## Incident mapping (`map_text`, whole documents)", "",
             "Case studies held out by fold: their summary, and their steps joined, mapped against "
             "the case study's techniques; write-ups from the conversation sets against their "
             "expected techniques. atlas-rag returns what it finds evidence for (P/R/F1 of that "
             "set); baselines return their first 5.", "",
             "| text | n | system | precision | recall | F1 | returned | hit@5 | recall@10 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, entry in result.items():
        for system, m in entry.items():
            if system == "n":
                continue
            lines.append(f"| {key} | {entry['n']} | {system} | {m['precision']:.3f} | "
                         f"{m['recall']:.3f} | {m['f1']:.3f} | {m['returned']:.1f} | "
                         f"{m['hit@5']:.3f} | {m['recall@10']:.3f} |")
    return lines
