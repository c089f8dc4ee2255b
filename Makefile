# Two commands on a fresh clone: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip keeps its cache (and the llama-cpp-python wheel it builds, ~5 minutes on 2 cores) between runs.
PIP := $(BIN)/python -m pip install --disable-pip-version-check --quiet
# llama.cpp for any x86-64 laptop with AVX2, not -march=native: a native build on a CPU with
# AMX (Sapphire Rapids and later) crashed with a protection fault on Gemma 3's Q4_K weights
# in a virtual machine here. Override for other CPUs (e.g. CMAKE_ARGS="-DGGML_NATIVE=ON").
CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export CMAKE_ARGS

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
