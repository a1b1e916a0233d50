# Quick start: `make run` (smoke suite on the embedded sample) and `make test` (pytest).
# Both create .venv on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: reproduce-small run test clean-runs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/medsyn-bench run --suite smoke

# The small suite on the full MedMNIST files (hours of CPU; resumable: rerun after an interruption).
# DATA is the folder with bloodmnist.npz, organamnist.npz and breastmnist.npz.
DATA ?= ../shared/data/medmnist
reproduce-small: $(VENV)/.installed
	$(BIN)/medsyn-bench run --suite small --data-root $(DATA)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

clean-runs:
	rm -rf runs
