"""Listen to llama.cpp's log while a block runs, then give the log back to llama-cpp-python.

llama.cpp reports quantization progress and the reason for a failure only through its
log, so the quantize and verify commands read it instead of letting it spill to stderr;
the engine keeps a model load's warnings (e.g. Gemma 3's "using full-size SWA cache")
out of the terminal and the editor's stderr, and names them if the load fails.
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Callable, Iterator

#: ggml_log_level in ggml.h (llama-cpp-python's comment in _logger.py is out of date).
DEBUG, INFO, WARN, ERROR, CONT = 1, 2, 3, 4, 5


@contextlib.contextmanager
def llama_log(on_line: Callable[[int, str], None]) -> Iterator[None]:
    """Call `on_line(level, text)` for every llama.cpp log line written inside the block."""
    import llama_cpp
    from llama_cpp._logger import llama_log_callback as default_callback

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        on_line(level, text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    try:
        yield
    finally:
        llama_cpp.llama_log_set(default_callback, ctypes.c_void_p(0))


@contextlib.contextmanager
def warnings_of_llama_cpp() -> Iterator[list[str]]:
    """The warnings and errors llama.cpp logs inside the block (a list filled as they come)."""
    found: list[str] = []

    def keep(level: int, text: str) -> None:
        if level in (WARN, ERROR) and text.strip():
            found.append(text.strip())

    with llama_log(keep):
        yield found
