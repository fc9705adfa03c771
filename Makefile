# Two commands matter: `make demo` (the pipeline against bundled sample sources, embedded, no servers needed)
# and `make test` (lint, types, and the whole test suite against the real Postgres and Redis of this machine).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo run test lint typecheck unit integration score bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/communique demo

run: $(STAMP)
	$(BIN)/communique run

lint: $(STAMP)
	$(BIN)/ruff check services tests bench migrations tools

typecheck: $(STAMP)
	$(BIN)/mypy services

test: $(STAMP)
	bash scripts/ensure-services.sh
	bash scripts/ensure-browser.sh
	$(MAKE) --no-print-directory lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider tests

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

score: $(STAMP)
	$(BIN)/communique extract -i ../shared/corpus/dev/inputs.jsonl -o /tmp/communique-dev-pred.jsonl
	$(BIN)/python ../shared/eval/score.py ../shared/corpus/dev/gold.jsonl /tmp/communique-dev-pred.jsonl --by language

bench: $(STAMP)
	$(BIN)/python bench/bench_extract.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache communique.db
