"""Run the retrieval evals: build indexes, score every system, write reports, check gates."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import tuning
from ..api import AtlasRAG, default_embedder
from ..catalog import Catalog
from ..corpus import catalog_from_pages, read_pages, write_corpus
from ..errors import AtlasRagError
from ..indexer import build
from ..release import load_catalog
from ..settings import Settings
from ..store import Store
from . import conversations as conversation_eval
from . import intents as intent_eval
from . import mapping as mapping_eval
from .conversations import SPLITS
from .metrics import bootstrap_ci, mean, score_all
from .sets import (
    FILE_SUITES,
    Question,
    case_study_folds,
    file_questions,
    id_questions,
    name_questions,
    procedure_questions,
    read_jsonl,
    without_case_studies,
)
from .systems import (
    AtlasSystem,
    BM25Baseline,
    CachedEmbedder,
    DenseBaseline,
    LlamaIndexBaseline,
    System,
)

logger = logging.getLogger(__name__)

SUITES = ("id", "name", "concept", "mitigation", "case-study", "procedure", "mapping",
          "intents", "conversations")
# Suites that need the full index built; procedure builds its own per fold.
INDEX_SUITES = ("id", "name", "concept", "mitigation", "case-study", "conversations", "mapping")
PRIMARY = {"id": "hit@1", "name": "hit@1"}  # every other category: hit@5
FOLDS = 2
# Sets written for this project, split into a dev half (tune on it) and a test half (report and
# gate only). id and name questions are generated from the catalog, one per object.
SPLIT_CATEGORIES = ("concept", "mitigation", "case-study", "procedure")


@dataclass
class EvalReport:
    atlas_version: str
    seconds: float = 0.0
    # category -> system -> metric -> {"mean", "low", "high"}
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    conversations: dict[str, Any] = field(default_factory=dict)
    intents: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, Any] = field(default_factory=dict)
    mapping_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g["passed"] for g in self.gates)


def primary(category: str) -> str:
    return PRIMARY.get(category, "hit@5")


def evaluate(
    settings: Settings,
    evals_dir: Path,
    suites: Sequence[str] = SUITES,
    baselines: bool = True,
    folds: int = FOLDS,
    work_dir: Path | None = None,
    splits: Sequence[str] = SPLITS,
) -> EvalReport:
    """Score atlas-rag (and baselines) on the chosen suites; indexes are built in ``work_dir``.
    ``splits`` limits the sets written for this project to their dev or test part: CI scores
    only the test parts, which it gates; the dev parts and the intent reader's per-writer
    figures are what tuning reads (`make eval`)."""
    started = time.perf_counter()
    catalog = load_catalog(settings)
    embedder = CachedEmbedder(default_embedder(settings))
    report = EvalReport(atlas_version=catalog.version, suites=list(suites))
    scores: dict[str, dict[str, list[dict[str, float]]]] = {}

    if "intents" in suites:
        report.intents = intent_eval.evaluate_intents(embedder, settings.cache_dir,
                                                      writers="dev" in splits)
    with tempfile.TemporaryDirectory(prefix="atlas-rag-eval-", dir=work_dir) as tmp:
        workspace = Path(tmp)
        plain = [s for s in suites if s in INDEX_SUITES and s not in ("conversations", "mapping")]
        mapped: list[dict[str, Any]] = []
        if any(s in INDEX_SUITES for s in suites):
            rag, pages = _build(catalog, workspace / "full", settings, embedder)
        if "conversations" in suites:
            report.conversations = conversation_eval.evaluate_conversations(
                rag, evals_dir / "conversations.jsonl", splits)
        if "mapping" in suites:
            mapped += mapping_eval.map_incidents(
                rag, (c for c in read_jsonl(evals_dir / "conversations.jsonl")
                      if c.get("split", "dev") in splits))
        if plain:
            systems = _systems(rag, pages, embedder, baselines)
            questions: list[Question] = []
            for suite in plain:
                if suite == "id":
                    questions += id_questions(catalog)
                elif suite == "name":
                    questions += name_questions(catalog)
                else:
                    questions += [q for q in file_questions(evals_dir, suite) if q.split in splits]
            _score(questions, systems, scores, report)
        if "procedure" in suites or "mapping" in suites:
            groups = case_study_folds(catalog, folds)
            steps = [q for q in procedure_questions(catalog, groups) if q.split in splits]
            for n, group in enumerate(groups):
                held_out = without_case_studies(catalog, set(group))
                rag, pages = _build(held_out, workspace / f"fold-{n}", settings, embedder)
                _check_held_out(rag, group)
                if "procedure" in suites:
                    systems = _systems(rag, pages, embedder, baselines)
                    _score([q for q in steps if q.fold == n], systems, scores, report)
                if "mapping" in suites:
                    mapped += [row for row in mapping_eval.map_case_studies(rag, catalog, group)
                               if row["split"] in splits]
                logger.info("fold %d/%d scored (%d case studies held out)", n + 1, folds, len(group))
        if mapped:
            report.mapping = mapping_eval.summarise(mapped)
            report.mapping_rows = mapped

    for category, by_system in scores.items():
        report.results[category] = {}
        for system, rows in by_system.items():
            report.results[category][system] = {}
            for metric in rows[0]:
                values = [row[metric] for row in rows]
                low, high = bootstrap_ci(values)
                report.results[category][system][metric] = {
                    "mean": mean(values), "low": low, "high": high,
                }
    report.seconds = time.perf_counter() - started
    logger.info("embedded %d distinct texts", embedder.computed)
    return report


_TUNED: dict[str, CachedEmbedder] = {}


def _build(
    catalog: Catalog, where: Path, settings: Settings, embedder: CachedEmbedder
) -> tuple[AtlasRAG, list[Any]]:
    """An index of ``catalog`` as `atlas-rag build` makes it: with the settings' fine-tuning,
    the query model is tuned on this catalog only (a fold's catalog lacks its held-out case
    studies, so the model never saw their steps)."""
    local = dataclasses.replace(
        settings, corpus_dir=where / "corpus", index_dir=where / "index", chroma_url=None,
        vault_dir=None,  # the eval measures the release alone
    )
    write_corpus(catalog, local.corpus_dir)
    query: CachedEmbedder | None = None
    if settings.fine_tune:
        tuned = tuning.tuned_embedder(local, catalog_from_pages(read_pages(local.corpus_dir).pages))
        query = _TUNED.setdefault(tuned.name, CachedEmbedder(tuned))
    build(local, embedder, render=False, progress=False, query_embedder=query)
    rag = AtlasRAG(local, embedder, Store(local), query_embedder=query)
    return rag, read_pages(local.corpus_dir).pages


def _check_held_out(rag: AtlasRAG, held_out: list[str]) -> None:
    """The fold's case studies, and their steps on technique pages, must be absent."""
    leaked = [cs for cs in held_out if cs in rag.catalog]
    for chunk in rag.retriever.chunks:
        leaked += [cs for cs in held_out if cs in chunk.links]
    if leaked:
        raise AtlasRagError(f"held-out case studies leaked into the fold index: {sorted(set(leaked))}")


