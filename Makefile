# newsstream — every recipe a newcomer needs. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-integration bench lint typecheck schemas clean

help: ## List the recipes
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its test tools

run: $(STAMP) ## Embedded broker + worker + the bundled examples, printed as they are enriched (Ctrl-C stops)
	$(BIN)/newsstream run

test: $(STAMP) ## Every test: unit, and integration against a broker the session starts itself
	$(BIN)/python -m pytest

test-unit: $(STAMP) ## Unit tests only (no broker)
	$(BIN)/python -m pytest -m "not integration"

test-integration: $(STAMP) ## Integration tests only (real embedded broker)
	$(BIN)/python -m pytest -m integration

bench: $(STAMP) ## The performance table on the embedded broker (~30 min; BENCH_ARGS=--smoke: ~3 min)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

lint: $(STAMP) ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict on service/ and schemas/
	$(BIN)/mypy

schemas: $(STAMP) ## Regenerate schemas/json/*.schema.json from the models
	$(BIN)/newsstream schemas

clean: ## Remove the virtualenv, caches and local state
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .newsstream *.egg-info
