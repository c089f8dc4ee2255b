"""A real VS Code for tests and benchmarks: code-server with Cove's extension installed,
started on 127.0.0.1 with seeded settings, driven in Debian's headless Chromium by
editors/vscode/test/driver.mjs.

code-server is installed once, outside the repository, by `.ci/install_code_server.sh`
(which `.ci/run` calls); the extension and the driver are built by `make vscode vscode-driver`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.llama_server import terminate

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "editors" / "vscode"
DRIVER = EXTENSION / "test" / "driver.mjs"
CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install chromium ripgrep libkrb5-dev && bash .ci/install_code_server.sh"
_LISTENING = re.compile(r"HTTP server listening on (http://127\.0\.0\.1:\d+)/")


def code_server_entry() -> Path:
    """Where `.ci/install_code_server.sh` puts code-server's entry point (for the version it pins)."""
    version = json.loads((ROOT / ".ci" / "code-server" / "package.json").read_text())["dependencies"]["code-server"]
    home = Path(os.environ.get("COVE_CODE_SERVER_HOME", Path.home() / ".cache" / "cove" / "code-server"))
    return home / version / "node_modules" / "code-server" / "out" / "node" / "entry.js"


def missing() -> str | None:
    """Why the browser tier cannot run here (and the command that fixes it), or None."""
    absent = [name for name, ok in (("node", shutil.which("node")), ("npm", shutil.which("npm")),
                                    ("Chromium", CHROMIUM.exists()), ("code-server", code_server_entry().exists()))
              if not ok]
    return f"{', '.join(absent)} not installed: run `{INSTALL}`" if absent else None


def build() -> Path:
    """The extension's .vsix and the driver's packages (make keeps both up to date)."""
    subprocess.run(["make", "-s", "vscode", "vscode-driver"], cwd=ROOT, check=True, timeout=600)
    version = json.loads((EXTENSION / "package.json").read_text())["version"]
    return EXTENSION / f"cove-{version}.vsix"


def link_server(workspace: Path) -> Path:
    """This interpreter's `cove` as the workspace's `.venv/bin/cove`, where the extension
    looks when `cove.path` is unset."""
    link = workspace / ".venv" / "bin" / "cove"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(Path(sys.executable).parent / "cove")
    return link


def base_settings(acceptance_file: Path) -> dict:
    """User settings for a quiet, offline VS Code (its Cove finds the server by itself)."""
    return {
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "workbench.welcomePage.walkthroughs.openOnInstall": False,
        "telemetry.telemetryLevel": "off",
        "security.workspace.trust.enabled": False,
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "extensions.ignoreRecommendations": True,
        "update.mode": "none",
        # VS Code's own word suggestions open the suggest widget while a word is typed, and
        # an open widget takes Tab (docs/EDITORS.md): off, so that Tab goes to the ghost text.
        "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
        "cove.acceptanceFile": str(acceptance_file),
    }


@dataclass
class CodeServer:
    """A running code-server; `stop()` ends it."""

    url: str
    user_data: Path
    process: subprocess.Popen
    log: Path

    def extension_log(self) -> str:
        """The extension's output channel ("Cove"), as VS Code wrote it to its log folder."""
        return "\n".join(p.read_text(errors="replace") for p in sorted((self.user_data / "logs").rglob("*Cove*.log")))

    def stop(self) -> None:
        terminate(self.process)


def start(vsix: Path, folder: Path, workspace: Path, settings: dict, env: dict | None = None) -> CodeServer:
    """code-server on a free port of 127.0.0.1 with `vsix` installed, `settings` as the user's
    settings.json and `workspace` open; its state lives in `folder`."""
    entry = code_server_entry()
    user_data, extensions = folder / "user-data", folder / "extensions"
    (user_data / "User").mkdir(parents=True, exist_ok=True)
    (user_data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    common = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    subprocess.run(["node", str(entry), "--install-extension", str(vsix), *common],
                   check=True, capture_output=True, timeout=120)
    log = folder / "code-server.log"
    process = subprocess.Popen(
        ["node", str(entry), "--auth", "none", "--bind-addr", "127.0.0.1:0", "--disable-telemetry",
         "--disable-update-check", "--disable-workspace-trust", *common, str(workspace)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    for line in process.stdout:  # it prints the address it listens on
        lines.append(line)
        found = _LISTENING.search(line)
        if found:
            break
    else:
        raise RuntimeError("code-server exited before listening:\n" + "".join(lines))
    with log.open("w") as sink:
        sink.writelines(lines)
    threading.Thread(target=_drain, args=(process, log), daemon=True).start()
    return CodeServer(f"{found.group(1)}/?folder={workspace}", user_data, process, log)


def _drain(process: subprocess.Popen, log: Path) -> None:
    with log.open("a") as sink:
        for line in process.stdout:
            sink.write(line)


def drive(scenario: str, server: CodeServer, out: Path, timeout: float, **config) -> dict:
    """Run the browser driver's `scenario` against `server`; what it saw, as a dict (its
    screenshots are in `out`). A driver failure raises with its output and the extension's log."""
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / "driver.json"
    config_file.write_text(json.dumps({"url": server.url, "chromium": str(CHROMIUM), "out": str(out), **config}))
    run = subprocess.run(["node", str(DRIVER), scenario, str(config_file)], capture_output=True, text=True,
                         timeout=timeout, cwd=DRIVER.parent)
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        (out / "extension.log").write_text(server.extension_log())
        raise AssertionError(f"browser driver failed (screenshot and extension log in {out}):\n"
                             f"{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
    return json.loads(lines[-1])
