"""Reading a GGUF header without materialising its vocabulary."""

from pathlib import Path

import gguf
import pytest

from assistant import locations
from assistant.errors import ModelError
from assistant.gguf_file import gguf_header, gguf_summary, read_header


def _scalars_by_gguf_py(path: Path) -> dict[str, object]:
    fields = gguf.GGUFReader(path).fields.values()
    return {f.name: f.contents() for f in fields
            if f.types and f.types[0] is not gguf.GGUFValueType.ARRAY and not f.name.startswith("GGUF.")}


@pytest.mark.parametrize("which", ["tiny", "bundled"])
def test_the_header_has_the_same_scalars_as_gguf_py_reads(which, tiny_gguf):
    path = tiny_gguf if which == "tiny" else locations.BUNDLED_MODEL
    ours = gguf_header(path)
    theirs = _scalars_by_gguf_py(path)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value) if isinstance(value, float) else ours[key] == value


def test_the_vocabulary_scan_keeps_only_sentinel_like_tokens(tiny_gguf):
    _, sentinels = read_header(tiny_gguf, sentinels=True)
    assert {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<mask_1>", "<eom>"} <= set(sentinels)
    assert all(text.startswith(("<", "▁<")) for text in sentinels)


def test_the_summary_names_the_fim_family_and_chat_template():
    summary = gguf_summary(locations.BUNDLED_MODEL)
    assert (summary.architecture, summary.fim_family, summary.chat_template) == ("llama", "starcoder", False)
    assert summary.context_length == 1024
    assert summary.mode == "fim (starcoder)"


def test_a_truncated_header_is_a_one_line_error(tmp_path):
    damaged = tmp_path / "cut.gguf"
    damaged.write_bytes(locations.BUNDLED_MODEL.read_bytes()[:2000])
    assert gguf_header(damaged) == {}
    with pytest.raises(ModelError, match="damaged GGUF header"):
        gguf_summary(damaged)


def test_a_file_that_is_not_gguf_is_refused(tmp_path):
    other = tmp_path / "model.bin"
    other.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelError, match="not a GGUF file"):
        gguf_summary(other)
