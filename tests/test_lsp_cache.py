"""The result cache: exact hits, typed-into hits, eviction."""

from __future__ import annotations

from lsp.cache import ResultCache


def test_an_exact_prefix_and_suffix_is_served():
    cache = ResultCache(4)
    cache.put("x = ", "\n", "compute()")
    assert cache.get("x = ", "\n") == "compute()"


def test_an_empty_answer_is_remembered_as_empty_not_missing():
    cache = ResultCache(4)
    cache.put("x = ", "", "")
    assert cache.get("x = ", "") == ""


def test_typing_into_a_completion_serves_the_rest():
    cache = ResultCache(4)
    cache.put("x = ", "\n", "compute()")
    assert cache.get("x = comp", "\n") == "ute()"


def test_typing_something_else_misses():
    cache = ResultCache(4)
    cache.put("x = ", "\n", "compute()")
    assert cache.get("x = cont", "\n") is None


def test_typing_the_whole_completion_misses():
    cache = ResultCache(4)
    cache.put("x = ", "\n", "f()")
    assert cache.get("x = f()", "\n") is None


def test_a_different_suffix_misses():
    cache = ResultCache(4)
    cache.put("x = ", "\n", "compute()")
    assert cache.get("x = comp", ")\n") is None


def test_the_least_recently_used_entry_is_evicted():
    cache = ResultCache(2)
    cache.put("a", "", "1")
    cache.put("b", "", "2")
    cache.get("a", "")
    cache.put("c", "", "3")
    assert (cache.get("a", ""), cache.get("b", ""), len(cache)) == ("1", None, 2)
