# atlas-rag: `make chat` sets everything up and runs the chat; `make test` runs what CI runs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: setup chat index test lint unit integration eval bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	scripts/setup.sh "$(PYTHON)" "$(VENV)"
	touch $@

index: setup
	$(BIN)/python -m atlas_rag.scripts.ensure_index

chat: index
	$(BIN)/atlas-rag chat

lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy

test: setup
	scripts/test.sh "$(VENV)"

eval: setup
	$(BIN)/atlas-rag eval --out reports

bench: setup
	$(BIN)/python scripts/bench_search.py

clean:
	rm -rf $(VENV) index/gen-* index/CURRENT corpus/*/ reports
