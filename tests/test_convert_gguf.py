"""The converted tiny model, read back: metadata, tensor layout, and a warning-free llama.cpp load."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from assistant.fim import END_OF_TEXT, STARCODER
from assistant.llama_log import warnings_of_llama_cpp

Q = gguf.GGMLQuantizationType


def _field(reader: gguf.GGUFReader, key: str):
    return reader.fields[key].contents()


@pytest.fixture(scope="module")
def reader(tiny_gguf: Path) -> gguf.GGUFReader:
    return gguf.GGUFReader(tiny_gguf)


def test_fim_ids_point_at_the_starcoder_sentinels(reader: gguf.GGUFReader) -> None:
    tokens = _field(reader, gguf.Keys.Tokenizer.LIST)
    keys = {
        gguf.Keys.Tokenizer.FIM_PRE_ID: STARCODER.prefix,
        gguf.Keys.Tokenizer.FIM_SUF_ID: STARCODER.suffix,
        gguf.Keys.Tokenizer.FIM_MID_ID: STARCODER.middle,
        gguf.Keys.Tokenizer.FIM_PAD_ID: STARCODER.pad,
        gguf.Keys.Tokenizer.FIM_REP_ID: STARCODER.repo,
        gguf.Keys.Tokenizer.FIM_SEP_ID: STARCODER.file_sep,
    }
    assert {key: tokens[_field(reader, key)] for key in keys} == keys


def test_end_of_text_is_eos_and_no_bos_is_added(reader: gguf.GGUFReader) -> None:
    tokens = _field(reader, gguf.Keys.Tokenizer.LIST)
    assert tokens[_field(reader, gguf.Keys.Tokenizer.EOS_ID)] == END_OF_TEXT
    assert _field(reader, gguf.Keys.Tokenizer.ADD_BOS) is False


def test_special_tokens_are_control_and_the_rest_normal(reader: gguf.GGUFReader) -> None:
    from assistant.fim import PROJECT_SPECIAL_TOKENS

    tokens = _field(reader, gguf.Keys.Tokenizer.LIST)
    types = _field(reader, gguf.Keys.Tokenizer.TOKEN_TYPE)
    control = {t for t, kind in zip(tokens, types) if kind == gguf.TokenType.CONTROL}
    assert control == set(PROJECT_SPECIAL_TOKENS)
    assert sum(kind == gguf.TokenType.NORMAL for kind in types) == len(tokens) - len(control)


def test_byte_level_bpe_carries_merges_and_the_gpt2_pre_tokenizer(reader: gguf.GGUFReader, tiny_model: Path) -> None:
    import json

    merges = json.loads((tiny_model / "tokenizer.json").read_text())["model"]["merges"]
    assert _field(reader, gguf.Keys.Tokenizer.MODEL) == "gpt2"
    assert _field(reader, gguf.Keys.Tokenizer.PRE) == "gpt-2"
    assert _field(reader, gguf.Keys.Tokenizer.MERGES) == [m if isinstance(m, str) else " ".join(m) for m in merges]


def test_norms_stay_f32_and_shapes_follow_ggml_order(reader: gguf.GGUFReader) -> None:
    tensors = {t.name: t for t in reader.tensors}
    assert tensors["blk.0.attn_norm.weight"].tensor_type == Q.F32
    # ggml lists the row length first: k_proj is (kv_heads * head_dim) x hidden = 32 x 64.
    assert list(tensors["blk.0.attn_k.weight"].shape) == [64, 32]


def test_llama_cpp_loads_it_without_a_warning(tiny_gguf: Path) -> None:
    import llama_cpp

    with warnings_of_llama_cpp() as warnings:
        llama_cpp.Llama(model_path=str(tiny_gguf), n_ctx=64, verbose=True).close()
    assert warnings == []


def test_q_and_k_are_permuted_for_llama_cpp_rope(reader: gguf.GGUFReader, tiny_model: Path) -> None:
    from safetensors.numpy import load_file

    source = load_file(tiny_model / "model.safetensors")["model.layers.0.self_attn.k_proj.weight"]
    written = next(t for t in reader.tensors if t.name == "blk.0.attn_k.weight").data
    # Head 0's rows: transformers keeps halves [0..7 | 8..15]; llama.cpp wants them interleaved.
    np.testing.assert_array_equal(written[0], source[0])
    np.testing.assert_array_equal(written[1], source[8])
    np.testing.assert_array_equal(written[2], source[1])


def test_llama_cpp_reports_the_fim_ids_that_were_written(tiny_gguf: Path, reader: gguf.GGUFReader) -> None:
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(tiny_gguf), n_ctx=64, verbose=False, vocab_only=True)
    vocab = llama_cpp.llama_model_get_vocab(model._model.model)
    reported = {
        gguf.Keys.Tokenizer.FIM_PRE_ID: llama_cpp.llama_vocab_fim_pre(vocab),
        gguf.Keys.Tokenizer.FIM_SUF_ID: llama_cpp.llama_vocab_fim_suf(vocab),
        gguf.Keys.Tokenizer.FIM_MID_ID: llama_cpp.llama_vocab_fim_mid(vocab),
        gguf.Keys.Tokenizer.FIM_PAD_ID: llama_cpp.llama_vocab_fim_pad(vocab),
        gguf.Keys.Tokenizer.FIM_REP_ID: llama_cpp.llama_vocab_fim_rep(vocab),
        gguf.Keys.Tokenizer.FIM_SEP_ID: llama_cpp.llama_vocab_fim_sep(vocab),
    }
    model.close()
    assert reported == {key: _field(reader, key) for key in reported}


def test_general_metadata_names_the_model_and_its_source(reader: gguf.GGUFReader, tiny_model: Path) -> None:
    import hashlib

    from convert.model import SOURCE_HASH_KEY

    digest = hashlib.sha256((tiny_model / "config.json").read_bytes() + (tiny_model / "model.safetensors").read_bytes())
    assert _field(reader, gguf.Keys.General.NAME) == "cove-tiny"
    assert _field(reader, gguf.Keys.General.FILE_TYPE) == gguf.LlamaFileType.ALL_F32
    assert _field(reader, "llama.context_length") == 2048
    assert _field(reader, "llama.rope.freq_base") == 10000.0
    assert _field(reader, SOURCE_HASH_KEY) == digest.hexdigest()


def test_a_sharded_checkpoint_converts_to_the_same_tensors(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    from convert.model import convert_checkpoint

    sharded = tmp_path / "sharded"
    AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).save_pretrained(sharded, max_shard_size="100KB")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(tiny_model / name, sharded / name)
    assert len(list(sharded.glob("model-*.safetensors"))) > 2
    one = {t.name: t.data.tobytes() for t in gguf.GGUFReader(convert_checkpoint(tiny_model, tmp_path / "a.gguf", "f32")).tensors}
    many = {t.name: t.data.tobytes() for t in gguf.GGUFReader(convert_checkpoint(sharded, tmp_path / "b.gguf", "f32")).tensors}
    assert many == one


def test_a_chat_template_is_carried_over(tiny_model: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from convert.model import convert_checkpoint

    folder = Path(shutil.copytree(tiny_model, tmp_path / "chat"))
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": template}))
    reader = gguf.GGUFReader(convert_checkpoint(folder, tmp_path / "chat.gguf", "f32"))
    assert _field(reader, gguf.Keys.Tokenizer.CHAT_TEMPLATE) == template


@pytest.mark.parametrize("out_type", ["f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0"])
def test_every_direct_type_loads_without_a_warning(tiny_model: Path, tmp_path: Path, out_type: str) -> None:
    import llama_cpp

    from convert.model import OUT_TYPES, convert_checkpoint

    path = convert_checkpoint(tiny_model, tmp_path / f"{out_type}.gguf", out_type)
    tensors = {t.name: t.tensor_type for t in gguf.GGUFReader(path).tensors}
    assert tensors["blk.0.ffn_up.weight"] == OUT_TYPES[out_type].weights
    assert tensors["blk.0.ffn_norm.weight"] == Q.F32
    with warnings_of_llama_cpp() as warnings:
        llama_cpp.Llama(model_path=str(path), n_ctx=64, verbose=True).close()
    assert warnings == []
