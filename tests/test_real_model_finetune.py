"""Gemma 3 270M's real weights through fine-tuning: its Q4_K_M GGUF dequantized into a
float transformers folder and converted back by Cove, and `cove finetune` end to end
with the GGUF as base (LoRA, merged, converted, verified, quantized, registered), then
`cove complete` in the repository on the registered model.

Tolerances: the round trip is compared with the original's weights computed in f32 (the
GGUF dequantized in place by gguf-py, metadata unchanged): the same numbers, so the
logits must agree to f32 rounding (measured: identical). Against the Q4_K_M file itself
only the top token is judged: llama.cpp's Q4_K/Q6_K matrix products quantize the
activations to 8 bits, which moves logits by up to ~5 (of ~36) and changes the top token
at ~5% of positions (measured 95.3% agreement on 256 tokens).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from convert.model import convert_checkpoint
from convert.verify import compare_logits, load_llama, logits_of_llama, sample_files
from test_training_helpers import code_file, write_repo
from training.finetune import base_folder

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

COVE = [sys.executable, "-m", "assistant"]
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SAMPLE_FILES = 100
LOGITS_TOKENS = 256
#: What the short end-to-end run is allowed: a minute of training on short rows, no replay
#: (its held-out bits per byte alone, a transformers forward pass over ~36 standard-library
#: files, took minutes before and again after training).
FINETUNE = ("--minutes", "1", "--method", "lora", "--no-progress", "--set", "seq_len=128", "--set", "global_batch=4",
            "--set", "micro_batch=4", "--set", "report_line_tasks=3", "--set", "replay_share=0",
            "--set", "eval_every=1000", "--set", "ckpt_every=1000", "--set", "threads=2")


def dequantized_copy(source: Path, destination: Path) -> Path:
    """`source` with every tensor dequantized to f32 by gguf-py, its metadata as it was."""
    import gguf

    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(destination, reader.get_field(gguf.Keys.General.ARCHITECTURE).contents())
    skipped = {gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.FILE_TYPE, gguf.Keys.General.QUANTIZATION_VERSION}
    for field in reader.fields.values():
        if field.name not in skipped and not field.name.startswith("GGUF."):
            kind = field.types[0]
            writer.add_key_value(field.name, field.contents(), kind,
                                 sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return destination


def same_tokens(first: Path, second: Path, texts: dict[str, str]) -> list[str]:
    """The texts the two GGUFs tokenize differently (special tokens disabled, as the editor does)."""
    a, b = load_llama(first, n_ctx=64, vocab_only=True), load_llama(second, n_ctx=64, vocab_only=True)
    differ = [name for name, text in texts.items()
              if a.tokenize(text.encode(), add_bos=False, special=False) != b.tokenize(text.encode(), add_bos=False, special=False)]
    a.close()
    b.close()
    return differ


@pytest.fixture(scope="module")
def samples() -> dict[str, str]:
    return sample_files([STDLIB], SAMPLE_FILES)


@pytest.fixture(scope="module")
def round_trip(gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M: GGUF -> float folder -> Cove's f32 GGUF."""
    run = tmp_path_factory.mktemp("gemma-round-trip")
    return convert_checkpoint(base_folder(gemma_gguf, run, reuse=False), run / "gemma-f32.gguf", "f32")


def test_real_weights_come_back_as_the_same_numbers(gemma_gguf: Path, round_trip: Path, samples, tmp_path: Path):
    original = load_llama(dequantized_copy(gemma_gguf, tmp_path / "dequantized.gguf"), n_ctx=LOGITS_TOKENS)
    returned, quantized = load_llama(round_trip, n_ctx=LOGITS_TOKENS), load_llama(gemma_gguf, n_ctx=LOGITS_TOKENS)
    ids = original.tokenize(" ".join(samples.values()).encode(), add_bos=True, special=False)[:LOGITS_TOKENS]
    expected = logits_of_llama(original, ids)
    assert compare_logits(expected, logits_of_llama(returned, ids)).max_abs <= 1e-4
    assert compare_logits(logits_of_llama(quantized, ids), expected).top1 >= 0.9
    for model in (original, returned, quantized):
        model.close()


def test_the_round_trip_tokenizes_as_the_original(gemma_gguf: Path, round_trip: Path, samples) -> None:
    assert same_tokens(gemma_gguf, round_trip, samples) == []


@pytest.fixture(scope="module")
def finetuned(gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    """`cove finetune REPO --base gemma.gguf` with a short budget: (repository, report, output)."""
    root = tmp_path_factory.mktemp("gemma-finetune")
    repository = write_repo(root / "repo", {f"app/m{i}.py": code_file(f"module{i}", lines=16 + i % 5) for i in range(16)})
    env = {**os.environ, "COVE_CONFIG": os.devnull, "COVE_MODEL": ""}
    done = subprocess.run([*COVE, "finetune", str(repository), "--base", str(gemma_gguf), "--out", str(root / "run"),
                           *FINETUNE], capture_output=True, text=True, env=env, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return repository, json.loads((root / "run" / "report.json").read_text()), root / "run"


def test_finetune_on_a_gemma_gguf_ends_in_a_registered_model(finetuned) -> None:
    repository, report, run = finetuned
    assert report["training"]["method"] == "lora" and report["training"]["steps"] >= 1
    assert report["registered"] == [str(repository.resolve())]
    assert Path(report["model"]).is_file() and Path(report["model"]).parent == run


def test_the_finetuned_gguf_tokenizes_as_its_base(gemma_gguf: Path, finetuned, samples) -> None:
    _, report, _ = finetuned
    assert same_tokens(gemma_gguf, Path(report["model"]), samples) == []


def test_cove_complete_in_the_repository_uses_the_finetuned_model(gemma_gguf: Path, finetuned) -> None:
    repository, _, _ = finetuned
    source = repository / "app" / "new.py"
    source.write_text("def compute_new(value, offset_0=0):\n    total = value * 2\n    return ")
    env = {**os.environ, "COVE_CONFIG": os.devnull, "COVE_MODEL": ""}
    done = subprocess.run([*COVE, "complete", str(source), "--line", "3", "--col", "12", "--json",
                           "--min-confidence", "0"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"] == f"{gemma_gguf.stem}+{repository.name}"
