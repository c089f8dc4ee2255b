"""GGUF -> smaller GGUF through llama.cpp's own quantizer (`llama_model_quantize`).

K-quants and the mixed-precision recipes (Q4_K_M keeps some tensors at Q6_K, ...) exist
only in llama.cpp, so all quantization goes through it. Its per-tensor log lines become
progress (`assistant.progress`), and its failure reason becomes the one-line error.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import CoveError
from assistant import llama_log
from assistant.atomic import atomic_path
from assistant.gguf_file import check_gguf
from assistant.progress import Progress

#: Types llama.cpp's quantizer writes, best quality first; each is llama.cpp's
#: `LLAMA_FTYPE_MOSTLY_<NAME>`.
QUANT_TYPES = (
    "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0",
    "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K",
)

_TENSOR_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]\s+(\S+)")


@dataclass(frozen=True)
class QuantizeResult:
    """Sizes before and after, and how long llama.cpp took."""

    source_bytes: int
    output_bytes: int
    seconds: float

    def summary(self, source: Path, output: Path) -> str:
        mib = 1 << 20
        return (
            f"{source.name} {self.source_bytes / mib:.1f} MiB -> {output.name} {self.output_bytes / mib:.1f} MiB "
            f"({self.output_bytes / self.source_bytes:.0%}) in {self.seconds:.1f} s"
        )


def quantize(source: Path, output: Path, type_name: str, threads: int = 0, progress: bool = True) -> QuantizeResult:
    """Quantize `source` to `output` (written atomically) as llama.cpp type `type_name`."""
    import llama_cpp

    name = type_name.upper()
    if name not in QUANT_TYPES:
        raise CoveError(f"unknown quantization type {type_name!r}: use one of {', '.join(QUANT_TYPES)}")
    check_gguf(source)
    if output.resolve() == source.resolve():
        raise CoveError(f"output {output} is the input: choose another output file")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name}")
    params.nthread = threads
    errors: list[str] = []

    def on_line(level: int, text: str) -> None:
        if level == llama_log.ERROR:
            errors.append(text.strip())
        match = _TENSOR_LINE.match(text.strip())
        if match:
            done, total, tensor = match.groups()
            bar.update(int(done), total=int(total), note=f"{tensor:<40}")

    start = time.perf_counter()
    bar = Progress(f"quantizing to {name}:", enabled=progress)
    with atomic_path(output) as temp, llama_log.llama_log(on_line):
        with bar:  # llama.cpp reports each tensor through `on_line`
            status = llama_cpp.llama_model_quantize(str(source).encode(), str(temp).encode(), params)
        if status != 0:
            reason = errors[-1] if errors else f"llama_model_quantize returned {status}"
            raise CoveError(
                f"llama.cpp could not quantize {source} to {name}: {reason} "
                "(start from the f32/f16/bf16 GGUF that `cove convert` writes)"
            )
    return QuantizeResult(source.stat().st_size, output.stat().st_size, time.perf_counter() - start)
