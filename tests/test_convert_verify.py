"""`cove verify`: a verdict with its thresholds, PASS for a faithful GGUF, FAIL otherwise."""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path

import pytest

from assistant.cli import main
from convert.model import convert_checkpoint
from tests import tiny_model as tiny

pytestmark = pytest.mark.slow

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SAMPLES = [str(STDLIB / name) for name in ("textwrap.py", "shlex.py", "string.py", "json/encoder.py")]


def _verify(checkpoint: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["verify", str(checkpoint), str(model), "--samples", *SAMPLES, "--logits-tokens", "64"])
    return code, capsys.readouterr().out.splitlines()


def test_a_faithful_conversion_passes(tiny_model: Path, tiny_gguf: Path, capsys) -> None:
    code, lines = _verify(tiny_model, tiny_gguf, capsys)
    assert code == 0
    assert lines[0].startswith(f"tokens: {len(SAMPLES)} files") and lines[0].endswith(f"identical in {len(SAMPLES)}/{len(SAMPLES)} files")
    assert "(threshold 1.00e-04 for logits up to" in lines[1] and "top-1 agreement 100.0% (threshold 99%)" in lines[1]
    assert lines[-1] == "verdict: PASS (thresholds for ALL_F32)"


def test_changed_weights_fail_on_logits(tiny_model: Path, tmp_path: Path, capsys) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    changed = Path(shutil.copytree(tiny_model, tmp_path / "changed"))
    tensors = load_file(changed / "model.safetensors")
    tensors["model.layers.1.mlp.down_proj.weight"] += 0.01 * torch.randn_like(tensors["model.layers.1.mlp.down_proj.weight"])
    save_file(tensors, changed / "model.safetensors", metadata={"format": "pt"})
    code, lines = _verify(tiny_model, convert_checkpoint(changed, tmp_path / "changed.gguf", "f32"), capsys)
    assert code == 1
    assert lines[0].endswith(f"identical in {len(SAMPLES)}/{len(SAMPLES)} files")
    assert lines[-1] == "verdict: FAIL (thresholds for ALL_F32)"


def test_a_different_pre_tokenizer_fails_on_tokens(tiny_model: Path, tmp_path: Path, capsys) -> None:
    other = Path(shutil.copytree(tiny_model, tmp_path / "other"))
    config = json.loads((other / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "Qwen2Tokenizer"  # transformers then splits with Qwen2's regex
    (other / "tokenizer_config.json").write_text(json.dumps(config))
    code, lines = _verify(tiny_model, convert_checkpoint(other, tmp_path / "other.gguf", "f32"), capsys)
    assert code == 1
    assert any(line.startswith("  differs: ") for line in lines)
    assert lines[-1].startswith("verdict: FAIL")


@pytest.mark.parametrize("scale, passes", [(5.0, False), (30.0, True)])
def test_the_f16_logit_bound_grows_with_the_logits(scale: float, passes: bool) -> None:
    """f16 keeps relative precision: 1.5e-2 is too far off for logits up to 5, not for logits up to 30."""
    from gguf import LlamaFileType

    from convert.verify import THRESHOLDS, LogitsReport, TokenReport, Verdict

    logits = LogitsReport(tokens=256, max_abs=1.5e-2, top1=1.0, scale=scale)
    assert Verdict(TokenReport(), logits, THRESHOLDS[LlamaFileType.MOSTLY_F16], "MOSTLY_F16").passed is passes


@pytest.mark.parametrize("case", tiny.LLAMA_CPP_REFERENCE_CASES)
def test_gemma3_and_starcoder2_verify_before_and_after_quantization(tiny_cache: Path, case: str, tmp_path: Path,
                                                                     capsys) -> None:
    checkpoint = tiny.checkpoint(tiny_cache, case)
    f16, q4 = tmp_path / "f16.gguf", tmp_path / "q4_k_m.gguf"
    assert main(["convert", str(checkpoint), "-o", str(f16), "--type", "f16"]) == 0
    assert main(["quantize", str(f16), str(q4), "--type", "q4_k_m"]) == 0
    capsys.readouterr()
    code, lines = _verify(checkpoint, f16, capsys)
    assert (code, lines[-1]) == (0, "verdict: PASS (thresholds for MOSTLY_F16)")
    code, lines = _verify(checkpoint, q4, capsys)
    assert (code, lines[-1]) == (0, "verdict: PASS (thresholds for MOSTLY_Q4_K_M)")
