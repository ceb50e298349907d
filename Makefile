# GliomaLens: `make run` sets everything up and runs the app; `make test` sets everything up and
# runs the whole test suite (lint, unit, integration, worker, browser).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

.PHONY: setup system-packages python-deps static db run worker test lint bench clean

setup: system-packages python-deps static db

system-packages:
	@scripts/install_system_packages.sh

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $(STAMP)

python-deps: $(STAMP)

static: python-deps
	@scripts/build_static.sh

db: python-deps
	$(VENV)/bin/flask db upgrade

run: setup
	@scripts/run.sh

worker: setup
	$(VENV)/bin/celery -A app.celery_worker worker --pool prefork --concurrency 1 -Q inference --loglevel INFO

lint: python-deps
	$(VENV)/bin/ruff check .

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) scripts/bench.py

clean:
	rm -rf $(VENV) node_modules static/vendor static/brain artifacts .pytest_cache .ruff_cache
