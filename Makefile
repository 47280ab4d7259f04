# Two commands matter (README): `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= auto
export RECSYS_HOME ?= $(CURDIR)/.recsys
export DAGSTER_HOME ?= $(RECSYS_HOME)/dagster

.PHONY: setup run test test-browser browser-deps bench bench-smoke bench-demo dev check lint clean

setup: $(VENV)/.installed ## create the virtualenv and install the project with its dev tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

run: setup $(DAGSTER_HOME)/dagster.yaml ## simulate logs and materialize every asset (the main job)
	$(BIN)/recsys run

test: setup ## the default test suite, one pytest-xdist worker per core, each test file on one worker
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: setup ## pipeline benchmark: 1M requests x 30 impressions against the copy floor and pandas, then 3x
	$(BIN)/python -m benchmarks.pipeline --triple

bench-smoke: setup ## the pipeline benchmark at 1% scale
	$(BIN)/python -m benchmarks.pipeline --scale 0.01 --pandas-rows 100000

bench-demo: setup ## the default demo (`recsys run`) in a fresh home: wall time by stage, truth NDCG@10 of every model
	$(BIN)/python -m benchmarks.demo

test-browser: setup ## drive the Dagster UI (`dg dev`) in headless Chromium; needs `make browser-deps`
	$(BIN)/python -m pytest -m browser tests/browser -v

browser-deps: ## Debian's chromium for the browser tests (Playwright drives it, no browser download)
	@if [ -x /usr/bin/chromium ]; then \
		echo "browser-deps: /usr/bin/chromium is installed"; \
	else \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi

dev: setup $(DAGSTER_HOME)/dagster.yaml ## the Dagster UI on http://127.0.0.1:3000
	$(BIN)/dg dev --host 127.0.0.1 --port 3000

check: setup ## load the definitions the way `dg dev` does
	$(BIN)/dg check defs

lint: setup
	$(BIN)/ruff check recsys_assets tests benchmarks

clean:
	rm -rf .recsys .pytest_cache
