# The two commands of the README: `make devnet` and `make test`. Each does its own set-up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast lint typecheck devnet devnet-stop devnet-reset bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy consensus state node cli devnet

typecheck: lint

# The whole suite, as CI runs it: lint, types, then every test (slow ones included).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy consensus state node cli devnet
	$(BIN)/pytest -n 2 --dist loadgroup tests

# The inner loop: no slow tests.
test-fast: $(STAMP)
	$(BIN)/pytest -n 2 -m "not slow" tests

devnet: $(STAMP)
	$(BIN)/python -m devnet up

devnet-stop: $(STAMP)
	$(BIN)/python -m devnet stop

devnet-reset: $(STAMP)
	$(BIN)/python -m devnet reset

# Micro-benchmarks (printed figures); installs the plotting/profiling extra first.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m devnet.bench_all

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache *.egg-info
