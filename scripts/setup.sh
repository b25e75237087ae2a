#!/usr/bin/env bash
# Create the virtual environment and install atlas-rag with its development tools.
# torch is installed first, pinned, so pip takes the CPU build instead of a multi-GB CUDA one.
set -euo pipefail
python_bin=${1:-python3.11}
venv=${2:-.venv}
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
"$python_bin" - <<'PY'
import sys
if sys.version_info[:2] != (3, 11):
    raise SystemExit(f"atlas-rag needs Python 3.11, found {sys.version.split()[0]}")
PY
[ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet torch==2.13.0
# The rest with uv (from PyPI, pinned): it downloads and installs in parallel, a few times faster
# than pip; torch is already there, so it keeps the CPU build. Files are copied, not hard-linked
# from uv's cache: nltk (under llama-index) refuses to read multiply-linked files. pip is the fallback.
if "$venv/bin/python" -m pip install --quiet uv==0.13.9 \
        && "$venv/bin/uv" pip install --quiet --link-mode copy --python "$venv/bin/python" -e ".[dev]"; then
    :
else
    echo "uv failed; installing with pip" >&2
    "$venv/bin/python" -m pip install --quiet -e ".[dev]"
fi
echo "atlas-rag installed in $venv"
