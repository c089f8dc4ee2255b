"""Gemma 3 and StarCoder2 as llama.cpp's own converter writes them: tensor for tensor.

Random-weight checkpoints of each family (tokenizers trained on the fly: Gemma's
SentencePiece layout, StarCoder's byte-level BPE with its FIM tokens) are converted by
Cove and by `convert_hf_to_gguf.py` from the pinned llama-cpp-python's sdist; every
tensor must have the same name, shape, type and bytes, and the model's shape and
vocabulary keys the same values. Logits and tokenization against transformers are
tests/test_convert_parity.py's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convert.model import convert_checkpoint
from tests import tiny_model as tiny
from tests.llama_cpp_converter import convert_with_llama_cpp

pytestmark = pytest.mark.slow

CASES = tiny.LLAMA_CPP_REFERENCE_CASES
TYPES = ("f32", "f16")
#: Keys only one side writes, or writes by another route, and why that is no difference.
NOT_COMPARED = {
    "general.name", "general.file_type", "general.quantization_version", "general.type",
    "general.size_label", "general.basename", "general.finetune",
    # Cove names the pre-tokenizer from the tokenizer itself; the reference is told Cove's
    # name (it recognises only tokenizers it knows by a hash of their token ids).
    "tokenizer.ggml.pre",
}


@pytest.fixture(scope="module")
def converted(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """(case, type) -> (Cove's GGUF, llama.cpp's GGUF), converted once per module."""
    import gguf

    out = tmp_path_factory.mktemp("llama-cpp-parity")
    cache: dict[tuple[str, str], tuple[Path, Path]] = {}

    def get(case: str, out_type: str) -> tuple[Path, Path]:
        if (case, out_type) not in cache:
            folder = tiny.checkpoint(tiny_cache, case)
            ours = convert_checkpoint(folder, out / f"{case}-{out_type}-cove.gguf", out_type)
            field = gguf.GGUFReader(ours).fields.get(gguf.Keys.Tokenizer.PRE)
            pre = field.contents() if field is not None else None
            theirs = convert_with_llama_cpp(folder, out / f"{case}-{out_type}-llama-cpp.gguf", out_type, pre)
            cache[case, out_type] = ours, theirs
        return cache[case, out_type]

    return get


@pytest.mark.parametrize("out_type", TYPES)
@pytest.mark.parametrize("case", CASES)
def test_every_tensor_equals_llama_cpp_converters(converted, case: str, out_type: str) -> None:
    import gguf

    ours, theirs = (
        {t.name: t for t in gguf.GGUFReader(path).tensors} for path in converted(case, out_type)
    )
    assert sorted(ours) == sorted(theirs)
    for name, expected in theirs.items():
        actual = ours[name]
        assert (actual.tensor_type, tuple(actual.shape)) == (expected.tensor_type, tuple(expected.shape)), name
        assert np.array_equal(actual.data, expected.data), name


@pytest.mark.parametrize("case", CASES)
def test_shape_and_vocabulary_keys_equal_llama_cpp_converters(converted, case: str) -> None:
    import gguf

    ours, theirs = (gguf.GGUFReader(path).fields for path in converted(case, "f32"))
    compared = [key for key in theirs if key not in NOT_COMPARED and not key.startswith("GGUF.")]
    assert compared, "the reference wrote no keys"
    differing = [key for key in compared if key not in ours or ours[key].contents() != theirs[key].contents()]
    assert differing == []
