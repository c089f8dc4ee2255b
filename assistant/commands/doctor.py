"""`cove doctor`: what is installed, which model is used and why, a one-shot infill self-test,
and which model suits this machine's speed.

The command itself is lsp/cli/doctor.py, which adds the language server's settings for
the model (`model_lines`); everything here knows nothing of the editor.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import os
import platform
import sys
from typing import TYPE_CHECKING, Callable

from assistant import __version__, advice, catalogue, locations, machine_speed
from assistant.commands.common import add_engine_arguments, engine_config_from_args
from assistant.config import resolve_model
from assistant.stopping import StopRules

EDITOR_PACKAGES = ("llama-cpp-python", "pygls", "lsprotocol", "textual", "gguf", "numpy")
TRAINING_PACKAGES = ("torch", "transformers", "peft", "tokenizers", "safetensors")
#: The self-test asks for the body of a tiny function.
SELF_TEST_PREFIX = "def add(a, b):\n    "
SELF_TEST_SUFFIX = "\n\n\nprint(add(1, 2))\n"
#: Tokens generated to time the model.
TIMED_TOKENS = 32

if TYPE_CHECKING:
    from assistant.engine import Engine

#: Extra (label, value) lines about a loaded model from the layers above (the editor's gate).
ModelLines = Callable[["Engine"], list[tuple[str, str]]]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Check the installation: package versions, settings, which model will be used "
                          "and why, its infill format, a one-shot infill with its latency, this machine's "
                          "generation speed (measured once, a few seconds) and the model that suits it.")
    parser.add_argument("--skip-self-test", action="store_true",
                        help="do not load the model, nor measure this machine's speed")
    parser.add_argument("--measure", action="store_true",
                        help="measure this machine's speed again, best while it is idle (the fastest figures "
                             "measured are remembered: a busy machine measures slow)")
    add_engine_arguments(parser)


def run(args: argparse.Namespace, model_lines: ModelLines = lambda engine: []) -> int:
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
    _line("llama.cpp build", " ".join(machine_speed.cpu_features()) or "no CPU features reported")

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
        _section("speed")
        _advise_by_speed(machine_speed.remembered(config.n_threads))
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
    for label, value in model_lines(engine):
        _line(label, value)
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

    _section("speed")
    token_ms = _token_ms(engine)
    _line("this model", f"{token_ms:.1f} ms per generated token ({path.stat().st_size / 1e6:,.1f} MB file): "
                        f"{advice.TYPICAL} ~{token_ms * catalogue.TYPICAL_COST:,.0f} ms" if token_ms is not None
          else "the model stopped at once: `cove bench` times it on a longer prompt")
    engine.close()  # the probes below need the memory and the cores
    speed = (machine_speed.measure(config.n_threads or machine_speed.default_threads()) if args.measure else
             machine_speed.machine_speed(config.n_threads, announce=lambda note: print(f"  {note}", flush=True)))
    _advise_by_speed(speed)
    if problem is not None or reason == "bundled default model":
        _advise(problem is not None, speed)
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


def _token_ms(engine: "Engine") -> float | None:
    """This model's milliseconds per generated token, on code it can continue at length."""
    from assistant.commands.bench import SAMPLE_CODE

    generation = engine.generate(SAMPLE_CODE, stop=StopRules(max_tokens=TIMED_TOKENS, stop_loops=False))
    generation.result()
    s = generation.stats
    return s.generation_ms / (s.generated_tokens - 1) if s.generated_tokens > 1 else None


def _advise_by_speed(speed: machine_speed.MachineSpeed | None) -> None:
    """This machine's speed per gigabyte and what it means for a keystroke's completion."""
    if speed is None:
        _line("this machine", "not measured yet: run `cove doctor` without --skip-self-test")
        return
    for quant, ms in speed.ms_per_gb.items():
        largest = catalogue.LATENCY_BUDGET_MS / (ms * catalogue.TYPICAL_COST)
        kind = "K-quants (Q4_K_M, ...)" if quant == "Q4_K" else quant
        _line("this machine", f"{ms:.0f} ms per generated token per GB of {kind}: {advice.TYPICAL} within "
                               f"{catalogue.LATENCY_BUDGET_MS} ms up to {largest:.2f} GB")
    _line("measured", f"{speed.measured} with {speed.threads} threads (`cove doctor --measure` measures again)")


def _advise(weak: bool, speed: machine_speed.MachineSpeed) -> None:
    """Where better completions come from: a bigger model that is still fast enough here,
    or this one adapted to your code."""
    _section("better completions")
    if weak:
        print("  This model's completions look poor.")
    else:
        print("  The bundled model is small and mainly shows that everything works.")
    for line in advice.advice_lines(speed):
        print(f"  {line}")
    print("  - the catalogue of known-good code models, timed for this machine: cove models list --catalogue")
    if advice.recommended(speed) is not None:
        print(f"  - adapt a model to your own code: {advice.FINETUNE}")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _section(title: str) -> None:
    print(f"\n{title}")


def _line(label: str, value: str) -> None:
    print(f"  {label:<16} {value}")