def _systems(rag: AtlasRAG, pages: list[Any], embedder: CachedEmbedder, baselines: bool) -> list[System]:
    systems: list[System] = [AtlasSystem(rag)]
    if baselines:
        systems += [BM25Baseline(rag), DenseBaseline(rag), LlamaIndexBaseline(rag, pages, embedder)]
    return systems


def _score(
    questions: list[Question],
    systems: list[System],
    scores: dict[str, dict[str, list[dict[str, float]]]],
    report: EvalReport,
) -> None:
    for question in questions:
        parts = [question.category]
        if question.category in SPLIT_CATEGORIES:
            parts.append(f"{question.category}:{question.split}")
        for system in systems:
            ranked = system.rank(question)
            row = score_all(ranked, set(question.expected))
            for category in parts:
                scores.setdefault(category, {}).setdefault(system.name, []).append(row)
            if question.lenient:
                lenient = score_all(ranked, set(question.lenient))
                scores.setdefault(f"{question.category} (or parent)", {}).setdefault(
                    system.name, []
                ).append(lenient)
            if system.name == "atlas-rag":
                for category in parts:
                    report.counts[category] = report.counts.get(category, 0) + 1
                if row[primary(question.category)] < 1.0:
                    report.failures.setdefault(question.category, []).append(
                        {"id": question.id, "query": question.query[:200],
                         "expected": sorted(question.expected), "got": ranked[:5]}
                    )


def gate_suite(category: str) -> str:
    """The suite a gate's category belongs to ("conversations:test" -> conversations)."""
    base = category.split(":", 1)[0].split(" (", 1)[0]
    return base


def check_gates(report: EvalReport, thresholds: dict[str, Any]) -> None:
    """Fill ``report.gates`` from the thresholds file. A gate of a suite that ran but whose
    metric is missing fails: a metric that silently disappears must not pass."""
    for gate in thresholds.get("gates", []):
        category, metric = gate["category"], gate["metric"]
        if report.suites and gate_suite(category) not in report.suites:
            continue
        bound = f"<= {float(gate['max']):.3f}" if "max" in gate else f">= {float(gate.get('min', 0)):.3f}"
        value = metric_value(report, category, metric)
        if value is None:
            report.gates.append({"gate": f"{category} {metric} {bound}", "value": float("nan"),
                                 "passed": False, "missing": True})
            continue
        passed = (value <= float(gate["max"]) + 1e-9 if "max" in gate
                  else value >= float(gate.get("min", 0.0)) - 1e-9)
        report.gates.append({"gate": f"{category} {metric} {bound}", "value": value,
                             "passed": passed})
    # A baseline may equal atlas-rag (both at 1.000, say) but not beat it; the thresholds may
    # allow a margin.
    tolerance = float(thresholds.get("beat_baselines_tolerance", 0.0))
    if thresholds.get("beat_baselines"):
        for category, by_system in report.results.items():
            metric = primary(category.split(" (")[0])
            ours = by_system.get("atlas-rag", {}).get(metric, {}).get("mean")
            for system, values in by_system.items():
                if system == "atlas-rag" or ours is None:
                    continue
                theirs = values[metric]["mean"]
                report.gates.append({"gate": f"{category} {metric}: atlas-rag >= {system}",
                                     "value": ours - theirs,
                                     "passed": ours >= theirs - tolerance - 1e-9})


