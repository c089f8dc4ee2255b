"""GGUF files written header -> metadata -> tensor infos -> tensors, streamed and atomic.

Tensors are declared up front by shape and type only, then produced and written one at
a time, so memory holds one tensor. The file is written under a temporary name in the
destination folder and renamed at the end: an interrupted or failed conversion leaves
no partial GGUF where the user expects a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Callable, Sequence

import gguf
import numpy as np

from assistant.atomic import atomic_path
from assistant.progress import Progress

Q = gguf.GGMLQuantizationType


@dataclass(frozen=True)
class TensorPlan:
    """A tensor to write: its GGUF name, logical shape, type and how to produce it."""

    name: str
    shape: tuple[int, ...]
    qtype: gguf.GGMLQuantizationType
    #: Returns the data (float32, or float16 for an F16 tensor); called once, in turn.
    load: Callable[[], np.ndarray]

    @property
    def nbytes(self) -> int:
        block, size = gguf.GGML_QUANT_SIZES[self.qtype]
        return prod(self.shape) // block * size


def encode(data: np.ndarray, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    """float32 data as the bytes of `qtype` (numpy casts, or gguf-py's reference quantizers)."""
    if qtype == Q.F32:
        return np.ascontiguousarray(data, dtype=np.float32)
    if qtype == Q.F16:
        return np.ascontiguousarray(data, dtype=np.float16)
    return gguf.quants.quantize(np.ascontiguousarray(data, dtype=np.float32), qtype)


def write_gguf(
    destination: Path,
    arch: str,
    add_metadata: Callable[[gguf.GGUFWriter], None],
    tensors: Sequence[TensorPlan],
    progress: bool = False,
) -> None:
    """Write a complete GGUF file atomically, loading and encoding one tensor at a time."""
    writer = gguf.GGUFWriter(None, arch)
    add_metadata(writer)
    for plan in tensors:
        writer.add_tensor_info(plan.name, plan.shape, np.dtype(np.float32), plan.nbytes, raw_dtype=plan.qtype)
    with atomic_path(destination) as temp:
        try:
            writer.write_header_to_file(temp)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            with Progress("writing", len(tensors), enabled=progress) as bar:
                for plan in tensors:
                    writer.write_tensor_data(encode(plan.load(), plan.qtype))
                    bar.update(note=f"{plan.name:<32} {plan.qtype.name:<5}")
        finally:
            writer.close()
