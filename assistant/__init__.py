"""Cove's inference core: GGUF models served in-process by llama.cpp, and the terminal chat.

Nothing in this package imports torch or transformers: the editor path must start fast.
"""

__version__ = "0.1.0"
