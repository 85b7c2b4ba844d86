# modelyard — the two commands a newcomer runs: `make quickstart` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP_RUN := $(VENV)/.stamp-run
STAMP_DEV := $(VENV)/.stamp-dev

.PHONY: quickstart test lint typecheck imports unit services bench clean help

help:
	@echo "make quickstart  - create .venv, install modelyard, run the lifecycle demo (no servers needed)"
	@echo "make test        - install test dependencies, check services, run lint + type checks + the test suite"
	@echo "make lint        - ruff, mypy and import-linter only"
	@echo "make bench       - benchmarks against peers (MLflow, BentoML, ...) in their own virtualenvs"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e .
	@touch $@

$(STAMP_DEV): pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e '.[dev]'
	@touch $@ $(STAMP_RUN)

quickstart: $(STAMP_RUN)
	$(VENV)/bin/modelyard quickstart

services:
	@bash scripts/services.sh
	@bash scripts/browser.sh

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: $(STAMP_DEV) services lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench: $(STAMP_DEV)
	@bash scripts/wrk.sh
	$(PY) -m benchmarks.tracking $(BENCH_ARGS)
	$(PY) -m benchmarks.tuning $(BENCH_ARGS)
	$(PY) -m benchmarks.server_load $(BENCH_ARGS)
	$(PY) -m benchmarks.data $(BENCH_ARGS)
	$(PY) -m benchmarks.validation
	$(PY) -m benchmarks.features $(BENCH_ARGS)
	$(PY) -m benchmarks.features --online-http   # Redis at 127.0.0.1:6379 (--redis URL)
	$(PY) -m benchmarks.serving $(BENCH_ARGS)
	$(PY) -m benchmarks.estimation $(BENCH_ARGS)
	$(PY) -m benchmarks.drift $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .modelyard .bench .pytest_cache .mypy_cache .ruff_cache
