"""peft LoRA adapters in llama.cpp: as a GGUF adapter beside the base, and merged with --merge.

The adapter covers every linear layer, q and k included, so a wrong permutation of
B's rows would show in the logits.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest

from assistant.cli import main
from convert.verify import load_llama, logits_ids, logits_of_llama, logits_of_transformers
from tests import tiny_model as tiny

pytestmark = pytest.mark.slow

TOKENS = 96
TEXT = "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n" * 4


@pytest.fixture(scope="module")
def adapter(tiny_cache: Path, tiny_model: Path) -> Path:
    return tiny.cached(tiny_cache, "llama-bpe-lora", lambda folder: tiny.build_lora_adapter(tiny_model, folder))


@pytest.fixture(scope="module")
def adapter_gguf(adapter: Path, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lora") / "adapter.gguf"
    assert main(["convert", str(adapter), "--base", str(tiny_model), "-o", str(out), "--type", "f32"]) == 0
    return out


@pytest.fixture(scope="module")
def ids(tiny_model: Path) -> list[int]:
    from transformers import AutoTokenizer

    return logits_ids(AutoTokenizer.from_pretrained(tiny_model), [TEXT], TOKENS)


@pytest.fixture(scope="module")
def transformers_logits(tiny_model: Path, adapter: Path, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(base, base + adapter) logits from transformers and peft."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    without = logits_of_transformers(base, ids)
    with_adapter = logits_of_transformers(PeftModel.from_pretrained(base, adapter), ids)
    return without, with_adapter


def _llama_logits(model: Path, ids: list[int], lora: Path | None = None) -> np.ndarray:
    llama = load_llama(model, n_ctx=TOKENS, lora=lora)
    logits = logits_of_llama(llama, ids)
    llama.close()
    return logits


def test_the_adapter_is_a_gguf_lora_for_the_base_architecture(adapter_gguf: Path) -> None:
    reader = gguf.GGUFReader(adapter_gguf)
    fields = {key: reader.fields[key].contents() for key in
              (gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.TYPE, gguf.Keys.Adapter.TYPE, gguf.Keys.Adapter.LORA_ALPHA)}
    assert fields == {"general.architecture": "llama", "general.type": "adapter", "adapter.type": "lora",
                      "adapter.lora.alpha": 8.0}
    shapes = {t.name: list(t.shape) for t in reader.tensors}
    # ggml order (row length first): A is r x hidden, B is (kv_heads * head_dim) x r for k.
    assert shapes["blk.0.attn_k.weight.lora_a"] == [64, 4]
    assert shapes["blk.0.attn_k.weight.lora_b"] == [4, 32]
    assert len(shapes) == 2 * len(tiny.LORA_TARGETS) * 2


def test_the_adapter_changes_llama_cpp_logits_as_peft_changes_transformers(
    tiny_gguf: Path, adapter_gguf: Path, ids: list[int], transformers_logits
) -> None:
    without, with_adapter = transformers_logits
    expected_change = with_adapter - without
    change = _llama_logits(tiny_gguf, ids, lora=adapter_gguf) - _llama_logits(tiny_gguf, ids)
    assert np.abs(expected_change).max() > 0.1  # the adapter matters
    assert np.abs(change - expected_change).max() < 1e-4


def test_merge_bakes_the_adapter_into_a_full_model(
    adapter: Path, tiny_model: Path, tmp_path: Path, ids: list[int], transformers_logits
) -> None:
    merged = tmp_path / "merged.gguf"
    assert main(["convert", str(adapter), "--base", str(tiny_model), "--merge", "-o", str(merged), "--type", "f32"]) == 0
    _, with_adapter = transformers_logits
    assert np.abs(_llama_logits(merged, ids) - with_adapter).max() < 1e-4


def test_an_adapter_whose_base_is_not_local_needs_base(adapter: Path, tmp_path: Path, capsys) -> None:
    import shutil

    moved = Path(shutil.copytree(adapter, tmp_path / "adapter"))
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "someone/some-model-on-a-hub"
    (moved / "adapter_config.json").write_text(json.dumps(config))
    assert main(["convert", str(moved), "-o", str(tmp_path / "a.gguf")]) == 2
    assert "pass --base" in capsys.readouterr().err
    assert not (tmp_path / "a.gguf").exists()


def test_dora_adapters_are_refused_with_the_fix(adapter: Path, tiny_model: Path, tmp_path: Path, capsys) -> None:
    import shutil

    moved = Path(shutil.copytree(adapter, tmp_path / "adapter"))
    config = json.loads((moved / "adapter_config.json").read_text())
    config["use_dora"] = True
    (moved / "adapter_config.json").write_text(json.dumps(config))
    assert main(["convert", str(moved), "--base", str(tiny_model), "-o", str(tmp_path / "a.gguf")]) == 2
    assert "merge with --merge" in capsys.readouterr().err
