"""`cove doctor`: what is installed, which model is used and why, and a one-shot infill self-test."""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import os
import platform
import sys

from assistant import __version__, locations
from assistant.commands.common import add_engine_arguments, engine_config_from_args
from assistant.catalogue import suggest
from assistant.config import resolve_model
from assistant.stopping import StopRules

EDITOR_PACKAGES = ("llama-cpp-python", "pygls", "lsprotocol", "textual", "gguf", "numpy")
TRAINING_PACKAGES = ("torch", "transformers", "peft", "tokenizers", "safetensors")
#: The self-test asks for the body of a tiny function.
SELF_TEST_PREFIX = "def add(a, b):\n    "
SELF_TEST_SUFFIX = "\n\n\nprint(add(1, 2))\n"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Check the installation: package versions, settings, which model will be used "
                          "and why, its infill format, and a one-shot infill with its latency.")
    parser.add_argument("--skip-self-test", action="store_true", help="do not load the model")
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    print(f"cove {__version__} doctor")
    _section("installation")
    _line("python", f"{platform.python_version()} ({sys.executable})")
    for name in EDITOR_PACKAGES:
        _line(name, _version(name) or "MISSING: reinstall with `make run` or pip install -e .")
    training = {name: _version(name) for name in TRAINING_PACKAGES}
    if all(training.values()):
        _line("training extra", ", ".join(f"{n} {v}" for n, v in training.items()))
    else:
        _line("training extra", "not installed (only needed for train/finetune/convert): pip install -e '.[train]'")
    _line("cpu cores", str(len(os.sched_getaffinity(0))))

    _section("settings")
    config_file = locations.config_file()
    _line("config file", f"{config_file}" + ("" if config_file.is_file() else " (none; defaults apply)"))
    config, sources = engine_config_from_args(args)
    path, reason = resolve_model(config, sources)
    _line("model", f"{path}")
    _line("chosen by", reason)

    from assistant.engine import Engine
    from assistant.gguf_file import check_gguf

    check_gguf(path)
    _line("size", f"{path.stat().st_size / 1e6:.1f} MB")
    if args.skip_self_test:
        return 0
    engine = Engine.load(config, sources)
    _section("model")
    _line("name", engine.model_name)
    _line("architecture", engine.architecture)
    _line("trained context", engine.metadata.get(f"{engine.architecture}.context_length", "unknown"))
    _line("context window", f"{engine.n_ctx} tokens")
    formats = [f.name for f in engine.supported_formats()]
    if engine.fim.sees_suffix:
        _line("infill format", engine.fim.name)
    else:
        _line("infill format", "left-to-right: the model has no fill-in-the-middle tokens, so it sees the code "
                               "before the cursor and the code after it only bounds the answer")
    if len(formats) > 1:
        _line("also supports", ", ".join(f for f in formats if f != engine.fim.name))
    if engine.fim_by_kind:
        _line("measured modes", ", ".join(f"{kind} {fim.name}" for kind, fim in engine.fim_by_kind.items())
              + " (written by Cove's recipe or finetune; `auto` uses them)")
    _line("confidence gate", _gate(engine.measured_gate))
    _line("chat", "chat template from the model" if engine.chat_template else "no chat template: chat runs in completion mode")

    _section("self-test")
    stop = StopRules(max_tokens=24, time_budget_s=10.0)
    cold = engine.infill(SELF_TEST_PREFIX, SELF_TEST_SUFFIX, stop=stop)
    text = cold.result()
    warm = engine.infill(SELF_TEST_PREFIX + text[:1], SELF_TEST_SUFFIX, stop=stop)
    warm.result()
    _line("prompt", repr(SELF_TEST_PREFIX + "<|cursor|>" + SELF_TEST_SUFFIX))
    _line("infill", repr(text))
    s = cold.stats
    _line("cold", f"{s.total_ms:.0f} ms ({s.prompt_tokens} prompt tokens in {s.prompt_ms:.0f} ms, "
                  f"{s.generated_tokens} generated at {s.tokens_per_second:.0f} tokens/s, stop: {s.stop_reason})")
    w = warm.stats
    _line("next keystroke", f"{w.total_ms:.0f} ms ({w.cached_tokens} of {w.prompt_tokens} prompt tokens from cache)")
    problem = judge_fill(SELF_TEST_PREFIX, text, SELF_TEST_SUFFIX)
    _line("verdict", "the fill is valid Python" if problem is None else f"POOR: {problem}")
    if problem is not None or reason == "bundled default model":
        _advise(problem is not None)
    print("\nall good: the set-up works" + ("" if problem is None else " (the model is weak, see above)"))
    return 0


def judge_fill(prefix: str, fill: str, suffix: str) -> str | None:
    """What is wrong with a self-test fill, or None when it is a plausible answer: it must
    add code, must parse with the code around it, and must not write the prompt again."""
    if not fill.strip():
        return "the model wrote nothing"
    prompt_lines = {line.strip() for line in (prefix + suffix).splitlines() if line.strip()}
    repeated = [line.strip() for line in fill.splitlines() if line.strip() in prompt_lines]
    if repeated:
        return f"the fill repeats the code around it ({repeated[0]!r})"
    try:
        ast.parse(prefix + fill + suffix)
    except SyntaxError as error:
        return f"the fill does not parse with the code around it ({error.msg})"
    return None


def _advise(weak: bool) -> None:
    """Where better completions come from: a bigger model, or this one adapted to your code."""
    _section("better completions")
    if weak:
        print("  This model's completions look poor. Two ways to better ones:")
    else:
        print("  The bundled model is small (a few MB) and mainly shows that everything works.")
    entry = suggest(_total_memory())
    if entry is not None:
        print(f"  - a bigger model that fits this machine: {entry.name} ({entry.size_bytes / 1e9:.1f} GB)")
        print(f"      cove models pull {entry.spec}   then   --model hf:{entry.spec}")
    print("  - the catalogue of known-good code models: cove models list --catalogue")
    print("  - adapt a model to your own code: cove finetune PATH/TO/REPO")


def _total_memory() -> int:
    """This machine's memory in bytes (POSIX), 8 GB when it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 10**9


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _section(title: str) -> None:
    print(f"\n{title}")


def _line(label: str, value: str) -> None:
    print(f"  {label:<16} {value}")


def _gate(measured: float | None) -> str:
    """The editor's confidence gate for this model, and where it comes from."""
    from lsp.settings import DEFAULT_MIN_CONFIDENCE, Settings

    source = "measured for this model" if measured is not None else "the default: the model records none"
    return (f"{measured if measured is not None else DEFAULT_MIN_CONFIDENCE:g} ({source}): completions end "
            "before the first token the model gives a lower probability (setting minConfidence), and before "
            f"a name the file never mentions unless it gave it {Settings.min_confidence_new_name:g} "
            "(minConfidenceNewName)")
