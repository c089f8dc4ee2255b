"""Keystroke to ghost text in a real VS Code: code-server with Cove's extension in headless
Chromium types a line of a real file one key at a time, and times each keystroke from its
`keydown` to the DOM change that draws the new ghost text (the page's own clock). Beside
it, the server's own latency for the same requests, from `cove.status` (the extension's
*Show server status* writes it to its log before and after the replay).

Keystroke i is paired with request i (one request per keystroke: each key is followed by
a pause); the median of the per-keystroke differences is what VS Code and the extension add
(goal: at most 30 ms at p50). Keystrokes that type along the ghost text already shown are
counted apart: VS Code keeps showing the rest of it without waiting for the server.

    .venv/bin/python benchmarks/vscode_ghost_text.py [--file textwrap.py] [--line 283] [--min-confidence 0]

Needs what tests/test_vscode_browser.py needs (`bash .ci/install_code_server.sh`, Chromium).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import sysconfig
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import code_server  # noqa: E402

STATUS_LINE = "cove.status "


def server_records(log: str) -> tuple[list[dict], list[dict]]:
    """The request records of the two `cove.status` answers in the extension's log."""
    answers = [json.loads(line.split(STATUS_LINE, 1)[1]) for line in log.splitlines() if STATUS_LINE in line]
    if len(answers) != 2:
        raise SystemExit(f"vscode_ghost_text: expected 2 cove.status lines in the extension's log, found {len(answers)}")
    return answers[0]["records"], answers[1]["records"]


def p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="textwrap.py", help="standard-library file to type into")
    parser.add_argument("--line", type=int, default=283, help="0-based line whose text is typed after the lines above it")
    parser.add_argument("--min-confidence", type=float, default=0.0,
                        help="cove.minConfidence (0: every keystroke gets a completion to time)")
    parser.add_argument("--quiet-ms", type=int, default=400, help="pause after each keystroke's ghost text")
    parser.add_argument("--out", type=Path, help="folder for the results and screenshots (default: a temporary one)")
    args = parser.parse_args()
    reason = code_server.missing()
    if reason:
        raise SystemExit(f"vscode_ghost_text: {reason}")

    lines = (Path(sysconfig.get_paths()["stdlib"]) / args.file).read_text().splitlines()
    target = lines[args.line]
    indent = target[: len(target) - len(target.lstrip())]
    replay = target.lstrip()
    out = args.out or Path(tempfile.mkdtemp(prefix="cove-vscode-bench-"))
    workspace = out / "project"
    workspace.mkdir(parents=True, exist_ok=True)
    name = Path(args.file).name
    (workspace / name).write_text("\n".join(lines[: args.line]) + "\n" + indent)
    code_server.link_server(workspace)

    vsix = code_server.build()
    settings = {**code_server.base_settings(out / "acceptance.sqlite3"), "cove.minConfidence": args.min_confidence}
    server = code_server.start(vsix, out / "code-server", workspace, settings, {**os.environ, "COVE_CONFIG": os.devnull})
    try:
        seen = code_server.drive("bench", server, out / "driver", timeout=600, file=name, replay=replay,
                                 timeoutMs=3000, quietMs=args.quiet_ms)
    finally:
        server.stop()
    before, after = server_records(server.extension_log())
    records = after[len(before):]
    keys = seen["keystrokes"]
    if len(records) != len(keys):
        raise SystemExit(f"vscode_ghost_text: {len(keys)} keystrokes but {len(records)} server requests; "
                         "cannot pair them (raise --quiet-ms)")
    # Keystroke i asked request i: VS Code asks once per keystroke here (one key, then quiet).
    new = [(k["ms"], r["latency_ms"]) for k, r in zip(keys, records)
           if k["ms"] is not None and not k["typedAlong"] and r["served_from"] in ("model", "cache")]
    along = [k["ms"] for k in keys if k["ms"] is not None and k["typedAlong"]]
    summary = {
        "file": f"{args.file}:{args.line + 1}", "typed": replay, "keystrokes": len(keys),
        "serverServedFrom": {s: sum(r["served_from"] == s for r in records) for s in sorted({r["served_from"] for r in records})},
        "newGhostText": len(new),
        "browserP50Ms": p50([b for b, _ in new]),
        "serverP50Ms": p50([s for _, s in new]),
        "addedP50Ms": p50([b - s for b, s in new]),
        "addedMinMs": min((b - s for b, s in new), default=None),
        "typedAlong": len(along),
        "browserTypedAlongP50Ms": p50(along),
        "serverAllP50Ms": p50([r["latency_ms"] for r in records if r["served_from"] in ("model", "cache")]),
    }
    (out / "results.json").write_text(json.dumps({"summary": summary, "seen": seen, "records": records}, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"details and screenshots: {out}")


if __name__ == "__main__":
    main()
