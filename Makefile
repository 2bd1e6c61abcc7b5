# `make demo` and `make test` each set up .venv on a fresh machine; nothing else is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test stress lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/prov demo

test: $(STAMP)
	$(BIN)/ruff check ledger registry api cli testkit migrations tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n auto

# Issue 7's fault tests at full strength: 30 SIGKILLs of the log server (SQLite, PostgreSQL) and
# of a witness, two servers on one PostgreSQL for 30 s, sequencer failover. Figures (JSON lines)
# are printed as they come and kept in bench/results/stress.jsonl; docs/benchmarks.md quotes them.
stress: $(STAMP)
	mkdir -p bench/results
	rm -f bench/results/stress.jsonl
	PROV_CRASH_KILLS=30 PROV_SCALE_SECONDS=30 PROV_CRASH_REPORT=bench/results/stress.jsonl \
		$(BIN)/pytest -q -s tests/faults/test_crash_safety.py tests/faults/test_scale_out.py tests/faults/test_failover.py

lint: $(STAMP)
	$(BIN)/ruff check ledger registry api cli testkit migrations tests bench
	$(BIN)/ruff format --check ledger registry api cli testkit migrations tests bench
	$(BIN)/mypy

# The log benchmark: 1,000,000 leaves on SQLite and PostgreSQL, with pymerkle as the peer.
bench: $(STAMP)
	$(BIN)/python -m bench.log_bench --leaves 1000000

clean:
	rm -rf $(VENV) demo-data bench/results .pytest_cache .mypy_cache .ruff_cache
