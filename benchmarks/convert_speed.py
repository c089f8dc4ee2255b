"""Convert a ~300M-parameter generated checkpoint to f16: wall time, MB/s, peak RSS.

Goal (issue 4): peak RSS under 2x the largest tensor plus 300 MB, i.e. memory follows
one tensor, not the model. The checkpoint is generated here (random bf16 weights in
sharded safetensors, as `save_pretrained` writes a model of this size) and cached in
the work folder; `cove convert` runs in a child process so its peak RSS is its own.

    .venv/bin/python benchmarks/convert_speed.py [--work /tmp/cove-bench] [--type f16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import sysconfig
import time
from math import prod
from pathlib import Path

MB = 1e6
#: A LLaMA of about 302M parameters: 20 layers of width 1024, GQA 16/8 and a 32k vocabulary.
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 1024,
    "intermediate_size": 2816, "num_hidden_layers": 20, "num_attention_heads": 16,
    "num_key_value_heads": 8, "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0, "vocab_size": 32000, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "eos_token_id": 0,
}
SHARD_BYTES = 200 * 1024 * 1024


def tensor_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    h, f, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    kv = h // config["num_attention_heads"] * config["num_key_value_heads"]
    shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,), "lm_head.weight": (v, h)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes |= {
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (h, h), p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, h),
            p + "mlp.gate_proj.weight": (f, h), p + "mlp.up_proj.weight": (f, h), p + "mlp.down_proj.weight": (h, f),
        }
    return shapes


def generate(folder: Path) -> None:
    """Random bf16 weights in shards with an index, plus a small trained tokenizer."""
    import torch
    from safetensors.torch import save_file

    from training.tokenizer import train_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    train_tokenizer([(stdlib / m).read_text() for m in ("textwrap.py", "json/decoder.py")], folder, vocab_size=1000)
    torch.manual_seed(0)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, shape in tensor_shapes(CONFIG).items():
        tensor = torch.randn(shape, dtype=torch.float32).mul_(0.02).to(torch.bfloat16)
        if size + tensor.numel() * 2 > SHARD_BYTES and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += tensor.numel() * 2
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, folder / file, metadata={"format": "pt"})
        weight_map |= {name: file for name in shard}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/cove-bench"), help="where the checkpoint is cached")
    parser.add_argument("--type", default="f16")
    parser.add_argument("--runs", type=int, default=3, help="conversions to time (the median is reported)")
    args = parser.parse_args()
    checkpoint = args.work / "llama-302m"
    if not (checkpoint / "config.json").is_file():
        started = time.perf_counter()
        generate(checkpoint)
        print(f"generated {checkpoint} in {time.perf_counter() - started:.0f} s")
    shapes = tensor_shapes(CONFIG)
    params = sum(prod(s) for s in shapes.values())
    largest_f32 = max(prod(s) for s in shapes.values()) * 4
    source_bytes = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors"))
    output = args.work / f"llama-302m-{args.type}.gguf"
    output.unlink(missing_ok=True)

    baseline_wall, baseline_rss = _child([sys.executable, "-c", BASELINE.format(folder=str(checkpoint))])
    runs = [_child([sys.executable, "-m", "assistant.cli", "convert", str(checkpoint), "-o", str(output),
                    "--type", args.type]) for _ in range(args.runs)]
    wall = statistics.median(w for w, _ in runs)
    peak = max(r for _, r in runs)
    goal = 2 * largest_f32 + 300 * MB
    out_bytes = output.stat().st_size
    streaming = wall - baseline_wall
    print(f"parameters        {params / 1e6:.0f} M ({len(shapes)} tensors, bf16 source {source_bytes / MB:.0f} MB "
          f"in {len(list(checkpoint.glob('*.safetensors')))} shards)")
    print(f"output            {args.type} {out_bytes / MB:.0f} MB")
    print(f"wall time         {wall:.1f} s median of {args.runs} (runs: {', '.join(f'{w:.1f}' for w, _ in runs)} s)")
    print(f"  of which        {baseline_wall:.1f} s start-up: interpreter, torch/transformers imports, tokenizer")
    print(f"throughput        {out_bytes / MB / wall:.0f} MB/s written overall, "
          f"{out_bytes / MB / streaming:.0f} MB/s after start-up (source hash + tensors)")
    print(f"peak RSS          {peak / MB:.0f} MB (start-up alone {baseline_rss / MB:.0f} MB)")
    print(f"goal              < {goal / MB:.0f} MB (2 x largest tensor {largest_f32 / MB:.0f} MB as f32 + 300 MB): "
          f"{'met' if peak < goal else 'NOT met'}")
    output.unlink()


#: What every conversion pays before its first tensor: imports and the tokenizer as transformers loads it.
BASELINE = "from pathlib import Path; from convert.tokenizer import read_vocab; read_vocab(Path({folder!r}), 32000)"


def _child(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS in bytes of one child process (run alone, so its RSS is its own)."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *command], check=True, capture_output=True, text=True).stdout
    wall, kib = out.split()
    return float(wall), int(kib) * 1024  # Linux reports ru_maxrss in KiB


if __name__ == "__main__":
    main()
