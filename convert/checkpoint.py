"""Safetensors weights read lazily, single or sharded, and the JSON files beside them.

Tensors are opened memory-mapped and read one at a time, so converting a model needs
memory for about one tensor, not the model. Every way a folder can be unreadable (no
weights, a corrupt or truncated file, a shard the index names but lacks, bad JSON)
becomes one CoveError that says which file and what to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import CoveError

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from `path`, or an error naming the file."""
    if not path.is_file():
        raise CoveError(f"{path} is missing: a {what} must be next to the weights")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CoveError(f"{path} is not valid JSON ({error}): re-export the {what}") from None
    if not isinstance(data, dict):
        raise CoveError(f"{path} is not a JSON object: re-export the {what}")
    return data


def _torch_dtypes() -> dict[np.dtype, Any]:
    """numpy dtype -> torch dtype (torch is imported only when tensors are read)."""
    import torch

    return {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16}


@dataclass(frozen=True)
class TensorInfo:
    """What the safetensors header says about one tensor (no data read)."""

    name: str
    shape: tuple[int, ...]
    file: Path


class Checkpoint:
    """Weights of a folder written by `save_pretrained`, read tensor by tensor."""

    def __init__(self, folder: Path, weights: tuple[Path, ...]):
        self.folder = folder
        self.files = weights
        self.tensors: dict[str, TensorInfo] = {}
        for file in weights:
            with self._open(file) as handle:
                for name in handle.keys():
                    shape = tuple(handle.get_slice(name).get_shape())
                    self.tensors[name] = TensorInfo(name, shape, file)

    @classmethod
    def open(cls, folder: Path, single: str = SINGLE, index: str = INDEX) -> "Checkpoint":
        """The checkpoint in `folder`: `single` or the shards listed by `index`."""
        if folder.suffix == ".gguf" and folder.is_file():
            raise CoveError(f"{folder} is already a GGUF file: `cove quantize` changes its type; "
                            "`cove convert` takes a transformers checkpoint folder")
        if not folder.is_dir():
            raise CoveError(f"{folder} is not a folder: give the directory written by save_pretrained")
        if (folder / index).is_file():
            weight_map = read_json(folder / index, "safetensors index").get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise CoveError(f"{folder / index} has no weight_map: re-save the checkpoint")
            files = tuple(folder / name for name in dict.fromkeys(weight_map.values()))
            for file in files:
                if not file.is_file():
                    raise CoveError(f"shard {file} listed in {index} is missing: copy the whole checkpoint folder")
            return cls(folder, files)
        if (folder / single).is_file():
            return cls(folder, (folder / single,))
        if any(folder.glob("*.bin")):
            raise CoveError(
                f"{folder} holds PyTorch .bin weights: re-save with save_pretrained(safe_serialization=True) "
                "to get safetensors"
            )
        raise CoveError(f"no {single} or {index} in {folder}: give a transformers checkpoint saved as safetensors")

    def _open(self, file: Path) -> Any:
        from safetensors import SafetensorError, safe_open

        try:
            handle = safe_open(str(file), framework="pt")
        except (SafetensorError, OSError, ValueError) as error:
            detail = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CoveError(
                f"{file} is not a readable safetensors file ({detail}): it is corrupt or truncated, copy or save it again"
            ) from None
        return handle

    def read(self, name: str, dtype: type[np.floating] = np.float32) -> np.ndarray:
        """One tensor as numpy `dtype`, converted by torch straight from the stored type.

        The file is mapped only while the tensor is read: a mapping held open keeps every
        page read so far counted in the process's memory, which grows to the model size.
        """
        with self._open(self.tensors[name].file) as handle:
            tensor = handle.get_tensor(name)
        return tensor.to(_torch_dtypes()[np.dtype(dtype)]).numpy()

    def source_hash(self) -> str:
        """SHA-256 over the config.json beside the weights and the weight files, to tie a
        GGUF to its exact source."""
        digest = hashlib.sha256()
        config = self.folder / "config.json"
        for file in ((config,) if config.is_file() else ()) + self.files:
            with open(file, "rb") as handle:
                while chunk := handle.read(1 << 22):
                    digest.update(chunk)
        return digest.hexdigest()
