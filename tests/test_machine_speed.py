"""This machine's speed per GB: measured through llama.cpp on a random-weight probe, remembered per machine."""

from __future__ import annotations

import dataclasses
import json

import pytest

from assistant import machine_speed
from assistant.cli import main
from assistant.probe_model import PROBES, ProbeShape

#: Probes small enough to write and time in well under a second.
SMALL = {quant: ProbeShape(quant=quant, hidden=256, ffn=512, layers=2, heads=4, kv_heads=2, vocab=512)
         for quant in PROBES}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_the_probe_loads_in_llama_cpp_and_its_speed_is_remembered_for_this_thread_count():
    measured = machine_speed.measure(1, SMALL)
    assert set(measured.ms_per_gb) == set(PROBES) and min(measured.ms_per_gb.values()) > 0 and measured.threads == 1
    assert machine_speed.remembered(1) == measured
    assert machine_speed.remembered(2) is None
    assert not list(machine_speed.speed_file().parent.glob("speed-probe-*"))  # the probe is deleted


def test_a_new_measurement_keeps_the_faster_figures():
    first = machine_speed.measure(1, SMALL)
    faster = {quant: ms / 100 for quant, ms in first.ms_per_gb.items()}
    machine_speed.speed_file().write_text(json.dumps({**dataclasses.asdict(first), "ms_per_gb": faster}))
    assert machine_speed.measure(1, SMALL).ms_per_gb == faster


def test_a_figure_measured_with_another_build_is_not_used():
    measured = machine_speed.measure(1, SMALL)
    stored = json.loads(machine_speed.speed_file().read_text())
    machine_speed.speed_file().write_text(json.dumps({**stored, "key": stored["key"].replace("llama-cpp-python", "old")}))
    assert machine_speed.remembered(1) is None
    assert measured.key == machine_speed.machine_key(1)


@pytest.mark.parametrize("quant", PROBES)
def test_the_probe_size_is_what_its_shape_says(tmp_path, quant):
    from assistant.probe_model import write_probe

    write_probe(tmp_path / "probe.gguf", SMALL[quant])
    size = (tmp_path / "probe.gguf").stat().st_size
    assert SMALL[quant].weight_bytes <= size <= SMALL[quant].weight_bytes + 200_000  # header, vocabulary and norms


def test_doctor_without_the_self_test_prints_the_build_features_and_no_speed_yet(capsys):
    assert main(["doctor", "--skip-self-test"]) == 0
    out = capsys.readouterr().out
    build = next(line for line in out.splitlines() if "llama.cpp build" in line)
    assert set(build.split()[2:]) == set(machine_speed.cpu_features()) and machine_speed.cpu_features()
    assert "not measured yet" in out
