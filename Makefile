# `make demo` and `make test` each set up .venv on a fresh machine; nothing else is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/prov demo

test: $(STAMP)
	$(BIN)/ruff check ledger registry api cli migrations tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check ledger registry api cli migrations tests bench
	$(BIN)/ruff format --check ledger registry api cli migrations tests bench
	$(BIN)/mypy

# The log benchmark: 1,000,000 leaves on SQLite and PostgreSQL, with pymerkle as the peer.
bench: $(STAMP)
	$(BIN)/python -m bench.log_bench --leaves 1000000

clean:
	rm -rf $(VENV) demo-data bench/results .pytest_cache .mypy_cache .ruff_cache
