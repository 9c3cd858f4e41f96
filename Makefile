# The two commands: `make run` starts the whole cluster on this host, `make test` runs
# every test (after lint). Both install what they need first: a virtualenv with the
# pinned packages, and (as root, via apt-get) redis-server / PostgreSQL when missing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test lint format unit bench-failover clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.deps

run: $(VENV)/.deps
	bash ops/system-deps.sh run
	$(BIN)/python run.py $(ARGS)

test: lint
	bash ops/system-deps.sh test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.dev-deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-data:
	rm -rf data
