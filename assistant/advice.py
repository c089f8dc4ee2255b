"""Which model to get instead of the bundled one, in words: `cove doctor`, `cove models list
--catalogue` and the chat's first-run line give the same advice from the same figures.

The bundled model is a few megabytes so that Cove works the moment it is installed; it
shows the set-up, not what a code model can do. The advice names the best catalogue
model that answers a typical completion within the latency budget here
(catalogue.suggest), or, on a machine too slow for every one of them, says so and what
the bundled model and `cove finetune` can still do.
"""

from __future__ import annotations

import os

from assistant import catalogue, locations
from assistant.catalogue import LATENCY_BUDGET_MS, TYPICAL_TOKENS, Entry
from assistant.machine_speed import MachineSpeed

#: `cove finetune` on the bundled model (needs the training extra).
FINETUNE = f"cove finetune PATH/TO/REPO --base {locations.BUNDLED_MODEL}"
#: What a typical completion is, for sentences.
TYPICAL = f"{TYPICAL_TOKENS} tokens after a keystroke"


def total_memory() -> int:
    """This machine's memory in bytes (POSIX), 8 GB when it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 10**9


def recommended(speed: MachineSpeed) -> Entry | None:
    """The catalogue model to get on this machine, or None when none is fast enough."""
    return catalogue.suggest(total_memory(), speed)


def get_command(entry: Entry) -> str:
    return f"cove models pull {entry.spec}"


def first_run_line(speed: MachineSpeed | None) -> str:
    """One line for the chat on the bundled model: what it is, and the command to run next."""
    line = "Bundled model: a small one for trying Cove out. "
    if speed is None:
        return line + "`cove doctor` names the model that suits this machine."
    entry = recommended(speed)
    if entry is not None:
        return line + f"For real work here: {get_command(entry)}"
    return line + "Bigger models are too slow here; `cove finetune` fits it to your code."


def advice_lines(speed: MachineSpeed | None) -> list[str]:
    """The recommendation in full: the model and how to get it, or why there is none."""
    if speed is None:
        return ["this machine's speed is not measured yet: `cove doctor` measures it (a few seconds, once)"]
    entry = recommended(speed)
    if entry is not None:
        return [f"for this machine: {entry.name} ({entry.size_bytes / 1e9:.1f} GB, {_ms(entry, speed)} for "
                f"{TYPICAL}; budget {LATENCY_BUDGET_MS} ms)",
                f"    {get_command(entry)}   then   --model hf:{entry.spec}"]
    smallest = catalogue.fastest()
    return [f"this machine is too slow for every catalogue model: the smallest, {smallest.name} "
            f"({smallest.size_bytes / 1e9:.2f} GB), needs {_ms(smallest, speed)} for {TYPICAL} "
            f"(budget {LATENCY_BUDGET_MS} ms)",
            "  - the bundled model completes common Python idioms; in code it never saw it gets about a fifth "
            "of mid-line rests of lines exactly right (docs/MODEL_CARD.md)",
            f"  - {FINETUNE}   (the training extra; about 15 minutes) teaches it your repository's names "
            "and idioms at the same speed, and makes it the editor's model there",
            "  - with a GPU (--gpu-layers) or a faster machine, `cove models list --catalogue` shows what fits"]


def _ms(entry: Entry, speed: MachineSpeed) -> str:
    return f"~{catalogue.completion_ms(entry, speed):,.0f} ms"
