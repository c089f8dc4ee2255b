"""The bundled model's full-precision weights, kept beside its GGUF so training can continue.

`assistant/models/cove-default/` holds the shipped model as a transformers folder (bf16
safetensors, config, tokenizer: about 12 MB for 5.8M parameters). A later run on any
machine starts from these weights (`TrainConfig.init_from`) instead of from a random
initialisation, and with this tokenizer, so its tokens mean the same.

The recipe writes the folder from the run's own checkpoint when it installs a model.
For a GGUF whose checkpoint is gone, `from_gguf` rebuilds the folder by dequantizing the
GGUF through transformers' loader: those weights carry the GGUF's quantization error
(Q8_0: about 0.4% of each block's largest value), so `cove verify` is run against the GGUF.

    .venv/bin/python -m training.shipped          # rebuild assistant/models/cove-default/ from the GGUF
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from assistant import locations

#: The transformers folder beside the bundled GGUF.
WEIGHTS_DIR = locations.BUNDLED_MODEL.with_suffix("")


def fits(cfg, folder: Path = WEIGHTS_DIR) -> bool:
    """Whether `folder` holds weights of the shape `cfg` (a TrainConfig) builds, so a run can start from them."""
    import json

    if not (folder / "model.safetensors").is_file():
        return False
    config = json.loads((folder / "config.json").read_text())
    shape = {"hidden_size": cfg.dim, "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
             "num_key_value_heads": cfg.n_kv_heads, "intermediate_size": cfg.ffn_dim}
    return all(config.get(key) == value for key, value in shape.items())


def save_bf16(model, tokenizer_dir: Path, out: Path = WEIGHTS_DIR) -> Path:
    """`model` as a bf16 transformers folder with the tokenizer of `tokenizer_dir`, swapped in whole."""
    import torch

    from training.loop import save_model_folder

    state = {name: tensor.to(torch.bfloat16) for name, tensor in model.state_dict().items()}
    model.config.dtype = torch.bfloat16
    return save_model_folder(model, tokenizer_dir, out, state)


def from_gguf(gguf: Path = locations.BUNDLED_MODEL, out: Path = WEIGHTS_DIR) -> Path:
    """Dequantize `gguf` into a bf16 transformers folder (with its tokenizer) at `out`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    del config.quantization_config  # a plain model of the same weights: transformers will not save a GGUF view
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    with tempfile.TemporaryDirectory() as tokenizer_dir:
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tokenizer_dir)
        return save_bf16(model, Path(tokenizer_dir), out)


def main() -> int:
    from convert.verify import sample_files, verify

    out = from_gguf()
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"wrote {out} ({size:.1f} MB)")
    stdlib = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    verdict = verify(out, locations.BUNDLED_MODEL, sample_files([stdlib / "json"], limit=10))
    print("\n".join(verdict.lines()))
    shutil.rmtree(out / ".cache", ignore_errors=True)
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
