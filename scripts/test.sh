#!/usr/bin/env bash
# Everything CI runs: lint, type check, the retrieval eval with its gates, then every test
# (unit, integration on the full release, Chroma server mode, browser) in one pytest run.
set -euo pipefail
venv=${1:-.venv}
bin="$venv/bin"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False

# The ATLAS release the integration tests and the eval read: a local file when given,
# otherwise the pinned official release, downloaded once and checked against its sha256.
if [ -z "${ATLAS_RAG_TEST_RELEASE:-}" ]; then
    ATLAS_RAG_TEST_RELEASE=$("$bin/python" -c 'from atlas_rag.release import resolve_source
from atlas_rag.settings import Settings
print(resolve_source(Settings.from_env()))')
fi
export ATLAS_RAG_TEST_RELEASE

echo "== lint and types"
"$bin/ruff" check src tests scripts
"$bin/mypy"

echo "== browser for the UI test"
scripts/ensure_chromium.sh

echo "== retrieval eval (gates in evals/thresholds.json)"
# Without the baselines (about two minutes) and only the test parts, which the gates read (the
# dev parts' conversations alone take several minutes), to keep CI in its time budget;
# `make eval` measures dev and test beside the baselines for the README.
ATLAS_RAG_SOURCE="$ATLAS_RAG_TEST_RELEASE" "$bin/atlas-rag" eval --out reports --no-baselines --splits test

echo "== Chroma server for the server-mode tests"
chroma_dir=$(mktemp -d)
port=$("$bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/chroma" run --path "$chroma_dir" --host 127.0.0.1 --port "$port" >"$chroma_dir.log" 2>&1 &
chroma_pid=$!
trap 'kill "$chroma_pid" 2>/dev/null || true; rm -rf "$chroma_dir" "$chroma_dir.log"' EXIT
for _ in $(seq 1 60); do
    if "$bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/api/v2/heartbeat', timeout=1)" 2>/dev/null; then
        break
    fi
    sleep 0.5
done
export ATLAS_RAG_TEST_CHROMA_URL="http://127.0.0.1:$port"

echo "== tests"
"$bin/python" -m pytest tests
