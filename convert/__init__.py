"""Transformers checkpoints and peft adapters to GGUF, quantization, and proof of parity.

GGUF is written with the `gguf` package and quantized with llama.cpp, so what llama.cpp
reads is what its own tools would have written. torch and transformers are imported
inside functions only: `cove --help` must stay fast.
"""
