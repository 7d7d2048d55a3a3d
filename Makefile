# gocor-explorer: `make run` starts the app, `make test` runs every check. Both set up first.
#
# The install pins torch==2.13.0 (a CPU build here). Elsewhere, choose your build, e.g.
#   make run TORCH='torch --index-url https://download.pytorch.org/whl/cu124'
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PORT ?= 7860
PY := $(VENV)/bin/python

.PHONY: setup run figure test lint notebooks bench train refresh-weights evaluate clean

setup: $(VENV)/.installed

# Once (and again when pyproject.toml changes). The times: `time make setup` from nothing on
# 2 busy cores (load ~7), wheels from a local cache: 45 s, 177 s, 253 s; a download adds its own.
$(VENV)/.installed: pyproject.toml
	@echo "Setting up $(VENV) once (2 GB on disk): 5 to 8 minutes on 2 cores, more to download."
	@echo "[1/3] a virtual environment and the latest pip (under a minute)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "[2/3] $(TORCH), the CPU build here (1 to 3 minutes)"
	$(PY) -m pip install --quiet $(TORCH)
	@echo "[3/3] this project and its tools: gradio, scikit-image, matplotlib, JupyterLab,"
	@echo "      pytest, Playwright, ruff, mypy (2 to 4 minutes)"
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@
	@echo "Set up: $(VENV) is ready."

# The explorer app at http://127.0.0.1:$(PORT) (make run PORT=7861 for another port;
# python -m explorer --help for host, port, share).
run: setup
	$(PY) -m explorer --port $(PORT)

figure: setup
	$(PY) -m gocor_lite.cli.figure --out gocor_figure.png

lint: setup
	$(PY) -m ruff check gocor_lite explorer tools tests notebooks
	$(PY) -m ruff format --check gocor_lite explorer tools tests notebooks
	$(PY) -m mypy

test: lint
	$(PY) -m pytest

# Side-by-side timings and memory (docs/benchmarks.md), then the app's click and new-pair
# times; BENCH='--quick' for a short run.
bench: setup
	$(PY) -m gocor_lite.cli.bench $(BENCH)
	$(PY) -m tools.explorer_bench

# Retrain every weight into out/weights/ (gocor_lite/assets/weights/TRAINING.md states the
# measured time: within an hour on 2 cores); the shipped ones are kept. RESUME=--resume goes on
# from the last checkpoint in out/train/. Data-parallel: NPROC=2 runs the network stage under
# torchrun (gloo on CPU, NCCL on CUDA) after the other stages.
NPROC ?= 1
train: setup
ifeq ($(NPROC),1)
	$(PY) -m gocor_lite.cli.train $(RESUME)
else
	$(PY) -m gocor_lite.cli.train --stages features gocor $(RESUME)
	$(VENV)/bin/torchrun --standalone --nproc_per_node=$(NPROC) -m gocor_lite.cli.train --stages network $(RESUME)
endif

# Retrain and overwrite the shipped weights in gocor_lite/assets/weights/ (explicitly).
refresh-weights: setup
	$(PY) -m gocor_lite.cli.train --refresh-shipped

# Our GLU-Net-GOCor and GLU-Net (gocor_lite/assets/weights/glunet_xfeat.pt, from `make train`)
# against OpenCV's DIS and Farneback and zero flow, GLU-Net against GLU-Net-GOCor, correlation
# against GOCor and the matching rules with their calibration, on held-out synthetic sets,
# held-out real photographs (also moved by at most 3 px) and real pairs with ground truth,
# written to docs/evaluation.md (several minutes of one core). EVALUATE='--official-weights
# GLUNet_GOCor_static.pth' adds the authors' networks.
# The real sets need Debian's opencv-doc and mate-backgrounds (apt-get install opencv-doc
# mate-backgrounds; .ci/run does); the peers need opencv-python-headless (the eval extra, part
# of .[dev]).
evaluate: setup
	$(PY) -m gocor_lite.cli.evaluate $(EVALUATE)

# JupyterLab refuses to run as root without --allow-root (containers, CI machines).
notebooks: setup
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
