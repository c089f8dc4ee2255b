"""Editor-request measurement: the tasks it builds and how it scores them."""

import math

from lsp.line_eval import FRESH_LINE, MID_LINE, Outcome, Task, best_mode, best_threshold, gate_score, make_tasks, summarize

FILE = "import os\n\n\ndef config_path(name):\n    base = os.path.expanduser('~')\n    return os.path.join(base, name)\n"


def test_a_mid_line_task_removes_the_rest_of_the_line_and_keeps_the_lines_below():
    task = next(t for t in make_tasks([("c.py", FILE)], 4, seed=1) if t.kind == MID_LINE)
    line_start = task.text.rfind("\n", 0, task.offset) + 1
    typed = task.text[line_start:task.offset]
    assert typed.strip() and (typed + task.truth) in FILE
    assert task.text[task.offset] == "\n" and task.text[task.offset + 1:] in FILE


def test_a_fresh_line_task_leaves_only_the_indentation():
    task = next(t for t in make_tasks([("c.py", FILE)], 4, seed=1) if t.kind == FRESH_LINE)
    line_start = task.text.rfind("\n", 0, task.offset) + 1
    assert not task.text[line_start:task.offset].strip()
    assert task.truth == task.truth.strip() and task.truth in FILE


def test_tasks_are_reproducible():
    assert make_tasks([("c.py", FILE)], 3, seed=7) == make_tasks([("c.py", FILE)], 3, seed=7)


def outcome(completion: str, truth: str, *probabilities: float) -> Outcome:
    """An outcome whose completion was written a character per token, at `probabilities`
    (0.5 each when not given)."""
    probabilities = probabilities or (0.5,) * len(completion)
    return Outcome(Task(MID_LINE, "c.py", "", 0, truth), completion, 10.0,
                   tuple((1, math.log(p)) for p in probabilities))


def test_scores_count_the_correct_start_and_the_rest_as_wrong():
    o = outcome("join(base, nom)\nmore", "join(base, name)")
    assert (o.first_line, o.kept, o.wrong, o.exact, o.shown) == ("join(base, nom)", 12, 3, False, True)


def test_summary_shares():
    s = summarize([outcome("abc", "abc"), outcome("", "xyz"), outcome("abd", "abc")])
    assert (s.exact, s.shown, s.precision) == (1 / 3, 2 / 3, 1 / 2)
    assert s.kept == 5 / 9


def test_the_gate_cuts_a_completion_before_its_first_unsure_token():
    o = outcome("abcxyz", "abcdef", 0.9, 0.9, 0.9, 0.3, 0.9, 0.9)
    assert o.cut(0.5).completion == "abc" and o.cut(0.2).completion == "abcxyz"


def test_a_completion_unsure_from_its_first_token_is_not_shown():
    assert not outcome("zzz", "abc", 0.1, 0.9, 0.9).cut(0.5).shown


def test_the_simulated_names_floor_cuts_before_a_made_up_name_as_the_completer_does():
    task = Task(MID_LINE, "c.py", "total = 0\nx = ", len("total = 0\nx = "), "total + 1")
    made_up = Outcome(task, "count + 1", 10.0, ((5, math.log(0.5)), (2, math.log(0.9)), (2, math.log(0.9))))
    known = Outcome(task, "total + 1", 10.0, made_up.tokens)
    assert made_up.cut(0.1, 0.9).completion == "" and not made_up.cut(0.1, 0.9).shown
    assert known.cut(0.1, 0.9) == known and made_up.cut(0.1, 0.0) == made_up


def test_with_the_token_gate_off_made_up_names_are_shown_too():
    task = Task(MID_LINE, "c.py", "x = ", 4, "total")
    made_up = Outcome(task, "count", 10.0, ((5, math.log(0.5)),))
    assert made_up.cut(0.0, 0.9) == made_up


def test_the_gate_keeps_what_pays_and_hides_what_does_not():
    outcomes = [outcome("abcdef", "abcdef", *[0.9] * 6), outcome("abczzz", "abcdef", 0.9, 0.9, 0.9, 0.2, 0.2, 0.2)]
    assert gate_score(outcomes, 0.0) == 6 and gate_score(outcomes, 0.5) == 9
    assert 0.2 < best_threshold(outcomes) <= 0.9
    assert summarize(outcomes, 0.5).wrong_chars == 0


def test_the_best_mode_keeps_more_than_it_gets_wrong():
    right = [outcome("abc", "abc")]
    noisy = [outcome("abcxxxxxxxx", "abc")]
    assert best_mode({"spm": right, "psm": noisy}, MID_LINE) == "spm"


def test_a_mode_that_stays_silent_does_not_win_by_showing_nothing_wrong():
    silent = [outcome("", "abcd")] * 4
    unsure_tail = [outcome("abzzzz", "abcd", 0.9, 0.9, 0.2, 0.2, 0.2, 0.2)] * 4
    assert gate_score(unsure_tail, 0.0) < 0 == gate_score(silent, 0.0)
    assert best_mode({"spm": silent, "psm": unsure_tail}, MID_LINE) == "psm"