def metric_value(report: EvalReport, category: str, metric: str) -> float | None:
    """A gated figure: a retrieval category, a conversation split or the intent test part."""
    suite, _, part = category.partition(":")
    if suite == "conversations":
        value = report.conversations.get("summary", {}).get(part, {}).get(metric)
    elif suite == "mapping":
        value = report.mapping.get(part, {}).get("atlas-rag", {}).get(metric)
    elif suite == "intents":
        value = report.intents.get(part or "test", {}).get(metric)
    else:
        value = report.results.get(category, {}).get("atlas-rag", {}).get(metric)
    if isinstance(value, dict):
        value = value.get("mean")
    return float(value) if isinstance(value, int | float) else None


def render_markdown(report: EvalReport) -> str:
    systems = ["atlas-rag", "bm25", "dense", "llama-index"]
    present = [s for s in systems if any(s in r for r in report.results.values())]
    lines = [f"# Retrieval eval, ATLAS {report.atlas_version}", ""]
    if report.results:
        lines += _retrieval_tables(report, present)
    lines += conversation_eval.render(report.conversations)
    lines += intent_eval.render(report.intents)
    lines += mapping_eval.render(report.mapping)
    if report.gates:
        lines += ["", "## Gates", ""]
        lines += [f"- {'PASS' if g['passed'] else 'FAIL'}: {g['gate']} "
                  + ("(metric missing)" if g.get("missing") else f"({g['value']:.3f})")
                  for g in report.gates]
    lines += ["", f"Run time: {report.seconds:.0f} s.", ""]
    return "\n".join(lines)


def _retrieval_tables(report: EvalReport, present: list[str]) -> list[str]:
    lines = [
        "Mean with 95% bootstrap interval. Primary metric: hit@1 for `id` and `name`, hit@5 "
        "otherwise. `procedure` is held out: each fold's case studies are removed from the index "
        "(pages and the steps on technique pages) before their steps are asked.",
        "",
        "| category | n | metric | " + " | ".join(present) + " |",
        "|---|---|---|" + "---|" * len(present),
    ]
    for category, by_system in report.results.items():
        base = category.split(" (")[0]
        for metric in (primary(base), "mrr"):
            cells = []
            for system in present:
                v = by_system.get(system, {}).get(metric)
                cells.append(f"{v['mean']:.3f} [{v['low']:.3f}–{v['high']:.3f}]" if v else "–")
            lines.append(
                f"| {category} | {report.counts.get(base, 0)} | {metric} | " + " | ".join(cells) + " |"
            )
    lines += ["", "## atlas-rag, every metric", "",
              "| category | hit@1 | hit@5 | recall@10 | MRR | nDCG@10 |", "|---|---|---|---|---|---|"]
    for category, by_system in report.results.items():
        m = by_system.get("atlas-rag", {})
        if m:
            lines.append(
                f"| {category} | " + " | ".join(
                    f"{m[k]['mean']:.3f}" for k in ("hit@1", "hit@5", "recall@10", "mrr", "ndcg@10")
                ) + " |"
            )
    return lines


def main(suite: str, out: Path, settings: Settings, baselines: bool = True,
         evals_dir: Path = Path("evals"), folds: int = FOLDS,
         splits: Sequence[str] = SPLITS) -> int:
    """The ``atlas-rag eval`` command: returns 1 when a gate is missed."""
    logging.getLogger("atlas_rag").setLevel(logging.INFO)
    suites = SUITES if suite == "all" else tuple(s.strip() for s in suite.split(","))
    unknown = set(suites) - set(SUITES)
    if unknown:
        raise AtlasRagError(f"unknown suite(s) {sorted(unknown)}", f"use all or {', '.join(SUITES)}")
    if folds < 2:
        raise AtlasRagError("--folds must be at least 2")
    unknown = set(splits) - set(SPLITS)
    if unknown or not splits:
        raise AtlasRagError(f"unknown split(s) {sorted(unknown)}", "use dev, test or dev,test")
    report = evaluate(settings, evals_dir, suites, baselines, folds, splits=splits)
    thresholds_path = evals_dir / "thresholds.json"
    if thresholds_path.is_file():
        check_gates(report, json.loads(thresholds_path.read_text()))
    out.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(report)
    (out / "eval.md").write_text(markdown)
    (out / "eval.json").write_text(json.dumps(report.__dict__, indent=2, default=str))
    print(markdown)
    missed = [g["gate"] for g in report.gates if not g["passed"]]
    if missed:
        print("Eval gates missed:\n" + "\n".join(f"  - {g}" for g in missed), file=sys.stderr)
        return 1
    return 0


__all__ = ["FILE_SUITES", "SUITES", "EvalReport", "evaluate", "main"]
