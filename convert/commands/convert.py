"""`cove convert CHECKPOINT_DIR -o OUT.gguf --type f16`: transformers checkpoint or peft adapter to GGUF."""

from __future__ import annotations

import argparse
from pathlib import Path


def _types() -> tuple[list[str], list[str]]:
    """(types the converter writes itself, types only llama.cpp's quantizer writes)."""
    from convert.model import OUT_TYPES
    from convert.quantize import QUANT_TYPES

    return list(OUT_TYPES), [t.lower() for t in QUANT_TYPES if t.lower() not in OUT_TYPES]


def configure(parser: argparse.ArgumentParser) -> None:
    direct, via_llama_cpp = _types()
    parser.description = (
        "Convert a transformers checkpoint folder (LLaMA, Qwen2, Gemma 3 or StarCoder2 family, safetensors, "
        "byte-level BPE tokenizer.json or SentencePiece tokenizer.model) to a GGUF model that llama.cpp loads. A folder "
        "with adapter_config.json is a peft LoRA adapter: it becomes a GGUF LoRA adapter for --lora, or "
        "with --merge a full model with the adapter baked in."
    )
    parser.epilog = (
        "Examples:\n"
        "  cove convert runs/base -o base-f16.gguf --type f16\n"
        "  cove convert runs/base -o base-q4.gguf --type q4_k_m\n"
        "  cove convert runs/my-lora --base runs/base -o my-lora.gguf\n"
        "  cove convert runs/my-lora --base runs/base --merge -o merged-f16.gguf\n"
        "Check the result with `cove verify CHECKPOINT_DIR OUT.gguf`."
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("checkpoint", type=Path, metavar="CHECKPOINT_DIR",
                        help="folder written by save_pretrained (model or peft adapter)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.gguf", help="GGUF file to write")
    parser.add_argument("--type", default="f16", type=str.lower, choices=direct + via_llama_cpp, metavar="TYPE",
                        help=f"weight type (default f16): {', '.join(direct)}, or through llama.cpp's quantizer "
                             f"{', '.join(via_llama_cpp)}; norms always stay f32; adapters: f32, f16, bf16")
    parser.add_argument("--name", help="model name stored in the file (default: the folder name)")
    parser.add_argument("--license", help="license identifier stored in the file, e.g. MIT")
    parser.add_argument("--base", type=Path, metavar="BASE_DIR",
                        help="for an adapter: the transformers checkpoint it was trained on "
                             "(default: the adapter's base_model_name_or_path when that is a local folder)")
    parser.add_argument("--merge", action="store_true", help="for an adapter: write a full model with it merged in")


def run(args: argparse.Namespace) -> int:
    from assistant.errors import CoveError
    from convert import lora

    source: Path = args.checkpoint
    if lora.is_adapter(source):
        base = lora.base_folder(source, args.base)
        if args.merge:
            _to_model(lambda out, kind: lora.merge_adapter(source, base, out, kind), args)
        else:
            lora.convert_adapter(source, base, args.output, args.type)
    elif args.merge or args.base:
        raise CoveError(f"--merge and --base are for peft adapters, and {source} has no adapter_config.json")
    else:
        from convert.model import convert_checkpoint

        _to_model(lambda out, kind: convert_checkpoint(source, out, kind, name=args.name, license=args.license,
                                                       progress=True), args)
    print(f"wrote {args.output} ({args.output.stat().st_size / (1 << 20):.1f} MiB)")
    return 0


def _to_model(write, args: argparse.Namespace) -> None:
    """Write a full model of `args.type`: directly, or as f16 quantized by llama.cpp."""
    if args.type in _types()[0]:
        write(args.output, args.type)
        return
    import tempfile

    from convert.quantize import quantize
    from assistant.atomic import check_output_folder

    check_output_folder(args.output)
    with tempfile.TemporaryDirectory(prefix=".cove-convert-", dir=args.output.parent) as temp:
        f16 = Path(temp) / "f16.gguf"
        write(f16, "f16")
        quantize(f16, args.output, args.type)
