"""Bad input to `cove convert` / `cove quantize`: one line naming the problem, exit 2, no output file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.cli import main
from convert.checkpoint import Checkpoint
from convert.model import convert_checkpoint

WEIGHTS = "model.safetensors"


@pytest.fixture
def broken(tiny_model: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny checkpoint for a test to damage."""
    return Path(shutil.copytree(tiny_model, tmp_path / "checkpoint"))


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _convert_fails(checkpoint: Path, out_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """Run `cove convert`; assert exit 2, a single error line and an untouched output folder."""
    code = main(["convert", str(checkpoint), "-o", str(out_dir / "model.gguf"), "--type", "f32", *extra])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(error) == 1 and error[0].startswith("cove: error: ")
    assert list(out_dir.iterdir()) == []
    return error[0]


def test_corrupt_safetensors_header_is_reported(broken: Path, out_dir: Path, capsys) -> None:
    data = bytearray((broken / WEIGHTS).read_bytes())
    data[8:40] = b"{not json at all!" + b"\0" * 15
    (broken / WEIGHTS).write_bytes(bytes(data))
    assert "corrupt or truncated" in _convert_fails(broken, out_dir, capsys)


def test_truncated_safetensors_is_reported(broken: Path, out_dir: Path, capsys) -> None:
    data = (broken / WEIGHTS).read_bytes()
    (broken / WEIGHTS).write_bytes(data[: len(data) // 2])
    assert f"{WEIGHTS} is not a readable safetensors file" in _convert_fails(broken, out_dir, capsys)


def test_an_unknown_tensor_is_named(broken: Path, out_dir: Path, capsys) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(broken / WEIGHTS)
    tensors["model.layers.0.mlp.extra_proj.weight"] = torch.zeros(4, 4)
    save_file(tensors, broken / WEIGHTS, metadata={"format": "pt"})
    assert "'model.layers.0.mlp.extra_proj.weight'" in _convert_fails(broken, out_dir, capsys)


def test_a_missing_tensor_is_named(broken: Path, out_dir: Path, capsys) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(broken / WEIGHTS)
    del tensors["model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, broken / WEIGHTS, metadata={"format": "pt"})
    assert "blk.1.ffn_up.weight" in _convert_fails(broken, out_dir, capsys)


def test_an_unsupported_architecture_is_named(broken: Path, out_dir: Path, capsys) -> None:
    config = json.loads((broken / "config.json").read_text())
    config["architectures"] = ["GPTNeoXForCausalLM"]
    (broken / "config.json").write_text(json.dumps(config))
    message = _convert_fails(broken, out_dir, capsys)
    assert "GPTNeoXForCausalLM" in message and "LlamaForCausalLM" in message


def test_a_pre_tokenizer_llama_cpp_cannot_reproduce_is_refused(broken: Path, out_dir: Path, capsys) -> None:
    tokenizer = json.loads((broken / "tokenizer.json").read_text())
    tokenizer["pre_tokenizer"]["add_prefix_space"] = True
    (broken / "tokenizer.json").write_text(json.dumps(tokenizer))
    assert "not one llama.cpp reproduces" in _convert_fails(broken, out_dir, capsys)


def test_a_shard_missing_from_the_index_is_named(broken: Path, out_dir: Path, capsys) -> None:
    from safetensors.torch import load_file

    names = load_file(broken / WEIGHTS).keys()
    index = {"metadata": {}, "weight_map": {name: "model-00001-of-00002.safetensors" for name in names}}
    (broken / "model.safetensors.index.json").write_text(json.dumps(index))
    assert "model-00001-of-00002.safetensors" in _convert_fails(broken, out_dir, capsys)


def test_a_failed_conversion_keeps_the_previous_file(broken: Path, out_dir: Path, capsys) -> None:
    (broken / WEIGHTS).write_bytes(b"garbage")
    previous = out_dir / "model.gguf"
    previous.write_bytes(b"the model that was there before")
    code = main(["convert", str(broken), "-o", str(previous)])
    assert code == 2
    assert previous.read_bytes() == b"the model that was there before"
    assert list(out_dir.iterdir()) == [previous]


def test_an_interrupted_conversion_leaves_no_partial_file(
    tiny_model: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = Checkpoint.read
    calls = []

    def interrupted_read(self: Checkpoint, name: str, *args):
        calls.append(name)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return read(self, name, *args)

    monkeypatch.setattr(Checkpoint, "read", interrupted_read)
    with pytest.raises(KeyboardInterrupt):
        convert_checkpoint(tiny_model, out_dir / "model.gguf", "f32")
    assert list(out_dir.iterdir()) == []


def test_quantize_refuses_a_file_that_is_not_gguf(tmp_path: Path, out_dir: Path, capsys) -> None:
    source = tmp_path / "model.gguf"
    source.write_bytes(b"PK\x03\x04 a zip, not a model")
    code = main(["quantize", str(source), str(out_dir / "q.gguf"), "--type", "Q8_0"])
    assert code == 2
    assert "is not a GGUF file" in capsys.readouterr().err
    assert list(out_dir.iterdir()) == []


def test_quantize_explains_why_llama_cpp_refused(tiny_gguf: Path, out_dir: Path, capsys) -> None:
    q8 = out_dir / "q8.gguf"
    assert main(["quantize", str(tiny_gguf), str(q8), "--type", "Q8_0"]) == 0
    capsys.readouterr()
    code = main(["quantize", str(q8), str(out_dir / "q4.gguf"), "--type", "Q4_0"])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert "requantizing from type q8_0 is disabled" in error[-1]
    assert sorted(out_dir.iterdir()) == [q8]


def test_a_gemma3_query_scale_llama_cpp_does_not_apply_is_refused(tiny_cache: Path, tmp_path: Path, out_dir: Path,
                                                                  capsys) -> None:
    from tests import tiny_model as tiny

    gemma = Path(shutil.copytree(tiny.checkpoint(tiny_cache, "gemma3-spm"), tmp_path / "gemma"))
    config = json.loads((gemma / "config.json").read_text())
    config["query_pre_attn_scalar"] = 256  # transformers' default, not the head size (16)
    (gemma / "config.json").write_text(json.dumps(config))
    capsys.readouterr()  # the checkpoint's build, when it is not cached yet
    assert "scales queries by 1/sqrt(256), and llama.cpp's gemma3 by 1/sqrt(16)" in _convert_fails(gemma, out_dir, capsys)
