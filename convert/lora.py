"""peft LoRA adapters -> GGUF LoRA adapters for llama.cpp, or merged into a full model.

A GGUF adapter keeps A and B as they are (`blk.N.attn_q.weight.lora_a` is r x in,
`.lora_b` is out x r) under the base model's tensor names; llama.cpp scales B·A by
`adapter.lora.alpha / r`. Because llama.cpp's q/k rows are permuted for its rotary
layout, B of a q or k projection is permuted the same way (A acts on inputs, which
keep their order).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gguf

from assistant.errors import CoveError
from convert import TOKENIZER_FILES
from convert import hparams as hp
from convert.checkpoint import Checkpoint, read_json
from convert.model import OUT_TYPES, convert_checkpoint
from convert.tensor_map import Rotary, TensorMap, family_for, permute_rotary
from assistant.atomic import check_output_folder
from convert.writer import TensorPlan, write_gguf

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
#: peft wraps the base model twice: `base_model.model.` + the transformers name.
PEFT_PREFIX = "base_model.model."
#: Output types an adapter may be written in (llama.cpp applies them to any base type).
ADAPTER_TYPES = ("f32", "f16", "bf16")


def is_adapter(folder: Path) -> bool:
    return (folder / ADAPTER_CONFIG).is_file()


@dataclass(frozen=True)
class AdapterConfig:
    """The parts of adapter_config.json that decide how the adapter converts."""

    #: What llama.cpp's `adapter.lora.alpha` must be for its alpha / r to equal peft's scaling.
    alpha: float
    base: str | None


def read_adapter_config(folder: Path) -> AdapterConfig:
    """adapter_config.json, refusing the peft features llama.cpp cannot apply."""
    config = read_json(folder / ADAPTER_CONFIG, "peft adapter_config.json")
    source = folder / ADAPTER_CONFIG
    unsupported = {
        "peft_type": (config.get("peft_type") != "LORA", "only LoRA adapters convert"),
        "use_dora": (bool(config.get("use_dora")), "DoRA magnitudes have no GGUF form: merge with --merge"),
        "bias": (config.get("bias", "none") != "none", "trained biases have no GGUF LoRA form: merge with --merge"),
        "modules_to_save": (bool(config.get("modules_to_save")), "fully trained modules need --merge"),
        "lora_bias": (bool(config.get("lora_bias")), "LoRA biases have no GGUF LoRA form: merge with --merge"),
        "alpha_pattern": (bool(config.get("alpha_pattern")), "a GGUF adapter has one alpha: merge with --merge"),
        "fan_in_fan_out": (bool(config.get("fan_in_fan_out")), "transposed (Conv1D) layers are not LLaMA/Qwen2 layers"),
    }
    for key, (bad, fix) in unsupported.items():
        if bad:
            raise CoveError(f"{source} sets {key}={config.get(key)!r}: {fix}")
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    if config.get("use_rslora"):
        # llama.cpp scales by alpha / r, so rsLoRA's alpha / sqrt(r) is carried in alpha.
        alpha = alpha * math.sqrt(rank)
    return AdapterConfig(alpha, config.get("base_model_name_or_path"))


def base_folder(adapter: Path, base: Path | None) -> Path:
    """The transformers base checkpoint: --base, or the adapter's base path when it is local."""
    if base is not None:
        return base
    named = read_adapter_config(adapter).base
    if named and Path(named).is_dir():
        return Path(named)
    raise CoveError(
        f"the adapter in {adapter} was trained on {named!r}, which is not a local folder: "
        "pass --base with the transformers checkpoint it was trained on"
    )


def convert_adapter(adapter: Path, base: Path, destination: Path, out_type: str = "f32") -> Path:
    """Write the peft adapter in `adapter` as a GGUF LoRA adapter for the base in `base`."""
    if out_type not in ADAPTER_TYPES:
        raise CoveError(f"a LoRA adapter is written as {', '.join(ADAPTER_TYPES)}, not {out_type}")
    config = read_adapter_config(adapter)
    base_config = read_json(base / "config.json", "base model config.json")
    source = str(base / "config.json")
    family = family_for(base_config.get("architectures"), source)
    hparams = hp.read_hparams(base_config, source, family)
    tmap = TensorMap(family, hparams.block_count)
    if not (adapter / ADAPTER_WEIGHTS).is_file():
        raise CoveError(f"no {ADAPTER_WEIGHTS} in {adapter}: save the adapter with save_pretrained (safetensors)")
    weights = Checkpoint(adapter, (adapter / ADAPTER_WEIGHTS,))
    heads = {Rotary.QUERY: hparams.head_count, Rotary.KEY: hparams.head_count_kv}
    out = OUT_TYPES[out_type]
    plans = []
    for name, info in weights.tensors.items():
        module, part = _split_lora_name(name, adapter)
        mapped = tmap.map(module + ".weight", str(adapter / ADAPTER_WEIGHTS))

        def load(name: str = name, part: str = part, rotary: Rotary = mapped.rotary):
            data = weights.read(name)
            if part == "lora_b" and rotary is not Rotary.NONE:
                data = permute_rotary(data, heads[rotary])
            return data

        qtype = gguf.GGMLQuantizationType.F32 if len(info.shape) < 2 else out.weights
        plans.append(TensorPlan(f"{mapped.gguf_name}.{part}", info.shape, qtype, load))

    def metadata(writer: gguf.GGUFWriter) -> None:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, config.alpha)
        writer.add_name(adapter.resolve().name)
        writer.add_file_type(out.file_type)

    write_gguf(destination, family.arch_name, metadata, plans)
    return destination


def _split_lora_name(name: str, adapter: Path) -> tuple[str, str]:
    """`base_model.model.X.lora_A.weight` -> (`X`, `lora_a`); anything else is refused by name."""
    for marker, part in ((".lora_A.weight", "lora_a"), (".lora_B.weight", "lora_b")):
        if name.startswith(PEFT_PREFIX) and name.endswith(marker):
            return name[len(PEFT_PREFIX):-len(marker)], part
    raise CoveError(
        f"unknown tensor {name!r} in {adapter / ADAPTER_WEIGHTS}: only LoRA A/B matrices of linear layers "
        "convert to a GGUF adapter (use --merge for anything else)"
    )


def merge_adapter(adapter: Path, base: Path, destination: Path, out_type: str = "f16") -> Path:
    """Bake the adapter into its base with peft (`merge_and_unload`) and convert the result."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    check_output_folder(destination)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    with tempfile.TemporaryDirectory(prefix=".cove-merge-", dir=destination.parent) as temp:
        folder = Path(temp)
        merged.save_pretrained(folder)
        for name in TOKENIZER_FILES:
            if (base / name).is_file():
                shutil.copy2(base / name, folder / name)
        return convert_checkpoint(folder, destination, out_type, name=f"{base.resolve().name}+{adapter.resolve().name}")
