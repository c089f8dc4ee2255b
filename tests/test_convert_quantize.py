"""Quantization: the project's Q8_0 equals llama.cpp's, and `cove quantize` reports as it goes.

Whole files are not byte-identical, by design: llama.cpp's quantizer writes tensors in
its own order (output, output_norm, token_embd, then each block's tensors sorted by
name) and appends `general.quantization_version` after the copied keys, while the
converter keeps the checkpoint's order. What must match is every tensor's type and
bytes, which is what is compared here.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from assistant.cli import main
from convert.model import convert_checkpoint
from convert.quantize import quantize

Q = gguf.GGMLQuantizationType


def _tensors(path: Path) -> dict[str, tuple[Q, bytes]]:
    return {t.name: (t.tensor_type, np.asarray(t.data).tobytes()) for t in gguf.GGUFReader(path).tensors}


@pytest.fixture(scope="module")
def llama_cpp_q8(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("q8") / "llama-cpp-q8_0.gguf"
    quantize(tiny_gguf, out, "Q8_0", progress=False)
    return out


def test_project_q8_0_is_byte_identical_to_llama_cpp_q8_0(tiny_model: Path, llama_cpp_q8: Path, tmp_path: Path) -> None:
    ours = _tensors(convert_checkpoint(tiny_model, tmp_path / "ours.gguf", "q8_0"))
    theirs = _tensors(llama_cpp_q8)
    assert {name: kind for name, (kind, _) in ours.items()} == {name: kind for name, (kind, _) in theirs.items()}
    assert [name for name in ours if ours[name][1] != theirs[name][1]] == []


def test_gguf_py_q8_0_of_an_f16_file_matches_llama_cpp(tiny_model: Path, tmp_path: Path) -> None:
    f16 = convert_checkpoint(tiny_model, tmp_path / "f16.gguf", "f16")
    quantize(f16, tmp_path / "q8.gguf", "Q8_0", progress=False)
    theirs = _tensors(tmp_path / "q8.gguf")
    for tensor in gguf.GGUFReader(f16).tensors:
        kind, data = theirs[tensor.name]
        if kind == Q.Q8_0:
            ours = gguf.quants.quantize(np.asarray(tensor.data, dtype=np.float32), Q.Q8_0)
            assert ours.tobytes() == data, tensor.name


def test_quantize_command_shows_progress_and_sizes(tiny_gguf: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "q4.gguf"
    assert main(["quantize", str(tiny_gguf), str(out), "--type", "q4_k_m"]) == 0
    captured = capsys.readouterr()
    assert "[21/21]" in captured.err
    mib = 1 << 20
    assert f"{tiny_gguf.stat().st_size / mib:.1f} MiB -> q4.gguf {out.stat().st_size / mib:.1f} MiB" in captured.out
    assert out.stat().st_size < tiny_gguf.stat().st_size / 3


def test_convert_to_a_k_quant_goes_through_llama_cpp(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "q6.gguf"
    assert main(["convert", str(tiny_model), "-o", str(out), "--type", "q6_k"]) == 0
    file_type = gguf.GGUFReader(out).fields[gguf.Keys.General.FILE_TYPE].contents()
    assert file_type == gguf.LlamaFileType.MOSTLY_Q6_K
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q6.gguf"]
