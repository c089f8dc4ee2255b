"""llama.cpp's own converter (`convert_hf_to_gguf.py`) from the sources the pinned
llama-cpp-python vendors, as the reference Cove's converter is compared with.

The sdist comes the way tests/llama_server.py gets it (pip's cache, else the package
index) and is unpacked once per version into `~/.cache/cove/llama-cpp-sources-VERSION`.
The converter runs in a subprocess with its own gguf-py, as a user would run it. It names
a BPE pre-tokenizer by hashing token ids of known tokenizers, so a vocabulary trained in a
test is unknown to it; `pre` supplies the name instead (tensors are what is compared).
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

from assistant.locations import cache_dir
from tests.llama_server import _vendored_sources, installed_version

#: Runs the converter with the BPE pre-tokenizer name given as argv[1].
_RUNNER = """
import sys
sys.path.insert(0, sys.argv[1])
pre = sys.argv[2]
sys.argv = ["convert_hf_to_gguf.py", *sys.argv[3:]]
import convert_hf_to_gguf
from conversion.base import TextModel
if pre:
    TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
convert_hf_to_gguf.main()
"""


def llama_cpp_sources(version: str | None = None) -> Path:
    """vendor/llama.cpp of the llama-cpp-python sdist, unpacked once (safe across processes)."""
    version = version or installed_version()
    home = cache_dir() / f"llama-cpp-sources-{version}"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _vendored_sources(version, home)


def convert_with_llama_cpp(folder: Path, out: Path, out_type: str, pre: str | None = None) -> Path:
    """`convert_hf_to_gguf.py folder --outfile out --outtype out_type`; raises with its log on failure."""
    sources = llama_cpp_sources()
    command = [sys.executable, "-c", _RUNNER, str(sources), pre or "",
               str(folder), "--outfile", str(out), "--outtype", out_type]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"llama.cpp's converter failed on {folder}:\n{done.stderr[-3000:]}")
    return out
