"""`cove quantize IN.gguf OUT.gguf --type Q4_K_M`: llama.cpp's quantizer with a progress line."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    from convert.quantize import QUANT_TYPES

    parser.description = (
        "Quantize a GGUF model with llama.cpp. Start from the f32/f16/bf16 file that `cove convert` writes; "
        "the output is written to a temporary file and renamed when complete."
    )
    parser.epilog = "Sizes and quality, best first: " + ", ".join(QUANT_TYPES) + ". Q4_K_M is a common choice for laptops."
    parser.add_argument("source", type=Path, metavar="IN.gguf", help="GGUF model to quantize")
    parser.add_argument("output", type=Path, metavar="OUT.gguf", help="where to write the quantized model")
    parser.add_argument("--type", required=True, type=str.upper, choices=QUANT_TYPES, metavar="TYPE",
                        help=f"llama.cpp quantization type: {', '.join(QUANT_TYPES)}")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")


def run(args: argparse.Namespace) -> int:
    from convert.quantize import quantize

    result = quantize(args.source, args.output, args.type, threads=args.threads)
    print(result.summary(args.source, args.output))
    return 0
