"""Typed settings for the inference engine, read from `config.toml` and the environment.

Precedence, highest first: command-line flags, `COVE_*` environment variables, the
`[engine]` table of the config file (`$XDG_CONFIG_HOME/cove/config.toml`, or the file
`COVE_CONFIG` names), then the defaults below. With no model set by any of them, the
model `cove finetune` registered for the workspace's repository comes before the
bundled one.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from assistant import hub, locations, registry
from assistant.errors import CoveError, ModelError
from assistant.fim import parse_format


@dataclass
class EngineConfig:
    """How to load and run a GGUF model with llama.cpp."""

    #: GGUF file; empty means "resolve": COVE_MODEL, the config file, the bundled default.
    model: Path | None = None
    #: Context window in tokens (prompt plus output); 4096 suits laptop completions.
    n_ctx: int = 4096
    #: CPU threads for llama.cpp; None lets llama.cpp use the physical cores.
    n_threads: int | None = None
    #: Layers offloaded to a GPU when llama.cpp was built with one; 0 keeps all on the CPU.
    n_gpu_layers: int = 0
    #: Tokens evaluated per llama.cpp batch when reading a prompt.
    n_batch: int = 512
    #: llama.cpp's fused attention kernel, which llama-server turns on wherever it runs (its
    #: `--flash-attn auto`). On the 2-core CPU here it made no steady difference per token
    #: (-4% to +9% across runs, docs/BENCHMARKS.md, issue 23), and on a CPU it accumulates in
    #: half precision: a prompt reused from the KV cache then differs from a cold one by up to
    #: 3% of the largest logit (Gemma 3 270M; 0.1% without), enough to change greedy
    #: completions at near-ties. Off: the same request gets the same completion whatever the
    #: cache held.
    flash_attn: bool = False
    #: Infill format: auto (detected from the model), codegen2, psm:FAMILY, spm:FAMILY or a template.
    fim_format: str = "auto"
    #: Ask a cursor inside a word from its last token boundary (assistant/token_healing.py).
    token_healing: bool = True
    #: Optional GGUF LoRA adapter applied on top of the model.
    lora: Path | None = None
    #: A file or folder being worked on (the LSP's workspace root, `cove complete`'s file;
    #: None: the current folder): when no model is set, the model `cove finetune`
    #: registered for its repository is used (assistant/registry.py).
    workspace: Path | None = None

    def __post_init__(self) -> None:
        for name in ("model", "lora", "workspace"):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, Path(value).expanduser() if value else None)
        if self.n_ctx < 64:
            raise CoveError(f"n_ctx {self.n_ctx} is too small: use at least 64 (4096 is a good default)")
        if self.n_threads is not None and self.n_threads < 1:
            raise CoveError(f"n_threads {self.n_threads} must be at least 1 (or unset for automatic)")
        for name in ("token_healing", "flash_attn"):
            if not isinstance(getattr(self, name), bool):
                raise CoveError(f"{name} {getattr(self, name)!r} must be true or false")
        if self.fim_format != "auto":
            try:
                parse_format(self.fim_format)  # a bad spelling fails before any model loads
            except ValueError as error:
                raise CoveError(str(error)) from None


_ENV = {"model": "COVE_MODEL", "n_ctx": "COVE_N_CTX", "n_threads": "COVE_N_THREADS",
        "n_gpu_layers": "COVE_N_GPU_LAYERS", "fim_format": "COVE_FIM_FORMAT", "lora": "COVE_LORA"}


def read_config_file(path: Path | None = None) -> dict:
    """The parsed config file, or {} when there is none."""
    path = path or locations.config_file()
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CoveError(f"config file {path} is not valid TOML ({error}): fix it or remove it") from None


def load_engine_config(**overrides: object) -> tuple[EngineConfig, dict[str, str]]:
    """The engine settings and, per field that was set, where the value came from."""
    fields = {f.name: f for f in dataclasses.fields(EngineConfig)}
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    table = read_config_file().get("engine", {})
    unknown = set(table) - set(fields)
    if unknown:
        raise CoveError(f"unknown setting(s) {', '.join(sorted(unknown))} in [engine] of {locations.config_file()}; known: {', '.join(fields)}")
    for name, value in table.items():
        values[name], sources[name] = value, f"config file {locations.config_file()}"
    for name, variable in _ENV.items():
        if os.environ.get(variable):
            values[name], sources[name] = _coerce(name, os.environ[variable], variable), f"environment {variable}"
    for name, value in overrides.items():
        if value is not None:
            values[name], sources[name] = value, "command line"
    return EngineConfig(**values), sources


def _coerce(name: str, raw: str, variable: str) -> object:
    if name in ("n_ctx", "n_threads", "n_gpu_layers"):
        try:
            return int(raw)
        except ValueError:
            raise CoveError(f"{variable}={raw!r} is not a whole number") from None
    return raw


def resolve_model(config: EngineConfig, sources: dict[str, str] | None = None) -> tuple[Path, str]:
    """The model file to use and why; a one-line error when there is none."""
    if config.model is not None:
        reason = (sources or {}).get("model", "configured")
        if hub.is_spec(config.model):  # hf:REPO:TAG: the cached file, downloaded first if need be
            spec = hub.parse_spec(str(config.model))
            return hub.resolve(spec), f"{reason}: hf:{spec} from the Hugging Face cache"
        return config.model, reason
    registered = registry.registration_for(config.workspace or Path.cwd())
    if registered is not None:
        return Path(registered.model), f"fine-tuned for repository {registered.repository} (cove finetune)"
    if locations.BUNDLED_MODEL.is_file():
        return locations.BUNDLED_MODEL, "bundled default model"
    raise ModelError(
        f"no model configured and the bundled default {locations.BUNDLED_MODEL} is missing: "
        "pass --model FILE.gguf or set COVE_MODEL"
    )
