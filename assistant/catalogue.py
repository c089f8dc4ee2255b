"""Known-good code models on the Hugging Face Hub, as data, and the pick for this machine.

`cove models list --catalogue` prints the table with each model's estimated completion
time here; `cove doctor` and the chat's first-run line call `suggest()` to name a better
model than the bundled one. The pick is the best model that answers a keystroke's typical
completion within `LATENCY_BUDGET_MS` on this machine (assistant/machine_speed.py measures
its speed per gigabyte; a token costs that times the file size, since a CPU reads every
weight once per token) and fits its memory: a model that needs seconds per completion is
never advised, however well it fits in memory. Every repository and file name was checked against the
Hub's file listings (2026); sizes marked approximate are the usual size of that
quantization at that parameter count, not a figure read from the listing. RAM is an
estimate for every entry: the file (llama.cpp maps it) plus a 4,096-token KV cache and
runtime buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.machine_speed import MachineSpeed

GB = 10**9
#: Longest a typical editor completion may take on this machine for a model to be advised.
LATENCY_BUDGET_MS = 300
#: A typical completion after a keystroke: the tokens generated...
TYPICAL_TOKENS = 16
#: ...after evaluating the keystroke's new prompt tokens (about two with the cache reused;
#: on a CPU a batch of k tokens costs nearly k single tokens).
PROMPT_TOKENS = 2
#: So a typical completion costs this many single-token decodes.
TYPICAL_COST = PROMPT_TOKENS + TYPICAL_TOKENS


@dataclass(frozen=True)
class Entry:
    """One downloadable GGUF file and what Cove needs to know before fetching it."""

    #: Human name, e.g. "Qwen2.5-Coder 1.5B Instruct".
    name: str
    #: Hugging Face repository id.
    repo_id: str
    #: Quantization tag: `cove models pull REPO:TAG` picks the one file whose name holds it.
    tag: str
    #: The file that tag picks in that repository.
    filename: str
    #: `--fim-format` value the model was trained with (`auto` detects the same).
    fim_format: str
    #: Whether the GGUF carries a chat template (`cove chat` in chat mode).
    chat_template: bool
    #: File size in bytes.
    size_bytes: int
    #: Memory the model needs to run: file, KV cache for 4,096 tokens and buffers.
    ram_bytes: int
    #: Preference among entries that fit (1 = best at completing code); ranks are unique.
    rank: int
    #: The size is typical for this quantization, not read from the Hub's listing.
    size_approximate: bool = False
    #: Anything a user must know first (gated licence, base model).
    note: str = ""

    @property
    def spec(self) -> str:
        """What `cove models pull` takes; prefixed with `hf:` it works as `--model`."""
        return f"{self.repo_id}:{self.tag}"


CATALOGUE: tuple[Entry, ...] = (
    Entry("Qwen2.5-Coder 0.5B", "ggml-org/Qwen2.5-Coder-0.5B-Q8_0-GGUF", "Q8_0",
          "qwen2.5-coder-0.5b-q8_0.gguf", "psm:qwen", True, int(0.531 * GB), int(1.0 * GB), 9,
          note="base model: best for completion"),
    Entry("Qwen2.5-Coder 1.5B Instruct", "bartowski/Qwen2.5-Coder-1.5B-Instruct-GGUF", "Q8_0",
          "Qwen2.5-Coder-1.5B-Instruct-Q8_0.gguf", "psm:qwen", True, int(1.65 * GB), int(2.3 * GB), 6),
    Entry("Qwen2.5-Coder 3B Instruct", "bartowski/Qwen2.5-Coder-3B-Instruct-GGUF", "Q4_K_M",
          "Qwen2.5-Coder-3B-Instruct-Q4_K_M.gguf", "psm:qwen", True, int(1.93 * GB), int(2.8 * GB), 4,
          size_approximate=True),
    Entry("Qwen2.5-Coder 7B Instruct", "lmstudio-community/Qwen2.5-Coder-7B-Instruct-GGUF", "Q4_K_M",
          "Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf", "psm:qwen", True, int(4.68 * GB), int(5.6 * GB), 1),
    Entry("StarCoder2 3B", "second-state/StarCoder2-3B-GGUF", "Q4_K_M",
          "starcoder2-3b-Q4_K_M.gguf", "psm:starcoder", False, int(1.85 * GB), int(2.8 * GB), 5,
          size_approximate=True, note="base model: completion only"),
    Entry("StarCoder2 7B", "second-state/StarCoder2-7B-GGUF", "Q4_K_M",
          "starcoder2-7b-Q4_K_M.gguf", "psm:starcoder", False, int(4.4 * GB), int(5.6 * GB), 3,
          note="base model: completion only"),
    Entry("DeepSeek-Coder 1.3B", "TheBloke/deepseek-coder-1.3b-base-GGUF", "Q8_0",
          "deepseek-coder-1.3b-base.Q8_0.gguf", "psm:deepseek", False, int(1.43 * GB), int(2.3 * GB), 7,
          size_approximate=True, note="base model: completion only"),
    Entry("DeepSeek-Coder 6.7B", "TheBloke/deepseek-coder-6.7B-base-GGUF", "Q4_K_M",
          "deepseek-coder-6.7b-base.Q4_K_M.gguf", "psm:deepseek", False, int(4.08 * GB), int(5.4 * GB), 2,
          note="base model: completion only"),
    Entry("CodeGemma 2B", "lmstudio-community/codegemma-2b-GGUF", "Q8_0",
          "codegemma-2b-Q8_0.gguf", "psm:qwen", False, int(2.67 * GB), int(3.6 * GB), 8,
          size_approximate=True,
          note="gated: accept Google's Gemma terms on the Hub, then set HF_TOKEN; same FIM spelling as Qwen"),
)

#: Share of the machine's RAM a model may take: the editor, a browser and the OS keep the rest.
RAM_SHARE = 0.5


def completion_ms(entry: Entry, speed: "MachineSpeed") -> float:
    """Estimated milliseconds of a typical completion by this model here."""
    return speed.token_ms(entry.size_bytes, entry.tag) * TYPICAL_COST


def suggest(ram_bytes: int, speed: "MachineSpeed", budget_ms: float = LATENCY_BUDGET_MS) -> Entry | None:
    """The best-ranked catalogue model that completes within `budget_ms` at `speed` and
    whose RAM need fits in `RAM_SHARE` of `ram_bytes` (the machine's total memory); None
    when none does."""
    fitting = [entry for entry in CATALOGUE if entry.ram_bytes <= ram_bytes * RAM_SHARE
               and completion_ms(entry, speed) <= budget_ms]
    return min(fitting, key=lambda entry: entry.rank, default=None)


def fastest() -> Entry:
    """The smallest catalogue model: the one to name when none is fast enough."""
    return min(CATALOGUE, key=lambda entry: entry.size_bytes)
