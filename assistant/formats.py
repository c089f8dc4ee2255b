"""Which infill formats a loaded model can run, and which one a request gets.

Read from the model's vocabulary through the engine (control tokens by their spelling,
llama.cpp's FIM ids) and from metadata Cove writes into its own GGUFs: the mode measured
best per editor request kind (convert/metadata.py). Kept apart from the engine, which
only runs prompts: this module reads a `Vocabulary` (which the engine is) and never
imports the engine, so the two do not import each other.
"""

from __future__ import annotations

from typing import Mapping, Protocol

from assistant.errors import ModelError
from assistant.fim import FAMILIES, MODE_KEYS, CodeGen2, FimFormat, FimTokens, Order, parse_format

LEFT_TO_RIGHT = FimFormat(Order.LEFT_TO_RIGHT)


class Vocabulary(Protocol):
    """What the formats need of a loaded model (assistant.engine.Engine has all of it)."""

    #: The GGUF's metadata, as strings.
    metadata: Mapping[str, str]

    def fim_token_ids(self) -> dict[str, int | None]: ...

    def token_text(self, token: int) -> str: ...

    def special_token_id(self, text: str) -> int | None: ...


def native_tokens(model: Vocabulary) -> FimTokens | None:
    """FIM sentinels as llama.cpp knows them: a known family's, or the model's own spelling."""
    ids = model.fim_token_ids()
    if any(ids[name] is None for name in ("prefix", "suffix", "middle")):
        return None
    text = {name: model.token_text(i) if i is not None else None for name, i in ids.items()}
    for family in FAMILIES:
        if (family.prefix, family.suffix, family.middle) == (text["prefix"], text["suffix"], text["middle"]):
            return family
    if (text["file_sep"] is None) != (text["repo"] is None):
        text["file_sep"] = text["repo"] = None
    return FimTokens("model", text["prefix"], text["suffix"], text["middle"],
                     pad=text["pad"], file_sep=text["file_sep"], repo=text["repo"])


def supported(model: Vocabulary) -> list[FimFormat]:
    """Every built-in infill format whose sentinels the model has, best first."""
    found = []
    native = native_tokens(model)
    if native is not None:
        found += [FimFormat(Order.PSM, native), FimFormat(Order.SPM, native)]
    if all(model.special_token_id(t) is not None for t in (CodeGen2.mask(1), CodeGen2.SEP, CodeGen2.EOM)):
        found.append(FimFormat(Order.CODEGEN2))
    for family in FAMILIES:
        if native is None or family.family != native.family:
            if all(model.special_token_id(t) is not None for t in (family.prefix, family.suffix, family.middle)):
                found += [FimFormat(Order.PSM, family), FimFormat(Order.SPM, family)]
    return found


def detect(model: Vocabulary, spec: str) -> FimFormat:
    """The configured format, or for `auto` the model's best: its FIM sentinels when it has
    any, else left to right. ModelError for a format the model cannot run."""
    if spec == "auto":
        formats = supported(model)
        return formats[0] if formats else LEFT_TO_RIGHT
    try:
        chosen = parse_format(spec)
    except ValueError as error:
        raise ModelError(str(error)) from None
    missing = [p.text for p in chosen.layout("a", "b") if p.special and chosen.order is not Order.TEMPLATE
               and model.special_token_id(p.text) is None]
    if missing:
        raise ModelError(f"infill format {spec!r} needs tokens this model lacks: {', '.join(missing)}; "
                         "use fim_format = \"auto\" or a template")
    return chosen


def measured(model: Vocabulary) -> dict[str, FimFormat]:
    """The best mode per request kind that Cove's recipe or finetune measured and wrote
    into the GGUF; a mode this model cannot run is ignored."""
    usable = {f.name: f for f in supported(model)} | {LEFT_TO_RIGHT.name: LEFT_TO_RIGHT}
    modes = {}
    for kind, key in MODE_KEYS.items():
        try:
            chosen = parse_format(model.metadata.get(key, ""))
        except ValueError:
            continue
        if chosen.name in usable:
            modes[kind] = usable[chosen.name]
    return modes
