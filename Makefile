# The two commands: `make run` starts the whole cluster on this host, `make test` runs
# every test (after lint). Both install what they need first: a virtualenv with the
# pinned packages, and (as root, via apt-get) redis-server / PostgreSQL when missing; the
# web console's chart library from the pinned npm lock (package-lock.json), copied into a
# git-ignored vendor folder (nothing is fetched when the console runs).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test lint format unit bench-failover clean-data console-assets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.deps

VENDOR := services/console/static/vendor

$(VENDOR)/uPlot.esm.js: package.json package-lock.json
	bash ops/system-deps.sh assets
	npm ci --ignore-scripts --no-audit --no-fund --silent
	mkdir -p $(VENDOR)
	cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css node_modules/uplot/LICENSE $(VENDOR)/
	cp node_modules/axe-core/axe.min.js $(VENDOR)/
	cp node_modules/axe-core/LICENSE $(VENDOR)/axe-core.LICENSE

console-assets: $(VENDOR)/uPlot.esm.js

run: $(VENV)/.deps console-assets
	bash ops/system-deps.sh run
	$(BIN)/python run.py $(ARGS)

test: lint console-assets
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
