"""A transformers folder to the GGUF the editor loads, in one call: convert, verify, quantize.

The f16 conversion is verified against its source (tokens identical, logits within the
f16 thresholds) before it is quantized: a mismatch found here is a conversion bug, which
a quantized file's looser comparison would hide. The f16 file is removed afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assistant.errors import CoveError


@dataclass(frozen=True)
class Exported:
    path: Path
    #: `cove verify`'s lines for the f16 conversion.
    verdict: list[str]


def export_gguf(folder: Path, destination: Path, samples: dict[str, str], quant: str = "Q8_0",
                name: str | None = None) -> Exported:
    """`folder` converted to f16, verified on `samples` (name -> source text), quantized to
    `quant` at `destination`; a one-line CoveError when verification fails."""
    from convert.model import convert_checkpoint
    from convert.quantize import quantize
    from convert.verify import verify

    f16 = destination.with_name(f"{destination.stem}-f16.gguf")
    convert_checkpoint(folder, f16, "f16", name=name)
    verdict = verify(folder, f16, samples)
    if not verdict.passed:
        raise CoveError(f"{f16} does not match {folder} ({'; '.join(verdict.lines())}): "
                        "report this as a conversion bug")
    quantize(f16, destination, quant, progress=False)
    f16.unlink()
    return Exported(destination, verdict.lines())
