# factsheet: every command an editor or developer needs. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help build check test lint typecheck format clean

help: ## list the commands
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

build: $(STAMP) ## set up .venv if needed and build content/ into site/
	$(BIN)/factsheet build

check: $(STAMP) ## validate content/ without writing anything
	$(BIN)/factsheet check

test: $(STAMP) lint typecheck ## run every test (lint, types, pytest)
	$(BIN)/pytest

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check generator tests
	$(BIN)/ruff format --check generator tests

typecheck: $(STAMP) ## mypy --strict on generator/
	$(BIN)/mypy

format: $(STAMP) ## format the code with ruff
	$(BIN)/ruff format generator tests
	$(BIN)/ruff check --fix generator tests

clean: ## remove the built site and caches (not content)
	rm -rf site .pytest_cache .mypy_cache .ruff_cache
