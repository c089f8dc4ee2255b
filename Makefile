# Two commands on a fresh clone: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip keeps its cache (and the llama-cpp-python wheel it builds, ~5 minutes on 2 cores) between runs.
PIP := $(BIN)/python -m pip install --disable-pip-version-check --quiet
# llama.cpp built for this machine's CPU (-march=native) with Intel AMX left out: on virtual
# machines that report AMX without enabling its tile state, AMX kernels crash with a
# protection fault (seen here on Gemma 3's Q4_K weights). When the native build fails, the
# portable AVX2 build is used instead. Override for other CPUs: CMAKE_ARGS="...".
NO_AMX := -U__AMX_TILE__ -U__AMX_INT8__ -U__AMX_BF16__
NATIVE_CMAKE_ARGS := -DGGML_NATIVE=ON -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'
PORTABLE_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
CMAKE_ARGS ?= $(NATIVE_CMAKE_ARGS)
LLAMA_CPP := llama-cpp-python==$(shell sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)
# pip's own wheel cache ignores CMAKE_ARGS, so a wheel built for one CPU or set of flags would
# be reused for another: Cove keeps its builds per flags and CPU instead.
WHEELS := $(HOME)/.cache/cove/wheels/$(shell (echo "$(CMAKE_ARGS)"; grep -m1 '^flags' /proc/cpuinfo) | sha1sum | cut -c1-12)
export CMAKE_ARGS

.PHONY: run test chat doctor model clean help vscode vscode-driver

help:
	@echo "make run    set up .venv and open the terminal assistant on the bundled model"
	@echo "make test   set up .venv with the training and test extras and run the whole suite"
	@echo "make model  train, convert, quantize and verify the bundled default model (PRESET=default-gpu on a GPU)"
	@echo "make vscode build the VS Code extension, editors/vscode/cove-VERSION.vsix (needs node 20 and npm)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# llama.cpp through llama-cpp-python, compiled once per CPU and flags (about 5 minutes on 2 cores).
$(VENV)/.installed-llama: pyproject.toml | $(BIN)/python
	@ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  $(BIN)/python -m pip wheel --no-deps --no-cache-dir --quiet -w $(WHEELS) '$(LLAMA_CPP)' || \
	  { echo "cove: the native llama.cpp build failed; building the portable AVX2 one"; \
	    CMAKE_ARGS="$(PORTABLE_CMAKE_ARGS)" $(BIN)/python -m pip wheel --no-deps --no-cache-dir --quiet -w $(WHEELS) '$(LLAMA_CPP)'; }
	$(PIP) --force-reinstall --no-deps $(WHEELS)/llama_cpp_python-*.whl
	@touch $@

# Editor path only: llama.cpp, pygls, Textual; no torch.
$(VENV)/.installed-run: pyproject.toml $(VENV)/.installed-llama | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed-llama | $(BIN)/python
	$(PIP) -e '.[train,dev]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/cove doctor
	$(BIN)/cove chat

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# PRESET=default-gpu on a machine with a GPU (minutes); default-cpu takes about two hours on 2 cores.
# MINUTES=N sizes the training to a time budget; STAGE=data|train|ship runs one part of the
# recipe (prepare the data on a CPU, train where the GPU is, ship on the CPU again).
PRESET ?= default-cpu
STAGE ?= all
model: $(VENV)/.installed-test
	$(BIN)/python -m training.recipe --preset $(PRESET) --stage $(STAGE) $(if $(MINUTES),--minutes $(MINUTES))

# The VS Code extension: npm packages by lockfile, bundled with esbuild, packaged with vsce.
VSCODE := editors/vscode
VSIX := $(VSCODE)/cove-$(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' $(VSCODE)/package.json).vsix
vscode: $(VSIX)
$(VSIX): $(VSCODE)/package.json $(VSCODE)/package-lock.json $(VSCODE)/tsconfig.json $(VSCODE)/README.md $(wildcard $(VSCODE)/src/*.ts)
	cd $(VSCODE) && npm ci --no-audit --no-fund && npm run package

# The browser driver of tests/test_vscode_browser.py (puppeteer-core with Debian's Chromium).
vscode-driver: $(VSCODE)/test/node_modules/.package-lock.json
$(VSCODE)/test/node_modules/.package-lock.json: $(VSCODE)/test/package-lock.json
	cd $(VSCODE)/test && npm ci --no-audit --no-fund

clean:
	rm -rf $(VENV) .pytest_cache
