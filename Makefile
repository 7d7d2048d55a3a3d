# gocor-explorer: `make run` starts the app, `make test` runs every check. Both set up first.
#
# The install pins torch==2.13.0 (a CPU build here). Elsewhere, choose your build, e.g.
#   make run TORCH='torch --index-url https://download.pytorch.org/whl/cu124'
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: setup run figure test lint notebooks clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Until the explorer app lands, the main job draws the GOCor figure for the bundled pair.
run: figure

figure: setup
	$(PY) -m gocor_lite.figure --out gocor_figure.png

lint: setup
	$(PY) -m ruff check gocor_lite explorer tests
	$(PY) -m ruff format --check gocor_lite explorer tests
	$(PY) -m mypy

test: lint
	$(PY) -m pytest

notebooks: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
