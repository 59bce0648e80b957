import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from unisandbox.metrics.base import METRICS
from unisandbox.metrics.stats import (
    cluster_bootstrap_diff,
    mcnemar_exact,
    newcombe_paired_diff,
    paired_counts,
    wilson,
)


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (81, 263), (57, 100)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson(k, n)
    assert low == pytest.approx(ci.low, abs=1e-9)
    assert high == pytest.approx(ci.high, abs=1e-9)


def test_wilson_empty_and_bad_input():
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(5, 3)
    with pytest.raises(ValueError):
        wilson(1, 2, confidence=1.5)


@given(st.integers(0, 60), st.integers(0, 60))
@settings(max_examples=80, deadline=None)
def test_mcnemar_matches_scipy_binomial_test(b, c):
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert mcnemar_exact(b, c) == mcnemar_exact(c, b)


def test_mcnemar_known_value():
    # 1 vs 9 discordant pairs: 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024.
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)


def test_newcombe_published_example():
    # Fagerland, Lydersen & Laake (2017), chapter 8, Newcombe square-and-add interval.
    est = newcombe_paired_diff(59, 6, 16, 80)
    assert est.value == pytest.approx(-10 / 161)
    assert round(est.low, 4) == -0.1186
    assert round(est.high, 4) == -0.0046


@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
@settings(max_examples=150, deadline=None)
def test_newcombe_interval_contains_estimate_and_stays_in_range(a, b, c, d):
    est = newcombe_paired_diff(a, b, c, d)
    assert -1.0 <= est.low <= est.value + 1e-12
    assert est.value - 1e-12 <= est.high <= 1.0
    if a + b + c + d:
        assert est.value == pytest.approx((b - c) / (a + b + c + d))


def test_newcombe_coverage_by_simulation():
    # Seeded simulation: the 95% interval should cover the true difference about 95% of the time.
    import numpy as np

    rng = np.random.default_rng(7)
    probs = [0.5, 0.15, 0.05, 0.3]  # both, only first, only second, neither
    true = probs[1] - probs[2]
    hits = 0
    trials = 600
    for _ in range(trials):
        a, b, c, d = rng.multinomial(80, probs)
        est = newcombe_paired_diff(int(a), int(b), int(c), int(d))
        hits += est.low <= true <= est.high
    assert 0.91 <= hits / trials <= 0.99


def test_paired_counts():
    assert paired_counts([1, 1, 0, 0, 1], [1, 0, 1, 0, 0]) == (1, 2, 1, 1)
    with pytest.raises(ValueError):
        paired_counts([1], [1, 0])


def test_cluster_bootstrap_is_seeded_and_centred():
    x = [True, True, False, True, False, True] * 5
    y = [False, True, False, False, False, True] * 5
    clusters = [f"i{i // 2}" for i in range(len(x))]
    a = cluster_bootstrap_diff(x, y, clusters, seed=3, n_boot=500)
    b = cluster_bootstrap_diff(x, y, clusters, seed=3, n_boot=500)
    assert a == b
    assert a.value == pytest.approx((sum(x) - sum(y)) / len(x))
    assert a.low <= a.value <= a.high
    assert a.high - a.low > 0


def test_metric_directions_declared():
    assert METRICS["accuracy"].higher_is_better is True
    assert METRICS["gap"].higher_is_better is False
    assert METRICS["mcnemar_p"].higher_is_better is None
    assert all(isinstance(m.description, str) and m.description for m in METRICS.values())
