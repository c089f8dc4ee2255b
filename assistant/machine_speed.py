"""How fast this machine generates tokens per gigabyte of model file: measured once, remembered.

Generating a token on a CPU reads every weight once, so its time grows with the model
file's size: the speed of a model not yet downloaded is this machine's time per token
per gigabyte times its size. That figure is measured on random-weight probes of about
320 MB, one per quantization (assistant/probe_model.py: Q8_0, and Q4_K for the
K-quants, whose blocks cost more work per byte), through the same llama.cpp build and
thread count the engine uses: the bundled model (6 MB) spends its per-token time on
llama.cpp's fixed work, not on weights, and scaling it by size would be off many times
over. Measuring takes a few seconds; the result is kept in the cache folder, keyed by
the CPU, the llama.cpp build and the thread count, and measured again when one changes
(or on `cove doctor --measure`). Work by other programs only ever adds time, so each
decode counts the smaller of its wall-clock time and the CPU time its threads spent
(per thread), and each figure is the fastest of a few rounds: on this shared machine,
busy, the wall clock said 47 ms a decode and the CPU time 23 ms, with 14.5 ms idle.
A busy machine still measures slow, so a new measurement keeps the faster of it and the
remembered one for each figure.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from assistant import locations
from assistant.atomic import write_atomic
from assistant.probe_model import PROBES, ProbeShape, write_probe

GB = 10**9
#: Rounds of single-token decodes timed on each probe (after an untimed round): the
#: median of each round, and the fastest round is kept.
ROUNDS, ROUND_TOKENS = 3, 8
#: Bump when the probes or the measurement change, so remembered figures are re-measured.
METHOD = 3


@dataclass(frozen=True)
class MachineSpeed:
    """One measurement of this machine's generation speed."""

    #: Probe quantization (`Q8_0`, `Q4_K`) -> milliseconds per generated token per
    #: gigabyte of model file.
    ms_per_gb: dict[str, float]
    #: Threads llama.cpp ran with.
    threads: int
    #: What the figure holds for: CPU, llama.cpp build and features, threads, method.
    key: str
    #: When it was measured (ISO date).
    measured: str

    def token_ms(self, size_bytes: int, quant: str) -> float:
        """Estimated milliseconds per generated token of a model file of `size_bytes` whose
        weights are mostly in quantization `quant` (a tag such as `Q4_K_M` or `Q8_0`)."""
        return self.ms_per_gb[probe_for(quant)] * size_bytes / GB


def probe_for(quant: str) -> str:
    """The probe that stands for a quantization tag: K-quants by Q4_K, the rest by Q8_0."""
    return "Q4_K" if "_K" in quant.upper() else "Q8_0"


def build_info() -> str:
    """llama.cpp's own description of its build: backends and the CPU features compiled in."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()


def cpu_features() -> list[str]:
    """The CPU features the llama.cpp build uses (`AVX2`, `AVX512`, `AMX_INT8`, ...)."""
    features = []
    for part in build_info().split("|"):  # "CPU : SSE3 = 1 | AVX2 = 1 | ... | OPENMP = 1 |"
        name, _, value = part.rpartition(":")[2].partition("=")
        if value.strip() == "1" and name.strip() not in features:
            features.append(name.strip())
    return features


def speed_file() -> Path:
    return locations.cache_dir() / "machine-speed.json"


def machine_key(threads: int) -> str:
    """Everything a remembered figure depends on."""
    import llama_cpp

    return f"{_cpu_name()} | llama-cpp-python {llama_cpp.__version__} | {' '.join(cpu_features())} | threads {threads} | method {METHOD}"


def remembered(threads: int | None = None) -> MachineSpeed | None:
    """The figure measured earlier for this machine, build and thread count (None: the
    engine's default), if any."""
    threads = threads or default_threads()
    try:
        speed = MachineSpeed(**json.loads(speed_file().read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return speed if speed.key == machine_key(threads) and set(speed.ms_per_gb) == set(PROBES) else None


def measure(threads: int, probes: dict[str, ProbeShape] = PROBES) -> MachineSpeed:
    """Time single-token decodes of each probe with `threads` threads, and remember the
    fastest figures measured so far on this machine, build and thread count."""
    locations.cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=locations.cache_dir(), prefix="speed-probe-") as folder:
        paths = {quant: Path(folder) / f"probe-{quant}.gguf" for quant in probes}
        for quant, path in paths.items():
            write_probe(path, probes[quant])
        # Each probe loaded and timed twice: the first probe timed in a process was often
        # the slowest here (up to 2x; cause not found).
        figures = {quant: min(_ms_per_gb(path, threads), _ms_per_gb(path, threads)) for quant, path in paths.items()}
    earlier = remembered(threads)
    if earlier is not None:
        figures = {quant: min(ms, earlier.ms_per_gb.get(quant, ms)) for quant, ms in figures.items()}
    speed = MachineSpeed(ms_per_gb=figures, threads=threads, key=machine_key(threads), measured=time.strftime("%Y-%m-%d"))
    write_atomic(speed_file(), json.dumps(dataclasses.asdict(speed), indent=1) + "\n")
    return speed


def _ms_per_gb(path: Path, threads: int) -> float:
    """Milliseconds per single-token decode of the probe at `path`, per GB of file."""
    from llama_cpp import Llama

    from assistant.llama_log import warnings_of_llama_cpp

    with warnings_of_llama_cpp():
        # Read into memory, not mapped: no page of it faults in during the timed decodes.
        llama = Llama(model_path=str(path), n_ctx=256, n_batch=32, n_threads=threads, use_mmap=False, verbose=False)
    try:
        # Untimed: the first decode sets up the compute graph, and the first few were
        # slower still here.
        llama.eval([1])
        for token in range(ROUND_TOKENS):
            llama.eval([2 + token])
        rounds = []
        for _ in range(ROUNDS):
            times = []
            for _ in range(ROUND_TOKENS):
                start, cpu = time.perf_counter(), time.process_time()
                llama.eval([300 + len(times)])
                # A busy machine stretches the wall clock while other programs run; the
                # CPU time the threads spent on the decode does not grow with it.
                times.append(1000 * min(time.perf_counter() - start, (time.process_time() - cpu) / threads))
            rounds.append(statistics.median(times))
    finally:
        llama.close()
    return min(rounds) * GB / path.stat().st_size


def machine_speed(threads: int | None = None, announce: Callable[[str], None] = functools.partial(print, flush=True)) -> MachineSpeed:
    """The remembered figure, else a new measurement, `announce`d first since it takes seconds."""
    threads = threads or default_threads()
    speed = remembered(threads)
    if speed is None:
        announce(f"measuring this machine's speed on a random-weight probe model (once; kept in {speed_file()})")
        speed = measure(threads)
    return speed


def default_threads() -> int:
    """The engine's thread count when none is configured."""
    from assistant.engine import _cpu_count

    return _cpu_count()


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
