"""Verdict rules on made-up results: a model that can do nothing, pure noise, a 1-in-300 difference."""

import random

from unisandbox.metrics.claims import (
    AGREES,
    DISAGREES,
    INCONCLUSIVE,
    NOT_TESTABLE,
    decide,
    paired_test,
    probe_precondition,
    share_precondition,
    significant,
)

C, W = "correct", "wrong"


def _outs(k: int, n: int) -> list[str]:
    return [C] * k + [W] * (n - k)


def test_a_model_that_can_do_nothing_is_never_said_to_agree():
    zero = _outs(0, 300)
    pre = [probe_precondition("probe", zero, chance=0.25)]
    v = decide(zero, zero, pre)
    assert v.verdict == NOT_TESTABLE and "probe" in v.reason
    # Even without a failing precondition, two zeros are no effect.
    assert decide(zero, zero, []).verdict == INCONCLUSIVE


def test_a_one_in_300_difference_is_inconclusive():
    pre = [probe_precondition("probe", _outs(290, 300), chance=0.25)]
    first, second = _outs(100, 300), _outs(99, 300)
    v = decide(first, second, pre)
    assert v.verdict == INCONCLUSIVE
    assert v.test.n == 300 and v.test.only_first == 1 and v.test.p_mcnemar == 1.0


def test_clear_effects_agree_or_disagree():
    pre = [probe_precondition("probe", _outs(95, 100), chance=0.25)]
    assert decide(_outs(60, 100), _outs(20, 100), pre).verdict == AGREES
    assert decide(_outs(20, 100), _outs(60, 100), pre).verdict == DISAGREES


def test_pure_noise_rarely_agrees():
    rng = random.Random(0)
    pre = [probe_precondition("probe", _outs(95, 100), chance=0.25)]
    verdicts = []
    for _ in range(200):
        a = [C if rng.random() < 0.3 else W for _ in range(300)]
        b = [C if rng.random() < 0.3 else W for _ in range(300)]
        verdicts.append(decide(a, b, pre).verdict)
    # Newcombe's 95% interval: about 2.5% of noise lands above 0.
    assert verdicts.count(AGREES) <= 12 and verdicts.count(INCONCLUSIVE) >= 170


def test_preconditions_need_the_floor_and_more_than_chance():
    assert not probe_precondition("p", _outs(40, 100), chance=0.25).holds  # under the floor
    assert not probe_precondition("p", _outs(11, 20), chance=0.5).holds  # at chance within noise
    assert probe_precondition("p", _outs(95, 100), chance=0.25).holds
    assert not probe_precondition("p", ["error"] * 5, chance=0.25).holds  # nothing scored
    assert not share_precondition("rejected", 6, 900, 0.1).holds
    assert share_precondition("rejected", 200, 900, 0.1).holds


def test_errors_and_missing_leave_the_pairing_and_p_is_never_zero():
    t = paired_test([C, "error", W, W], [W, C, "missing", W])
    assert t.n == 2 and (t.only_first, t.neither) == (1, 1)
    big = paired_test(_outs(600, 600), _outs(0, 600))
    assert 0.0 < big.p_mcnemar < 1e-150
    assert significant(0.0) > 0.0 and significant(0.0123456) == 0.0123
