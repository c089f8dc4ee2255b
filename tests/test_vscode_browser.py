"""A real VS Code: code-server with Cove's extension (the built .vsix) in headless Chromium.

One browser session (the driver's "check", about 25 seconds) opens a Python file, types,
and records what the page showed; each test below checks one thing it saw. Skipped where
code-server or Chromium is missing, with the command that installs them; in CI, where
.ci/run installs them, they fail instead. On failure the screenshots and the extension's
log are in the driver's folder, named in the error."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lsp.settings import Settings, camel
from tests import code_server

#: The file the test opens, and what it types on a new line at its end.
SOURCE = '''import os


def data_path(name):
    """The data file called name, beside this module."""
    here = os.path.dirname(__file__)
    return os.path.join(here, "data", name)


def config_path(name):'''
TYPED = "return os.pa"
#: A server setting the test changes in the Settings editor while the server runs.
MAX_TOKENS = 7
#: Settings only the extension reads, and server settings it does not mirror: the
#: workspace is the editor's folder (sent as rootUri), trigger characters serve menus.
EXTENSION_ONLY = {"enable", "path", "debounceMs", "trace.server"}
NOT_MIRRORED = {"workspace", "triggerCharacters"}

#: Skipped where the pieces are missing, except in CI (.ci/run installs them): there a
#: missing piece fails the tests instead of hiding a broken install.
browser = pytest.mark.skipif(code_server.missing() is not None and os.environ.get("CI") != "true",
                             reason=str(code_server.missing()))


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs the browser once: what it saw, the saved file and `cove stats --json` after it."""
    if code_server.missing():
        pytest.fail(str(code_server.missing()))
    vsix = code_server.build()
    folder = tmp_path_factory.mktemp("vscode")
    workspace = folder / "project"
    workspace.mkdir()
    (workspace / "paths.py").write_text(SOURCE)
    server_link = code_server.link_server(workspace)
    acceptance = folder / "acceptance.sqlite3"
    settings = code_server.base_settings(acceptance)
    env = {**os.environ, "COVE_CONFIG": os.devnull}
    server = code_server.start(vsix, folder, workspace, settings, env)
    try:
        seen = code_server.drive("check", server, folder / "driver", timeout=240,
                                 file="paths.py", typed=TYPED, maxTokens=MAX_TOKENS, timeoutMs=30000,
                                 quietMs=2500)
    finally:
        server.stop()
    stats = subprocess.run([sys.executable, "-m", "assistant", "stats", "--json", "--db", str(acceptance)],
                           capture_output=True, text=True, check=True)
    saved = (workspace / "paths.py").read_text()
    return {"seen": seen, "saved": saved, "stats": json.loads(stats.stdout), "log": server.extension_log(),
            "folder": folder, "server": server_link,
            "word": saved.splitlines()[-1].strip().removeprefix(TYPED)}  # what accept-word inserted


def test_settings_mirror_the_servers_names_and_defaults():
    properties = json.loads((code_server.EXTENSION / "package.json").read_text())["contributes"]["configuration"]["properties"]
    mirrored = {key.removeprefix("cove."): spec["default"] for key, spec in properties.items()
                if key.removeprefix("cove.") not in EXTENSION_ONLY}
    server = {camel(field.name): field.default for field in dataclasses.fields(Settings)
              if camel(field.name) not in NOT_MIRRORED}
    assert mirrored == server


@pytest.mark.slow
@browser
def test_the_server_is_found_in_the_workspaces_virtualenv(session: dict):
    assert f"starting {session['server']} lsp" in session["log"]


@pytest.mark.slow
@browser
def test_clicking_the_status_item_opens_the_menu(session: dict):
    menu = " | ".join(session["seen"]["menu"])
    for entry in ("Disable completions", "Disable for python", "Reload model", "Show statistics", "Open log",
                  "Show server status", "Restart server"):
        assert entry in menu, menu


@pytest.mark.slow
@browser
def test_ghost_text_shows_the_models_completion(session: dict):
    seen = session["seen"]
    assert seen["statusReady"].startswith("Cove"), seen
    assert seen["ghost"], f"no ghost text after typing {TYPED!r}: {seen} (screenshots in {session['folder']})"
    assert not seen["suggestWidgetOpen"]


@pytest.mark.slow
@browser
def test_tab_inserts_the_ghost_text_into_the_document(session: dict):
    seen = session["seen"]
    assert seen["ghostAfterTab"] is None
    assert session["saved"].startswith(SOURCE + "\n    " + TYPED + seen["ghost"] + "\n")


@pytest.mark.slow
@browser
def test_accepting_with_tab_is_counted_by_cove_stats(session: dict):
    total = session["stats"]["total"]
    assert total["accepted"] == 1, (total, session["log"][-3000:])
    assert total["acceptedChars"] == len(session["seen"]["ghost"]) + len(session["word"])


@pytest.mark.slow
@browser
def test_accepting_a_word_is_counted_as_a_partial_accept(session: dict):
    seen = session["seen"]
    word = session["word"]
    assert len(word) >= 2 and seen["wordGhost"].startswith(word) and word != seen["wordGhost"], seen
    assert session["stats"]["total"]["partiallyAccepted"] == 1


@pytest.mark.slow
@browser
def test_no_ghost_text_for_a_disabled_language(session: dict):
    seen = session["seen"]
    assert "off for python" in seen["statusDisabled"]
    assert seen["ghostWhileDisabled"] is None


@pytest.mark.slow
@browser
def test_a_server_path_that_points_at_nothing_is_notified(session: dict):
    seen = session["seen"]
    assert "/nonexistent/cove" in seen["notification"] and "cove.path" in seen["notification"], seen
    assert "error" in seen["status"]


@pytest.mark.slow
@browser
def test_a_changed_server_setting_reaches_the_running_server(session: dict):
    statuses = [json.loads(line.split("cove.status ", 1)[1]) for line in session["log"].splitlines()
                if "cove.status " in line]
    assert statuses and statuses[-1]["settings"]["max_tokens"] == MAX_TOKENS
    assert session["log"].count("] starting ") == 1  # no restart
