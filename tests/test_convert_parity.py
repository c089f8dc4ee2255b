"""Converted models match their transformers source: tokens on real files, logits per type.

Every family (LLaMA, Qwen2, Gemma 3, StarCoder2) and both tokenizer kinds (byte-level
BPE, SentencePiece) are built tiny and random, converted by the project's converter, and compared with
transformers through the same functions `cove verify` uses.
"""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path

import pytest

from convert.model import convert_checkpoint
from convert.verify import (
    GELU_MAX_ABS, compare_logits, compare_tokens, load_llama, logits_ids, logits_of_llama, logits_of_transformers, sample_files,
)
from tests import tiny_model as tiny

pytestmark = pytest.mark.slow

#: "A few hundred real source files": the standard library, in a stable order.
SAMPLE_FILES = 300
#: (model family, tokenizer kind) of every tiny checkpoint compared here.
CASES = tiny.CASES
LOGITS_TOKENS = 128
#: The issue's acceptance thresholds for the largest logit difference.
MAX_ABS = {"f32": 1e-4, "f16": 1e-2}


def max_abs(case: str, out_type: str) -> float:
    """MAX_ABS, plus `cove verify`'s allowance for GELU families (llama.cpp's f16 GELU table)."""
    from convert.tensor_map import FAMILIES

    gelu = any(f.gelu and f.name == CASES[case][0] for f in FAMILIES)
    return MAX_ABS[out_type] + GELU_MAX_ABS if gelu else MAX_ABS[out_type]


@pytest.fixture(scope="module")
def samples() -> dict[str, str]:
    found = sample_files([Path(sysconfig.get_paths()["stdlib"])], SAMPLE_FILES)
    assert len(found) == SAMPLE_FILES
    return found


def _checkpoint(tiny_cache: Path, case: str) -> Path:
    if CASES[case][1].endswith("spm"):
        pytest.importorskip("sentencepiece", reason="SentencePiece tokenizers need the sentencepiece package")
    return tiny.checkpoint(tiny_cache, case)


def _class_swapped(tiny_cache: Path, tiny_model: Path) -> Path:
    """tiny_model's GPT-2-style tokenizer.json, but declared a Qwen2Tokenizer, which
    transformers 5 loads with Qwen2's own pre-tokenizer (REFERENCE.md trap)."""

    def build(folder: Path) -> None:
        shutil.copytree(tiny_model, folder, dirs_exist_ok=True)
        config = json.loads((folder / "tokenizer_config.json").read_text())
        config["tokenizer_class"] = "Qwen2Tokenizer"
        (folder / "tokenizer_config.json").write_text(json.dumps(config))

    return tiny.cached(tiny_cache, "llama-bpe-as-qwen2-class", build)


@pytest.fixture(scope="module")
def converted(tiny_cache: Path, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """case -> (checkpoint folder, {type: gguf path}), converted once per module."""
    out = tmp_path_factory.mktemp("parity")
    cache: dict[str, tuple[Path, dict[str, Path]]] = {}

    def get(case: str) -> tuple[Path, dict[str, Path]]:
        if case not in cache:
            folder = _class_swapped(tiny_cache, tiny_model) if case == "class-swapped" else _checkpoint(tiny_cache, case)
            cache[case] = folder, {t: convert_checkpoint(folder, out / f"{case}-{t}.gguf", t) for t in MAX_ABS}
        return cache[case]

    return get


@pytest.mark.parametrize("case", [*CASES, "class-swapped"])
def test_tokenization_is_identical_on_hundreds_of_real_files(converted, case: str, samples: dict[str, str]) -> None:
    from transformers import AutoTokenizer

    folder, ggufs = converted(case)
    llama = load_llama(ggufs["f32"], n_ctx=64)
    report = compare_tokens(AutoTokenizer.from_pretrained(folder), llama, samples)
    llama.close()
    assert report.files == SAMPLE_FILES
    assert report.mismatches == []


def test_a_substituted_pre_tokenizer_is_what_the_gguf_names(converted) -> None:
    import gguf

    _, ggufs = converted("class-swapped")
    assert gguf.GGUFReader(ggufs["f32"]).fields[gguf.Keys.Tokenizer.PRE].contents() == "qwen2"


@pytest.mark.parametrize("out_type", list(MAX_ABS))
@pytest.mark.parametrize("case", list(CASES))
def test_logits_match_transformers(converted, case: str, out_type: str, samples: dict[str, str]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, ggufs = converted(case)
    ids = logits_ids(AutoTokenizer.from_pretrained(folder), samples.values(), LOGITS_TOKENS)
    expected = logits_of_transformers(AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32), ids)
    llama = load_llama(ggufs[out_type], n_ctx=LOGITS_TOKENS)
    report = compare_logits(expected, logits_of_llama(llama, ids))
    llama.close()
    assert report.tokens == LOGITS_TOKENS
    assert report.max_abs < max_abs(case, out_type)


def test_sentencepiece_vocabularies_keep_scores_bytes_and_bos(converted) -> None:
    import gguf

    from assistant.fim import PROJECT_SPECIAL_TOKENS

    _, ggufs = converted("llama-spm")
    fields = gguf.GGUFReader(ggufs["f32"]).fields
    field = {key: fields[key].contents() for key in fields if key.startswith("tokenizer.")}.__getitem__
    tokens, types = field(gguf.Keys.Tokenizer.LIST), field(gguf.Keys.Tokenizer.TOKEN_TYPE)
    assert field(gguf.Keys.Tokenizer.MODEL) == "llama"
    assert field(gguf.Keys.Tokenizer.ADD_BOS) is True
    assert tokens[field(gguf.Keys.Tokenizer.BOS_ID)] == "<s>"
    assert len(field(gguf.Keys.Tokenizer.SCORES)) == len(tokens)
    assert sum(kind == gguf.TokenType.BYTE for kind in types) == 256
    control = {t for t, kind in zip(tokens, types) if kind == gguf.TokenType.CONTROL}
    assert control == {"<s>", "</s>", *PROJECT_SPECIAL_TOKENS} - {"<|endoftext|>"}


def test_tied_embeddings_need_no_output_tensor(tiny_cache: Path, tmp_path: Path, samples: dict[str, str]) -> None:
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = _checkpoint(tiny_cache, "qwen2-bpe")
    tied = tmp_path / "tied"
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, tie_word_embeddings=True)
    model.tie_weights()  # lm_head becomes the embedding, and save_pretrained stores it once
    model.save_pretrained(tied)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(source / name, tied / name)
    path = convert_checkpoint(tied, tmp_path / "tied.gguf", "f32")
    assert "output.weight" not in {t.name for t in gguf.GGUFReader(path).tensors}
    ids = logits_ids(AutoTokenizer.from_pretrained(tied), samples.values(), LOGITS_TOKENS)
    expected = logits_of_transformers(AutoModelForCausalLM.from_pretrained(tied, dtype=torch.float32), ids)
    llama = load_llama(path, n_ctx=LOGITS_TOKENS)
    assert compare_logits(expected, logits_of_llama(llama, ids)).max_abs < MAX_ABS["f32"]
    llama.close()
