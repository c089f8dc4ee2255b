"""`cove models list|pull|rm` through the real command line, against a fake Hub on 127.0.0.1."""

from __future__ import annotations

import pytest

from assistant import advice, catalogue, machine_speed
from assistant.cli import main
from assistant.machine_speed import MachineSpeed
from tests.hub_server import hub, tiny_gguf  # noqa: F401  (the fixture)

REPO = "acme/tiny-GGUF"


@pytest.fixture
def repo(hub):  # noqa: F811
    hub.hub.repos[REPO] = {"tiny.Q8_0.gguf": tiny_gguf("qwen2"), "plain.F16.gguf": tiny_gguf("gemma3", fim=False, chat=False)}
    return hub


def cove(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_a_pulled_model_with_its_architecture_and_fim_format(repo, capsys):
    cove(capsys, "pull", f"{REPO}:Q8_0")
    cove(capsys, "pull", f"{REPO}:f16")
    code, out, _ = cove(capsys, "list")
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert code == 0
    assert {"qwen2", "fim", "(qwen)", "yes"} <= set(rows[f"hf:{REPO}/tiny.Q8_0.gguf"])
    assert {"gemma3", "left-to-right", "no"} <= set(rows[f"hf:{REPO}/plain.F16.gguf"])


def test_list_shows_a_configured_hub_model_that_is_not_downloaded(hub, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("COVE_MODEL", f"hf:{REPO}:Q8_0")
    _, out, _ = cove(capsys, "list")
    assert f"not downloaded: cove models pull {REPO}:Q8_0" in out


def test_list_catalogue_prints_every_entry_with_its_time_here(capsys, monkeypatch):
    machine = MachineSpeed(ms_per_gb={"Q8_0": 8, "Q4_K": 9}, threads=2, key="test", measured="2026-12-04")
    monkeypatch.setattr(machine_speed, "machine_speed", lambda threads=None: machine)
    monkeypatch.setattr(advice, "total_memory", lambda: 64 * catalogue.GB)
    code, out, _ = cove(capsys, "list", "--catalogue")
    assert code == 0 and "16 tokens here" in out.splitlines()[0]
    for entry in catalogue.CATALOGUE:
        row = next(line for line in out.splitlines() if entry.spec in line)
        ms = catalogue.completion_ms(entry, machine)
        assert entry.name in row and f"~{ms:,.0f} ms" + (" slow" if ms > catalogue.LATENCY_BUDGET_MS else "") in row
    assert "8 ms (Q8_0) / 9 ms (K-quants) per token per GB" in out and "for this machine:" in out


def test_pull_reports_progress_as_lines_when_not_a_terminal(repo, capsys):
    code, out, err = cove(capsys, "pull", f"{REPO}:Q8_0")
    assert code == 0 and "SHA-256 checked" in out and f"--model hf:{REPO}:Q8_0" in out
    assert "downloading tiny.Q8_0.gguf (MB) [1/1]" in err and "\r" not in err


def test_pull_of_a_missing_repository_exits_2_with_one_line(hub, capsys):  # noqa: F811
    code, _, err = cove(capsys, "pull", "acme/missing-GGUF:Q8_0")
    assert code == 2 and err.count("\n") == 1 and "acme/missing-GGUF" in err


def test_rm_prints_what_it_freed(repo, capsys):
    cove(capsys, "pull", f"{REPO}:Q8_0")
    code, out, _ = cove(capsys, "rm", f"{REPO}:Q8_0")
    assert code == 0 and "removed " in out and "tiny.Q8_0.gguf" in out and "freed " in out
    assert f"hf:{REPO}" not in cove(capsys, "list")[1]
