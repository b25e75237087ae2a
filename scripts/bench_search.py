"""Benchmark: a cold full build (with the query model's fine-tuning unless it is cached), warm
search and ask latency beside the bare cost of embedding a question, and peak memory.

    .venv/bin/python scripts/bench_search.py [--source ATLAS.yaml] [--out reports/bench.json]

The build runs in a child process so that its time includes loading the model and its peak
memory is its own. Figures are printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent

from atlas_rag.evaluation.metrics import percentile  # noqa: E402

BUILD_CHILD = """
import sys, time, json, resource
started = time.perf_counter()
import atlas_rag
report = atlas_rag.build_index(sys.argv[1], corpus_dir=sys.argv[2], index_dir=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - started, "chunks": report.chunks,
                  "pages": report.pages,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def mixed_queries(rag: object, n: int = 200, seed: int = 5) -> list[str]:
    """IDs, names, paraphrased concept questions and open questions, 50 of each."""
    from atlas_rag.evaluation.sets import read_jsonl

    catalog = rag.catalog  # type: ignore[attr-defined]
    rng = random.Random(seed)
    records = list(catalog)
    ids = [f"What is {r.id}?" for r in rng.sample(records, n // 4)]
    names = [catalog.full_name(r) for r in rng.sample(records, n // 4)]
    concept = [row["query"] for row in read_jsonl(ROOT / "evals" / "concept.jsonl")]
    asked = [turn["user"] for conversation in read_jsonl(ROOT / "evals" / "conversations.jsonl")
             for turn in conversation["turns"] if turn.get("intent") in ("attack", "defend")]
    return ids + names + rng.sample(concept, n // 4) + rng.sample(asked, n // 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", default=os.environ.get("ATLAS_RAG_SOURCE"),
                        help="ATLAS.yaml (default: ATLAS_RAG_SOURCE or the pinned release)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench.json")
    args = parser.parse_args()
    from atlas_rag import AtlasRAG, Settings
    from atlas_rag.evaluation.sets import read_jsonl
    from atlas_rag.release import resolve_source

    source = str(resolve_source(Settings.from_env(), args.source))
    figures: dict[str, object] = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="atlas-rag-bench-") as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        # A cache of its own: the cold build fine-tunes the query model, and the first
        # question trains the question reader, as on a new machine.
        os.environ["ATLAS_RAG_CACHE_DIR"] = str(Path(tmp) / "cache")
        child = subprocess.run(
            [sys.executable, "-c", BUILD_CHILD, source, str(corpus), str(index)],
            capture_output=True, text=True, check=True,
        )
        build = json.loads(child.stdout.strip().splitlines()[-1])
        figures["build_seconds_cold"] = round(build["seconds"], 1)
        figures["build_peak_mb"] = round(build["peak_mb"])
        figures["chunks"] = build["chunks"]
        figures["pages"] = build["pages"]

        started = time.perf_counter()
        rag = AtlasRAG.open(index)
        rag.search("warm up the model")
        figures["open_seconds"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        rag.warm_up()  # trains the question reader (embedding its examples the first time)
        figures["reader_first_training_seconds"] = round(time.perf_counter() - started, 1)

        queries = mixed_queries(rag)
        embeds = []
        for query in queries:  # the bare cost of embedding each question once
            t = time.perf_counter()
            rag.query_embedder.embed([query + " (embed)"])
            embeds.append(1000 * (time.perf_counter() - t))
        figures["embed_query_p50_ms"] = round(statistics.median(embeds), 1)
        timings = []
        for query in queries:
            t = time.perf_counter()
            rag.search(query)
            timings.append(1000 * (time.perf_counter() - t))
        figures["search_queries"] = len(queries)
        figures["search_p50_ms"] = round(statistics.median(timings), 1)
        figures["search_p95_ms"] = round(percentile(timings, 0.95), 1)
        figures["search_over_embed_p50"] = round(
            figures["search_p50_ms"] / max(figures["embed_query_p50_ms"], 1e-9), 2)  # type: ignore[operator]

        # Every turn of the conversation eval, asked with its conversation as history;
        # pasted incident write-ups are timed apart (they map the whole text).
        asks, maps = [], []
        for conversation in read_jsonl(ROOT / "evals" / "conversations.jsonl"):
            history: list[tuple[str, str]] = []
            for turn in conversation["turns"]:
                t = time.perf_counter()
                answer = rag.ask(turn["user"] + " ", history)  # a fresh text, not a cached one
                took = 1000 * (time.perf_counter() - t)
                (maps if answer.intent == "incident" else asks).append(took)
                history.append((turn["user"], answer.text))
        figures["ask_turns"] = len(asks)
        figures["ask_p50_ms"] = round(statistics.median(asks), 1)
        figures["ask_p95_ms"] = round(percentile(asks, 0.95), 1)
        figures["ask_incident_turns"] = len(maps)
        figures["ask_incident_p50_ms"] = round(statistics.median(maps), 1)
        figures["serving_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
