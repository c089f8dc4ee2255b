"""Run `python -m MODULE ARGS...` with llama.cpp's extra weight buffers (repack, AMX) off.

A llama.cpp built with -march=native crashes on quantized weights on some AMX CPUs
(the Makefile now builds for AVX2; a virtualenv built before that still has it). llama-server
has `--no-repack` for this; llama-cpp-python has no argument, so the model parameters'
default is patched before anything loads a model. Benchmarks only.

    python benchmarks/no_repack.py -m assistant lsp --model FILE
"""

import runpy
import sys

import llama_cpp

_defaults = llama_cpp.llama_model_default_params


def _without_extra_buffers():
    params = _defaults()
    params.use_extra_bufts = False
    return params


llama_cpp.llama_model_default_params = _without_extra_buffers
llama_cpp.llama.llama_cpp.llama_model_default_params = _without_extra_buffers

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "-m":
        sys.exit(__doc__)
    module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
