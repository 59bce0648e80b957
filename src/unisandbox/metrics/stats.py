"""Pure statistics: binomial intervals, the exact McNemar test and paired differences.

Everything here is a function of counts (or 0/1 arrays and an explicit seed), with no I/O, so that
each value can be checked against published figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval."""

    value: float
    """The point estimate."""
    low: float
    """Lower end of the interval."""
    high: float
    """Upper end of the interval."""


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n; (0, 1) when n == 0.

    >>> [round(x, 4) for x in wilson(81, 263)]
    [0.2553, 0.3662]
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    z = _z(confidence)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Clamp the rounding noise at the ends (k == 0 or k == n give exact 0 or 1 bounds).
    return (max(0.0, centre - half) if k > 0 else 0.0, min(1.0, centre + half) if k < n else 1.0)


def binom_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), computed exactly with integers."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return sum(math.comb(n, i) for i in range(k + 1)) / (1 << n)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for the discordant counts b and c (binomial test, p = 1/2).

    `b`: pairs where the first condition succeeded and the second failed; `c`: the reverse.

    >>> round(mcnemar_exact(1, 9), 4)
    0.0215
    """
    if b < 0 or c < 0:
        raise ValueError(f"counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * binom_cdf_half(min(b, c), n))


def newcombe_paired_diff(a: int, b: int, c: int, d: int, confidence: float = 0.95) -> Estimate:
    """Difference p1 - p2 of two paired proportions with Newcombe's hybrid score interval (method 10).

    Counts of pairs: `a` both succeed, `b` only the first, `c` only the second, `d` neither.
    Newcombe (1998), Stat Med 17:2635-2650; Fagerland, Lydersen & Laake, "Statistical Analysis of
    Contingency Tables" (2017), chapter 8: a=59, b=6, c=16, d=80 gives -0.0621 (-0.1186, -0.0046).
    """
    n = a + b + c + d
    if min(a, b, c, d) < 0:
        raise ValueError("counts must be non-negative")
    if n == 0:
        return Estimate(0.0, -1.0, 1.0)
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, confidence)
    l2, u2 = wilson(a + c, n, confidence)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    # Newcombe's phi: a positive association is shrunk by n/2 (and floored at 0), a negative one is
    # used as is; this is the form the published worked examples use.
    cross: float = a * d - b * c
    cross = max(cross - n / 2, 0.0) if cross > 0 else cross
    phi = cross / math.sqrt(denom) if denom > 0 else 0.0
    diff = p1 - p2
    dl = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    du = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    return Estimate(diff, max(-1.0, diff - math.sqrt(max(dl, 0.0))), min(1.0, diff + math.sqrt(max(du, 0.0))))


def paired_counts(x: Sequence[bool], y: Sequence[bool]) -> tuple[int, int, int, int]:
    """(a, b, c, d) of two aligned 0/1 sequences: both, only x, only y, neither."""
    if len(x) != len(y):
        raise ValueError(f"paired sequences differ in length: {len(x)} != {len(y)}")
    a = sum(1 for u, v in zip(x, y, strict=True) if u and v)
    b = sum(1 for u, v in zip(x, y, strict=True) if u and not v)
    c = sum(1 for u, v in zip(x, y, strict=True) if v and not u)
    return a, b, c, len(x) - a - b - c


def cluster_bootstrap_diff(
    x: Sequence[bool],
    y: Sequence[bool],
    clusters: Sequence[str],
    seed: int,
    n_boot: int = 2000,
    confidence: float = 0.95,
) -> Estimate:
    """mean(x) - mean(y) with a percentile interval from resampling whole clusters (e.g. items).

    Used when several paired units share an item (more than one sample per item), where units are
    not independent and the closed-form paired interval would be too narrow.
    """
    import numpy as np

    if not (len(x) == len(y) == len(clusters)):
        raise ValueError("x, y and clusters must have the same length")
    if not x:
        return Estimate(0.0, -1.0, 1.0)
    names = sorted(set(clusters))
    index = {name: i for i, name in enumerate(names)}
    cid = np.fromiter((index[c] for c in clusters), dtype=np.int64, count=len(clusters))
    dx = np.bincount(cid, weights=np.asarray(x, dtype=float), minlength=len(names))
    dy = np.bincount(cid, weights=np.asarray(y, dtype=float), minlength=len(names))
    size = np.bincount(cid, minlength=len(names)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(n_boot, len(names)))
    diffs = (dx[draws].sum(1) - dy[draws].sum(1)) / size[draws].sum(1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    value = (dx.sum() - dy.sum()) / size.sum()
    return Estimate(float(value), float(low), float(high))
