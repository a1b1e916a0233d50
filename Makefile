# Quick start: `make run` (smoke suite on the embedded sample) and `make test` (pytest).
# Both create .venv on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch's CUDA wheels (several GB) come from PyPI: let pip resume an interrupted download many times.
PIP_INSTALL := $(BIN)/pip install --retries 10 --resume-retries 50

.PHONY: reproduce-small ablations-small run test clean-runs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/medsyn-bench run --suite smoke

# The small suite on the full MedMNIST files (hours of CPU; resumable: rerun after an interruption).
# DATA is the folder with bloodmnist.npz, organamnist.npz and breastmnist.npz.
DATA ?= ../shared/data/medmnist
reproduce-small: $(VENV)/.installed
	$(BIN)/medsyn-bench run --suite small --data-root $(DATA)

# The ldm-small ablation table (leaderboards/small/ablations.md): one change at a time, each trained for
# 2,000 steps (or sharing the base's checkpoints when only sampling changes), compared at equal FLOPs.
ABLATIONS ?= prediction_type=epsilon guidance_scale=1.5 guidance_scale=5 guidance_scale=7.5 \
             timestep_spacing=trailing sampler=ddim use_ema=false offset_noise=0.1 snr_gamma=5 \
             balanced_batches=class
ablations-small: $(VENV)/.installed
	$(BIN)/medsyn-bench run --suite small --data-root $(DATA) --generators ldm-small --fit-only --set steps=2000
	for s in $(ABLATIONS); do \
	  $(BIN)/medsyn-bench run --suite small --data-root $(DATA) --generators ldm-small --fit-only \
	    --set steps=2000 --set $$s || exit 1; done
	$(BIN)/medsyn-bench ablations --suite small --base ldm-small+steps=2000

# Two pytest workers (one CPU thread each): the modules that share the one end-to-end smoke run are one unit
# of work, every other module is one of its own (tests/conftest.py), so no expensive fixture is built twice.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

clean-runs:
	rm -rf runs
