"""assistant.hub against a fake Hub on 127.0.0.1: pull by tag or file, resume, checksum,
errors that name the missing piece, offline resolution of `--model hf:...`, removal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import hub as hub_api
from assistant.config import EngineConfig, resolve_model
from assistant.errors import CoveError
from tests.hub_server import cached_files, hub  # noqa: F401  (the fixture)

REPO = "acme/coder-GGUF"
FILES = {"coder.Q4_K_M.gguf": b"q4" * 500, "coder.Q8_0.gguf": b"q8" * 700, "README.md": b"# coder\n"}


def cache_dir() -> Path:
    return Path(os.environ["HF_HUB_CACHE"])


@pytest.fixture
def repo(hub):  # noqa: F811
    hub.hub.repos[REPO] = dict(FILES)
    return hub


@pytest.mark.parametrize("text, expected", [
    ("acme/coder-GGUF", hub_api.HubSpec(REPO)),
    ("hf:acme/coder-GGUF:Q8_0", hub_api.HubSpec(REPO, tag="Q8_0")),
    ("acme/coder-GGUF/sub/coder.Q8_0.gguf", hub_api.HubSpec(REPO, filename="sub/coder.Q8_0.gguf")),
])
def test_parse_spec(text, expected):
    assert hub_api.parse_spec(text) == expected


def test_parse_spec_rejects_a_bare_name():
    with pytest.raises(CoveError, match="OWNER/REPO:QUANT"):
        hub_api.parse_spec("coder:Q8_0")


def test_pick_prefers_the_tag_standing_alone():
    names = ["m.Q4_0.gguf", "m.Q4_0_4_4.gguf"]
    assert hub_api.pick(hub_api.HubSpec(REPO, tag="q4_0"), names) == "m.Q4_0.gguf"


def test_pick_an_ambiguous_tag_lists_the_candidates():
    with pytest.raises(CoveError, match="several files.*m.Q4_K_M.gguf, m.Q4_K_S.gguf"):
        hub_api.pick(hub_api.HubSpec(REPO, tag="Q4_K"), ["m.Q4_K_M.gguf", "m.Q4_K_S.gguf"])


def test_pull_by_tag_downloads_the_matching_file(repo):
    path = hub_api.pull(hub_api.parse_spec(f"{REPO}:q8_0"))
    assert path.name == "coder.Q8_0.gguf" and path.read_bytes() == FILES["coder.Q8_0.gguf"]
    assert cache_dir() in path.parents


def test_pull_by_file_name(repo):
    path = hub_api.pull(hub_api.parse_spec(f"{REPO}/coder.Q4_K_M.gguf"))
    assert path.read_bytes() == FILES["coder.Q4_K_M.gguf"]


def test_an_interrupted_download_resumes_with_a_range_request(repo, monkeypatch):
    from huggingface_hub import constants

    # Small chunks, so the half body sent before the hang-up reaches the file (as 10 MB chunks of a real model do).
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 10_000)
    big = os.urandom(300_000)
    repo.hub.repos[REPO]["coder.Q8_0.gguf"] = big
    repo.hub.drop_once.add("coder.Q8_0.gguf")
    path = hub_api.pull(hub_api.parse_spec(f"{REPO}:Q8_0"))
    assert path.read_bytes() == big
    gets = [ranges for method, url, ranges in repo.hub.requests if method == "GET" and "/resolve/" in url]
    assert gets == [None, f"bytes={len(big) // 2}-"]


def test_a_wrong_checksum_is_an_error_and_leaves_no_file(repo):
    repo.hub.lie_about.add("coder.Q8_0.gguf")
    with pytest.raises(CoveError, match="coder.Q8_0.gguf failed its SHA-256 check"):
        hub_api.pull(hub_api.parse_spec(f"{REPO}:Q8_0"))
    assert cached_files(cache_dir()) == []


def test_a_missing_file_is_a_one_line_error_naming_it(repo):
    with pytest.raises(CoveError, match=f"no file nope.gguf in {REPO}") as error:
        hub_api.pull(hub_api.parse_spec(f"{REPO}/nope.gguf"))
    assert "\n" not in str(error.value)


def test_a_missing_repository_is_a_one_line_error_naming_it(hub):  # noqa: F811
    with pytest.raises(CoveError, match="no repository acme/nothing-GGUF on the Hugging Face Hub") as error:
        hub_api.pull(hub_api.parse_spec("acme/nothing-GGUF:Q8_0"))
    assert "\n" not in str(error.value)


def test_no_network_is_a_one_line_error(repo):
    repo.stop()
    with pytest.raises(CoveError, match="cannot reach the Hugging Face Hub") as error:
        hub_api.pull(hub_api.parse_spec(f"{REPO}:Q8_0"))
    assert "\n" not in str(error.value)


def test_model_hf_spec_downloads_when_not_cached(repo):
    path, reason = resolve_model(EngineConfig(model=Path(f"hf:{REPO}:Q4_K_M")), {"model": "command line"})
    assert path.read_bytes() == FILES["coder.Q4_K_M.gguf"]
    assert reason == f"command line: hf:{REPO}:Q4_K_M from the Hugging Face cache"


def test_model_hf_spec_resolves_offline_once_cached(repo):
    pulled = hub_api.pull(hub_api.parse_spec(f"{REPO}:Q8_0"))
    repo.stop()
    for spec in (f"hf:{REPO}:Q8_0", f"hf:{REPO}/coder.Q8_0.gguf"):
        assert resolve_model(EngineConfig(model=Path(spec)))[0] == pulled


def test_remove_a_tag_deletes_only_that_file(repo):
    kept = hub_api.pull(hub_api.parse_spec(f"{REPO}:Q4_K_M"))
    gone = hub_api.pull(hub_api.parse_spec(f"{REPO}:Q8_0"))
    paths, freed = hub_api.remove(hub_api.parse_spec(f"{REPO}:Q8_0"))
    assert paths == [gone] and freed == len(FILES["coder.Q8_0.gguf"])
    assert kept.exists() and not gone.exists()


def test_remove_a_repository_deletes_all_of_it(repo):
    hub_api.pull(hub_api.parse_spec(f"{REPO}:Q8_0"))
    hub_api.remove(hub_api.parse_spec(REPO))
    assert cached_files(cache_dir()) == []


def test_config_and_hub_do_not_import_huggingface_hub():
    code = "import assistant.config, assistant.hub, assistant.commands.models, sys; print('huggingface_hub' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
