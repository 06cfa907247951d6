# icl-study: `make report` runs the quick study and renders reports/; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Tools write caches into $HOME and the temp folder; keep them inside the checkout's ignored .cache/.
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export PYTHONDONTWRITEBYTECODE := 1
# torch.compile's caches (FX graphs, AOTAutograd, kernels): shared by every process of the checkout, so a shape
# compiled once is not compiled again (see nbs/05_train.ipynb, "Compiled steps").
export TORCHINDUCTOR_CACHE_DIR := $(CURDIR)/.cache/inductor

.PHONY: setup test test-nbs test-py check-sync report docs readme clean gpu-check

setup: $(STAMP)

# Create the venv and install the package once; re-run only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0 -e ".[dev]"
	@touch $(STAMP)

# Notebooks and package must agree, and notebooks must be clean, before anything is tested.
check-sync: $(STAMP)
	@bash dev/check_sync.sh $(BIN)

test-nbs: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2

# One pytest process per core (pytest-xdist), each file's tests in one of them (its fixtures are built once), one
# thread each: two-thread processes on two cores fight over them (05_train, "Threads and speed").
test-py: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/pytest -n $(shell nproc) --dist loadfile tests

test: check-sync test-nbs test-py

# PROFILE=faithful renders the documents' own settings (hours, resumable: its cells are kept in reports/faithful/runs).
PROFILE ?= quick
report: $(STAMP)
	$(BIN)/icl-study report all --profile $(PROFILE) --workers $(shell nproc)

readme: $(STAMP)
	$(BIN)/icl-study readme

docs: $(STAMP)
	$(BIN)/icl-study docs --out _docs

# The GPU check (nbs/07b_gpucheck.ipynb): runs from the checkout with the machine's own Python and torch (no venv,
# no network); DEVICE=cpu runs its tiny mode. Figures go to $(GPU_CHECK_DIR)/gpu-check.json.
DEVICE ?= cuda
GPU_CHECK_DIR ?= gpu-check
GPU_PY := $(if $(wildcard $(PY)),$(PY),python3)
gpu-check:
	GPU_CHECK_DIR=$(GPU_CHECK_DIR) PYTHONPATH=$(CURDIR) $(GPU_PY) -m icl_study.gpucheck --device $(DEVICE)

clean:
	rm -rf _docs _proc .cache .pytest_cache
