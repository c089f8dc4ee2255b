"""A transformers folder to the GGUF files the editor loads, in one call: convert, verify,
quantize. The one export path of `cove finetune` and the bundled model's recipe.

The f16 conversion is verified against its source (tokens identical, logits within the
f16 thresholds) before anything is quantized: a mismatch found here is a conversion bug,
which a quantized file's looser comparison would hide. The f16 file is removed afterwards
unless the caller keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assistant.errors import CoveError


@dataclass(frozen=True)
class Exported:
    #: llama.cpp quantization type -> the file written.
    paths: dict[str, Path]
    #: `cove verify`'s lines for the f16 conversion.
    verdict: list[str]


def export_gguf(folder: Path, quants: dict[str, Path], samples: dict[str, str], name: str | None = None,
                license: str | None = None, f16: Path | None = None) -> Exported:
    """`folder` converted to f16, verified on `samples` (name -> source text) and quantized
    to each type of `quants` (type -> destination); a one-line CoveError when verification
    fails. The f16 file is kept at `f16` when given, else written beside the first
    destination and removed."""
    from convert.model import convert_checkpoint
    from convert.quantize import quantize
    from convert.verify import verify

    first = next(iter(quants.values()))
    f16_path = f16 or first.with_name(f"{first.stem}-f16.gguf")
    convert_checkpoint(folder, f16_path, "f16", name=name, license=license)
    verdict = verify(folder, f16_path, samples)
    if not verdict.passed:
        raise CoveError(f"{f16_path} does not match {folder} ({'; '.join(verdict.lines())}): "
                        "report this as a conversion bug")
    for type_name, destination in quants.items():
        quantize(f16_path, destination, type_name, progress=False)
    if f16 is None:
        f16_path.unlink()
    return Exported(dict(quants), verdict.lines())
