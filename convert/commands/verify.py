"""`cove verify CHECKPOINT_DIR MODEL.gguf`: tokens and logits of a GGUF against its transformers source."""

from __future__ import annotations

import argparse
import sysconfig
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Load the transformers checkpoint and the GGUF, tokenize sample files with both (special tokens "
        "disabled; must be identical), compare logits on sample text (max absolute difference and top-1 "
        "agreement), and print a verdict with the thresholds used for the GGUF's weight type. "
        "Exit code 0 on PASS, 1 on FAIL."
    )
    parser.add_argument("checkpoint", type=Path, metavar="CHECKPOINT_DIR", help="the transformers source folder")
    parser.add_argument("model", type=Path, metavar="MODEL.gguf", help="the converted GGUF")
    parser.add_argument("--samples", type=Path, nargs="+", metavar="PATH",
                        help="files or folders to tokenize (default: the Python standard library)")
    parser.add_argument("--max-files", type=int, default=300, help="how many sample files at most (default 300)")
    parser.add_argument("--logits-tokens", type=int, default=256,
                        help="length of the token sequence whose logits are compared (default 256)")


def run(args: argparse.Namespace) -> int:
    from convert.verify import sample_files, verify

    samples = sample_files(args.samples or [Path(sysconfig.get_paths()["stdlib"])], args.max_files)
    verdict = verify(args.checkpoint, args.model, samples, args.logits_tokens)
    for line in verdict.lines():
        print(line)
    return 0 if verdict.passed else 1
