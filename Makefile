# factsheet: every command an editor or developer needs. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N ?= 1000
RUNS ?= 3

.PHONY: help compiled build check test lint typecheck format clean screenshots serve docs bench

help: ## list the commands
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The generator's modules compiled to bytecode, as Python keeps them where it may write it: a
# shell with PYTHONDONTWRITEBYTECODE set (as CI's) would compile all of them again in every
# factsheet process (some 0.07 s of each, a tenth of a no-change rebuild at 10,000 stories).
compiled: $(STAMP)
	@$(BIN)/python -m compileall -q generator

build: $(STAMP) compiled ## set up .venv if needed and build content/ into site/
	$(BIN)/factsheet build

check: $(STAMP) compiled ## validate content/ without writing anything
	$(BIN)/factsheet check

serve: $(STAMP) compiled ## build, serve on 127.0.0.1:8000, rebuild and reload the browser on save
	$(BIN)/factsheet serve

docs: $(STAMP) ## regenerate docs/editors-guide.md and schemas/ from the declared schema
	$(BIN)/factsheet schema --out schemas
	$(BIN)/python -m generator.guide docs/editors-guide.md

test: $(STAMP) lint typecheck ## run every test (lint, types, pytest)
	$(BIN)/pytest

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check generator tests scripts
	$(BIN)/ruff format --check generator tests scripts

typecheck: $(STAMP) ## mypy --strict on generator/
	$(BIN)/mypy

format: $(STAMP) ## format the code with ruff
	$(BIN)/ruff format generator tests scripts
	$(BIN)/ruff check --fix generator tests scripts

clean: ## remove the built site and caches (not content)
	rm -rf site .factsheet-spare-site .factsheet-cache .pytest_cache .mypy_cache .ruff_cache

screenshots: $(STAMP) ## README pictures of the example site into docs/img/ (needs chromium)
	$(BIN)/python scripts/screenshots.py

bench: $(STAMP) compiled ## time builds of a synthetic corpus of N stories (make bench N=10000 RUNS=1)
	$(BIN)/python scripts/bench.py --stories $(N) --runs $(RUNS)
