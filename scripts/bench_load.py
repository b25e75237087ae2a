"""Load benchmark: concurrent chat sessions against the running chat's HTTP API.

    .venv/bin/python scripts/bench_load.py [--url http://127.0.0.1:7860] [--sessions 32]
        [--questions 10] [--out reports/load.json]

Without --url it starts `atlas-rag chat` on a free loopback port with the index of
ATLAS_RAG_INDEX_DIR (build it first with `make index`) and stops it afterwards. Each session
is one keep-alive HTTP connection asking its questions one after another through the `/chat`
endpoint of Gradio's HTTP API (POST /gradio_api/call/chat, then its event stream); all sessions
run at once. The client is the standard library, so it takes little of the CPU it shares with
the server. Requests are bounded (sessions x questions) and go to loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
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


def ask(connection: http.client.HTTPConnection, question: str) -> str:
    """One question through Gradio's HTTP API: queue the call, then read its event stream."""
    body = json.dumps({"data": [question, [], []]})
    connection.request("POST", "/gradio_api/call/chat", body,
                       {"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {payload[:120]!r}")
    event_id = json.loads(payload)["event_id"]
    connection.request("GET", f"/gradio_api/call/chat/{event_id}")
    response = connection.getresponse()
    stream = response.read().decode("utf-8")
    event, _, data = stream.rpartition("event: ")[2].partition("\n")
    if event.strip() != "complete":
        raise RuntimeError(f"the call ended with {event.strip()!r}: {data.strip()[:120]!r}")
    answer = json.loads(data.strip().removeprefix("data:").strip())[0]
    if not isinstance(answer, str) or not answer.strip() or "⚠️" in answer:
        raise RuntimeError(f"unusable answer: {str(answer)[:80]!r}")
    return answer


def run_session(url: str, questions: list[str], latencies: list[float], errors: list[str],
                lock: threading.Lock) -> None:
    """One user: a keep-alive connection asking its questions one after another."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                            timeout=60)
    for question in questions:
        started = time.perf_counter()
        try:
            ask(connection, question)
        except Exception as exc:
            connection.close()  # reconnects on the next request
            with lock:
                errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            continue
        with lock:
            latencies.append(time.perf_counter() - started)
    connection.close()


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
