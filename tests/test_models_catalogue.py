"""The catalogue is well-formed data and `suggest` picks the best model that fits."""

from assistant import hub
from assistant.catalogue import CATALOGUE, GB, RAM_SHARE, suggest


def test_every_entry_is_a_pullable_spec_whose_tag_picks_its_file():
    for entry in CATALOGUE:
        spec = hub.parse_spec(entry.spec)
        assert hub.pick(spec, [entry.filename, "README.md"]) == entry.filename


def test_ranks_are_unique():
    assert len({entry.rank for entry in CATALOGUE}) == len(CATALOGUE)


def test_suggest_picks_the_best_ranked_entry_that_fits():
    chosen = suggest(8 * GB)
    assert chosen is not None and chosen.ram_bytes <= 8 * GB * RAM_SHARE
    assert all(entry.rank > chosen.rank for entry in CATALOGUE if entry.ram_bytes <= 8 * GB * RAM_SHARE and entry != chosen)


def test_suggest_returns_none_when_nothing_fits():
    assert suggest(1 * GB) is None
