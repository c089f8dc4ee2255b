"""The catalogue is well-formed data, and `suggest` picks the best model that is fast enough here and fits."""

import pytest

from assistant import hub
from assistant.catalogue import CATALOGUE, GB, LATENCY_BUDGET_MS, RAM_SHARE, completion_ms, fastest, suggest
from assistant.machine_speed import MachineSpeed


def speed(ms_per_gb: float, k_quants: float | None = None) -> MachineSpeed:
    """A made-up machine: milliseconds per generated token per GB of model file (Q8_0, K-quants)."""
    return MachineSpeed(ms_per_gb={"Q8_0": ms_per_gb, "Q4_K": k_quants or ms_per_gb}, threads=2, key="test",
                        measured="2026-12-04")


def test_every_entry_is_a_pullable_spec_whose_tag_picks_its_file():
    for entry in CATALOGUE:
        spec = hub.parse_spec(entry.spec)
        assert hub.pick(spec, [entry.filename, "README.md"]) == entry.filename


def test_ranks_are_unique():
    assert len({entry.rank for entry in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("ms_per_gb", [0.5, 2, 4, 8, 15, 25, 30, 35, 52, 200])
def test_suggest_never_names_a_model_over_the_latency_budget(ms_per_gb):
    machine = speed(ms_per_gb)
    chosen = suggest(64 * GB, machine)
    fast_enough = [entry for entry in CATALOGUE if completion_ms(entry, machine) <= LATENCY_BUDGET_MS]
    assert chosen is None if not fast_enough else chosen == min(fast_enough, key=lambda entry: entry.rank)
    assert chosen is None or completion_ms(chosen, machine) <= LATENCY_BUDGET_MS


def test_k_quant_models_are_timed_by_the_k_quant_figure():
    qwen_3b = next(entry for entry in CATALOGUE if entry.tag == "Q4_K_M" and "3B" in entry.name)
    assert completion_ms(qwen_3b, speed(8, k_quants=16)) == 2 * completion_ms(qwen_3b, speed(8))


def test_memory_for_a_7b_model_is_not_enough_without_the_speed():
    chosen = suggest(64 * GB, speed(8))
    assert chosen is not None and chosen.size_bytes < 2.2 * GB


def test_the_issue_machine_is_too_slow_for_every_model():
    # ~21 ms per token for a 0.4 GB model: the 2-core machine that was advised a 7B model.
    assert suggest(64 * GB, speed(21 / 0.4)) is None


def test_a_fast_machine_with_memory_gets_the_best_ranked_model():
    assert suggest(64 * GB, speed(1)) == min(CATALOGUE, key=lambda entry: entry.rank)


def test_suggest_still_needs_the_memory():
    chosen = suggest(8 * GB, speed(1))
    assert chosen is not None and chosen.ram_bytes <= 8 * GB * RAM_SHARE
    assert suggest(1 * GB, speed(1)) is None


def test_fastest_is_the_smallest_file():
    assert all(fastest().size_bytes <= entry.size_bytes for entry in CATALOGUE)
