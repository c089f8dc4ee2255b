# Two commands on a fresh clone: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip keeps its cache (and the llama-cpp-python wheel it builds, ~5 minutes on 2 cores) between runs.
PIP := $(BIN)/python -m pip install --disable-pip-version-check --quiet

.PHONY: run test chat doctor model clean help

help:
	@echo "make run    set up .venv and open the terminal assistant on the bundled model"
	@echo "make test   set up .venv with the training and test extras and run the whole suite"
	@echo "make model  train, convert, quantize and verify the bundled default model (PRESET=default-gpu on a GPU)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Editor path only: llama.cpp, pygls, Textual; no torch.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[train,dev]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/cove doctor
	$(BIN)/cove chat

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# PRESET=default-gpu on a machine with a GPU (minutes); default-cpu takes about two hours on 2 cores.
PRESET ?= default-cpu
model: $(VENV)/.installed-test
	$(BIN)/python -m training.recipe --preset $(PRESET)

clean:
	rm -rf $(VENV) .pytest_cache
