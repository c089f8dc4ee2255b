"""Stages of one request (assistant/stopwatch.py): laps in order, stages timed elsewhere fitted in."""

import time

from assistant.stopwatch import Stopwatch


def test_laps_time_the_stages_in_order_and_a_repeated_stage_adds_up():
    watch = Stopwatch()
    time.sleep(0.02)
    watch.lap("a")
    watch.lap("b")
    time.sleep(0.01)
    watch.lap("a")
    assert list(watch.stages) == ["a", "b"]
    assert watch.stages["a"] >= 30 > watch.stages["b"]


def test_stages_timed_elsewhere_are_not_counted_again_by_the_next_lap():
    watch = Stopwatch()
    time.sleep(0.03)  # the engine's own stopwatch ran these 30 ms
    watch.took({"prompt": 10.0, "generation": 20.0})
    watch.lap("handback")
    assert watch.stages["handback"] < 25  # not the 30 ms the engine already counted
    assert list(watch.stages) == ["prompt", "generation", "handback"]
