"""Load benchmark: concurrent chat sessions against the running chat's HTTP API.

    .venv/bin/python scripts/bench_load.py [--url http://127.0.0.1:7860] [--sessions 32]
        [--questions 10] [--out reports/load.json]

Without --url it starts `atlas-rag chat` on a free loopback port with the index of
ATLAS_RAG_INDEX_DIR (build it first with `make index`) and stops it afterwards. Each session
is one client asking its questions one after another through the `/chat` endpoint; all
sessions run at once. Requests are bounded (sessions x questions) and go to loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from atlas_rag.evaluation.metrics import percentile  # noqa: E402

QUESTIONS = [
    "What is AML.T0051?",
    "explain LLM jailbreak",
    "Which mitigations address indirect prompt injection?",
    "Which case studies used RAG poisoning?",
    "How do attackers steal a model through its API?",
    "What ATLAS technique matches ATT&CK T1596?",
    "Which techniques does AML.M0015 address?",
    "What are the sub-techniques of AML.T0043?",
    "How could someone poison the documents my RAG assistant reads?",
    "What is the weather in Lisbon tomorrow?",
    "List the techniques under AML.TA0004",
    "How can an attacker make a model leak its system prompt?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read(1)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the chat at {url} did not come up within {seconds:.0f} s")


def run_session(url: str, questions: list[str], latencies: list[float], errors: list[str],
                lock: threading.Lock) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
    except Exception as exc:  # a client that cannot connect counts every question as failed
        with lock:
            errors.extend([f"connect: {exc}"] * len(questions))
        return
    for question in questions:
        started = time.perf_counter()
        try:
            answer = client.predict(message=question, api_name="/chat")
            if not isinstance(answer, str) or not answer.strip() or "⚠️" in answer:
                raise RuntimeError(f"unusable answer: {str(answer)[:80]!r}")
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            continue
        with lock:
            latencies.append(time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="a running chat; default: start one")
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "load.json")
    args = parser.parse_args()

    server = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        server = subprocess.Popen(
            [sys.executable, "-m", "atlas_rag", "chat", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
    try:
        wait_until_up(url)
        rng = random.Random(11)
        plans = [[rng.choice(QUESTIONS) for _ in range(args.questions)]
                 for _ in range(args.sessions)]
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        threads = [threading.Thread(target=run_session, args=(url, plan, latencies, errors, lock))
                   for plan in plans]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        elapsed = time.perf_counter() - started
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    total = args.sessions * args.questions
    figures = {
        "sessions": args.sessions,
        "questions_per_session": args.questions,
        "requests": total,
        "answered": len(latencies),
        "errors": len(errors),
        "seconds": round(elapsed, 1),
        "throughput_per_s": round(len(latencies) / elapsed, 2) if elapsed else 0.0,
        "p50_ms": round(1000 * statistics.median(latencies)) if latencies else None,
        "p95_ms": round(1000 * percentile(latencies, 0.95)) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 0.99)) if latencies else None,
        "error_examples": sorted(set(errors))[:5],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    for key, value in figures.items():
        print(f"{key:<22} {value}")
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
