# gocor-explorer: `make run` starts the app, `make test` runs every check. Both set up first.
#
# The install pins torch==2.13.0 (a CPU build here). Elsewhere, choose your build, e.g.
#   make run TORCH='torch --index-url https://download.pytorch.org/whl/cu124'
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: setup run figure test lint notebooks bench train refresh-weights evaluate clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The explorer app at http://127.0.0.1:7860 (python -m explorer --help for host, port, share).
run: setup
	$(PY) -m explorer

figure: setup
	$(PY) -m gocor_lite.figure --out gocor_figure.png

lint: setup
	$(PY) -m ruff check gocor_lite explorer tests notebooks
	$(PY) -m ruff format --check gocor_lite explorer tests notebooks
	$(PY) -m mypy

test: lint
	$(PY) -m pytest

# Side-by-side timings and memory (docs/benchmarks.md), then the app's click and new-pair
# times; BENCH='--quick' for a short run.
bench: setup
	$(PY) -m gocor_lite.bench $(BENCH)
	$(PY) -m explorer.bench

# Retrain every weight into out/weights/ (about 10 min on 2 cores); the shipped ones are kept.
train: setup
	$(PY) -m gocor_lite.train

# Retrain and overwrite the shipped weights in gocor_lite/assets/weights/ (explicitly).
refresh-weights: setup
	$(PY) -m gocor_lite.train --refresh-shipped

# Correlation against GOCor, the matching rules with their calibration, and our flow against
# OpenCV's DIS and Farneback and zero flow, on held-out synthetic sets, held-out real photographs
# and real pairs with ground truth, written to docs/evaluation.md (several minutes of one core).
# The real sets need Debian's opencv-doc and mate-backgrounds (apt-get install opencv-doc
# mate-backgrounds; .ci/run does); the peers need opencv-python-headless (the eval extra, part
# of .[dev]).
evaluate: setup
	$(PY) -m gocor_lite.evaluate

# JupyterLab refuses to run as root without --allow-root (containers, CI machines).
notebooks: setup
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
