"""GGUF -> float transformers folder -> GGUF, the way `cove finetune --base MODEL.gguf`
starts and ends, for Gemma 3 (SentencePiece with scores) and StarCoder2 (byte-level BPE
with FIM tokens): the weights come back, the vocabulary is the GGUF's own key for key,
and the second GGUF tokenizes and computes as the first.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest

from convert.model import convert_checkpoint
from convert.verify import compare_logits, load_llama, logits_of_llama, sample_files
from tests import tiny_model as tiny
from training.finetune import base_folder

pytestmark = pytest.mark.slow

CASES = tiny.LLAMA_CPP_REFERENCE_CASES
SAMPLE_FILES = 100
LOGITS_TOKENS = 128


@pytest.fixture(scope="module")
def round_trip(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """case -> (checkpoint, its f32 GGUF, the float folder made from that GGUF, that folder's f32 GGUF)."""
    out = tmp_path_factory.mktemp("gguf-to-float")
    cache: dict[str, tuple[Path, Path, Path, Path]] = {}

    def get(case: str) -> tuple[Path, Path, Path, Path]:
        if case not in cache:
            folder = tiny.checkpoint(tiny_cache, case)
            first = convert_checkpoint(folder, out / f"{case}.gguf", "f32")
            floats = base_folder(first, out / f"{case}-run", reuse=False)
            cache[case] = folder, first, floats, convert_checkpoint(floats, out / f"{case}-again.gguf", "f32")
        return cache[case]

    return get


@pytest.mark.parametrize("case", CASES)
def test_the_float_folder_holds_the_checkpoints_weights(round_trip, case: str) -> None:
    from safetensors.numpy import load_file

    folder, _, floats, _ = round_trip(case)
    expected, actual = load_file(folder / "model.safetensors"), load_file(floats / "model.safetensors")
    assert sorted(actual) == sorted(expected)
    for name, data in expected.items():
        # Gemma's norms come back through (w + 1) - 1: one rounding of f32 apart at most.
        np.testing.assert_allclose(actual[name], data, rtol=0, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("case", CASES)
def test_the_vocabulary_is_the_ggufs_own_key_for_key(round_trip, case: str) -> None:
    from assistant.gguf_file import read_fields

    _, first, _, again = round_trip(case)
    assert read_fields(again, "tokenizer.") == read_fields(first, "tokenizer.")


@pytest.mark.parametrize("case", CASES)
def test_the_round_trip_tokenizes_and_computes_as_the_original(round_trip, case: str) -> None:
    _, first, _, again = round_trip(case)
    texts = sample_files([Path(sysconfig.get_paths()["stdlib"])], SAMPLE_FILES)
    original, returned = load_llama(first, n_ctx=LOGITS_TOKENS), load_llama(again, n_ctx=LOGITS_TOKENS)
    for text in texts.values():
        data = text.encode("utf-8")
        assert returned.tokenize(data, add_bos=False, special=False) == original.tokenize(data, add_bos=False, special=False)
    ids = original.tokenize(" ".join(texts.values()).encode("utf-8"), add_bos=True, special=False)[:LOGITS_TOKENS]
    report = compare_logits(logits_of_llama(original, ids), logits_of_llama(returned, ids))
    original.close()
    returned.close()
    assert report.max_abs < 1e-4
