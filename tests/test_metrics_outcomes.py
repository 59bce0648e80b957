"""The one scoring rule: unit outcomes, accuracy with errors and missing counted apart, chance level."""

import pytest

from unisandbox.metrics.outcomes import decode, encode, item_chance, rate, unit_chance, unit_outcomes
from unisandbox.training.evaluate import Score, official_items


def test_pair_outcome_combines_members_and_never_calls_error_or_missing_wrong():
    items = official_items("mapping", levels=(1,), limit=4)  # 4 pairs, A then B
    verdicts = [
        "correct",
        "correct",  # pair 0: correct
        "correct",
        "wrong",  # pair 1: wrong
        "wrong",
        "error",  # pair 2: error (a judge failure is not a wrong image)
        "error",
        "missing",
    ]  # pair 3: missing wins over error
    out = unit_outcomes(items, verdicts)
    assert out == ["correct", "wrong", "error", "missing"]
    r = rate(out, unit_chance(items))
    assert (r.correct, r.n, r.errors, r.missing, r.expected) == (1, 2, 1, 1, 4)
    assert r.accuracy == 0.5 and r.chance == pytest.approx(0.25)


def test_score_counts_errors_and_missing_apart_and_round_trips():
    s = Score.of(["correct", "wrong", "error", "missing", "correct"], chance=0.25)
    assert (s.k, s.n, s.errors, s.missing, s.expected) == (2, 3, 1, 1, 5)
    assert s.value == pytest.approx(2 / 3)
    d = s.to_dict()
    assert d["units"] == "10em1" and d["chance"] == 0.25
    assert Score.from_dict(d) == s
    assert decode(encode(list(s.outcomes))) == list(s.outcomes)
    assert Score.of([True, False]).outcomes == ("correct", "wrong")


def test_chance_model_per_task():
    math1 = official_items("math", levels=(1,), limit=1)[0]
    math3 = official_items("math", levels=(3,), limit=1)[0]
    assert item_chance(math1) == pytest.approx(1 / 4) and item_chance(math3) == pytest.approx(1 / 5)
    pair = official_items("mapping", levels=(3,), limit=1)
    assert [item_chance(it) for it in pair] == [0.5, 0.5] and unit_chance(pair) == pytest.approx(0.25)
    inverse = official_items("knowledge_inverse")[0]
    assert item_chance(inverse) == 0.5
    forward = official_items("knowledge_forward")
    portrait = next(it for it in forward if it.subtask == "forward_portrait")
    assert item_chance(portrait) == pytest.approx(1 / (2 * 3 * 4 * 3))


def test_unknown_verdicts_are_refused():
    with pytest.raises(ValueError):
        unit_outcomes(official_items("math", levels=(1,), limit=1), ["maybe"])
