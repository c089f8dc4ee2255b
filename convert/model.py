"""A transformers checkpoint folder -> one GGUF model file.

Reads the folder's config, tokenizer and weights, plans every output tensor (name,
shape, type) before reading any data, then streams them through the writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from assistant.errors import CoveError
from convert import hparams as hp
from convert.checkpoint import Checkpoint, read_json
from convert.tensor_map import Family, Rotary, TensorMap, family_for, permute_rotary
from convert.tokenizer import gguf_vocab, read_vocab, vocab_size_of, write_vocab, write_vocab_fields
from convert.writer import TensorPlan, write_gguf

Q = gguf.GGMLQuantizationType
FT = gguf.LlamaFileType

#: Project key tying a GGUF to the exact source files it was made from (SHA-256).
SOURCE_HASH_KEY = "cove.source.sha256"


@dataclass(frozen=True)
class OutType:
    """A whole-file output type the converter writes itself (gguf-py's numpy encoders)."""

    file_type: gguf.LlamaFileType
    #: Type of 2-D weight matrices; 1-D tensors (norms, biases) always stay f32.
    weights: gguf.GGMLQuantizationType


OUT_TYPES: dict[str, OutType] = {
    "f32": OutType(FT.ALL_F32, Q.F32),
    "f16": OutType(FT.MOSTLY_F16, Q.F16),
    "bf16": OutType(FT.MOSTLY_BF16, Q.BF16),
    "q8_0": OutType(FT.MOSTLY_Q8_0, Q.Q8_0),
    "q5_1": OutType(FT.MOSTLY_Q5_1, Q.Q5_1),
    "q5_0": OutType(FT.MOSTLY_Q5_0, Q.Q5_0),
    "q4_1": OutType(FT.MOSTLY_Q4_1, Q.Q4_1),
    "q4_0": OutType(FT.MOSTLY_Q4_0, Q.Q4_0),
}

#: Types that fall back to f16 when a row does not fill whole quantization blocks.
_FALLBACK = Q.F16


def tensor_type(shape: tuple[int, ...], out: OutType) -> gguf.GGMLQuantizationType:
    """The type one tensor is stored as: 1-D in f32, matrices in the output type."""
    if len(shape) < 2:
        return Q.F32
    block, _ = gguf.GGML_QUANT_SIZES[out.weights]
    return out.weights if shape[-1] % block == 0 else _FALLBACK


def _required(family: Family, tmap: TensorMap, checkpoint: Checkpoint, hparams: hp.HParams) -> None:
    """Refuse a checkpoint that lacks a tensor llama.cpp will need."""
    present = {m.gguf_name for name in checkpoint.tensors if (m := tmap.map(name, str(checkpoint.folder)))}
    names = [
        gguf.TENSOR_NAMES[row.tensor].format(bid=bid) + ".weight"
        for row in family.rows if not (hparams.tie_word_embeddings and row.tensor == gguf.MODEL_TENSOR.OUTPUT)
        for bid in (range(hparams.block_count) if "{bid}" in row.hf else [None])
    ]
    missing = [n for n in names if n not in present]
    if missing:
        raise CoveError(
            f"the checkpoint in {checkpoint.folder} lacks {len(missing)} tensor(s) a {family.name} model needs "
            f"(first: {missing[0]}): it is incomplete, save it again"
        )


def plan_tensors(checkpoint: Checkpoint, family: Family, hparams: hp.HParams, out: OutType) -> list[TensorPlan]:
    """Every output tensor, in checkpoint order, with how to read and transform it."""
    tmap = TensorMap(family, hparams.block_count)
    _required(family, tmap, checkpoint, hparams)
    heads = {Rotary.QUERY: hparams.head_count, Rotary.KEY: hparams.head_count_kv}
    plans = []
    for name, info in checkpoint.tensors.items():
        mapped = tmap.map(name, str(checkpoint.folder))
        if mapped is None:
            continue

        qtype = tensor_type(info.shape, out)
        # f16 output is read as f16 directly: no f32 copy of the largest tensor in memory.
        dtype = np.float16 if qtype == Q.F16 else np.float32

        def load(name: str = name, rotary: Rotary = mapped.rotary, shift: float = mapped.shift,
                 dtype: type = dtype) -> np.ndarray:
            data = checkpoint.read(name, dtype)
            if shift:  # only norms, which are 1-D and so read and stored in f32
                data = data + np.float32(shift)
            return permute_rotary(data, heads[rotary]) if rotary is not Rotary.NONE else data

        plans.append(TensorPlan(mapped.gguf_name, info.shape, qtype, load))
    return plans


def convert_checkpoint(
    folder: Path,
    destination: Path,
    out_type: str = "f16",
    name: str | None = None,
    license: str | None = None,
    progress: bool = False,
) -> Path:
    """Convert a transformers checkpoint folder (weights + tokenizer) to a GGUF file."""
    out = OUT_TYPES[out_type]
    checkpoint = Checkpoint.open(folder)
    source = str(folder / "config.json")
    config = read_json(folder / "config.json", "transformers config.json")
    family = family_for(config.get("architectures"), source)
    hparams = hp.read_hparams(config, source, family)
    kept = gguf_vocab(folder)  # a folder dequantized from a GGUF keeps that GGUF's vocabulary
    if kept is not None and vocab_size_of(kept) != hparams.vocab_size:
        raise CoveError(f"{folder}/tokenizer.gguf has {vocab_size_of(kept)} tokens and config.json says "
                        f"vocab_size {hparams.vocab_size}: they belong to different models")
    vocab = read_vocab(folder, hparams.vocab_size) if kept is None else None
    plans = plan_tensors(checkpoint, family, hparams, out)

    def metadata(writer: gguf.GGUFWriter) -> None:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(name or folder.resolve().name)
        if license:
            writer.add_license(license)
        writer.add_string(SOURCE_HASH_KEY, checkpoint.source_hash())
        writer.add_file_type(out.file_type)
        if out.weights not in (Q.F32, Q.F16, Q.BF16):
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        hp.write_hparams(writer, hparams)
        if vocab is not None:
            write_vocab(writer, vocab)
        else:
            write_vocab_fields(writer, kept)

    write_gguf(destination, family.arch_name, metadata, plans, progress=progress)
    return destination
