"""Verdict rules for a claim compared with the sandbox: fixed here, before any number is seen.

A claim says that a FIRST condition beats a SECOND one on the same scoring units (think mode over normal
mode, after STARS over before, ...). Its verdict, in this order:
1. **not testable**: a precondition fails. Every claim is about a model that understands what it is
   asked, so each names the understanding probe it needs: its accuracy at least `PROBE_FLOOR` and its
   95% Wilson lower bound above chance (`metrics.outcomes`). Some claims add one (STARS needs think-mode
   images above chance to learn from; rejection sampling needs the filter to have rejected at least
   `REJECTED_FLOOR` of the samples). A model that can do nothing therefore gets "not testable", never a
   verdict on a difference between two zeros. Also when no unit is scored in both conditions.
2. the paired comparison on the units scored in both (errors and missing never count): the difference
   first - second with Newcombe's paired 95% interval, and the exact McNemar p-value:
   - **agrees**: the interval lies above 0;
   - **disagrees**: the interval lies below 0;
   - **inconclusive**: the interval contains 0 (a 1-in-300 difference lands here, as does noise).

>>> v = decide(["correct"] * 60 + ["wrong"] * 40, ["correct"] * 20 + ["wrong"] * 80, [])
>>> v.verdict
'agrees'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from unisandbox.metrics.outcomes import paired_difference, rate

AGREES, INCONCLUSIVE, DISAGREES, NOT_TESTABLE = "agrees", "inconclusive", "disagrees", "not testable"
VERDICTS = (AGREES, INCONCLUSIVE, DISAGREES, NOT_TESTABLE)
PROBE_FLOOR = 0.5
"""An understanding probe must reach this accuracy for a claim about its task to be testable."""
REJECTED_FLOOR = 0.1
"""Rejection sampling is testable only when the judge rejected at least this share of the samples."""
CONFIDENCE = 0.95


def significant(p: float, digits: int = 3) -> float:
    """`p` with `digits` significant digits, never rounded to 0 (a p-value of 1e-40 stays 1e-40).

    >>> significant(0.000123456), significant(1.5e-200)
    (0.000123, 1.5e-200)
    """
    if p <= 0.0:
        return 5e-324  # an underflowed exact tail: the smallest positive float, not a zero
    return float(f"{p:.{digits - 1}e}")


@dataclass(frozen=True)
class Precondition:
    """One precondition of a claim and whether it holds."""

    name: str
    """What is checked, e.g. "math understanding probe (shared)"."""
    holds: bool
    detail: str
    """The numbers, e.g. "0.91 [0.84, 0.95] (91/100), chance 0.25, floor 0.50"."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_precondition(
    name: str, outcomes: Sequence[str], chance: float | None, floor: float = PROBE_FLOOR
) -> Precondition:
    """Holds when the accuracy is at least `floor` and its Wilson lower bound is above `chance`."""
    r = rate(outcomes, chance)
    if r.n == 0:
        return Precondition(name, False, f"nothing scored ({r.errors} errors, {r.missing} missing)")
    assert r.accuracy is not None and r.ci_low is not None and r.ci_high is not None
    ch = "unknown" if chance is None else f"{chance:.2f}"
    detail = (
        f"{r.accuracy:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] ({r.correct}/{r.n}), chance {ch}, "
        f"floor {floor:.2f}"
    )
    holds = r.accuracy >= floor and (chance is None or r.ci_low > chance)
    return Precondition(name, holds, detail)


def share_precondition(name: str, k: int, n: int, floor: float) -> Precondition:
    """Holds when k / n is at least `floor` (e.g. the share of samples the filter rejected)."""
    if n == 0:
        return Precondition(name, False, "no samples")
    return Precondition(name, k / n >= floor, f"{k}/{n} = {k / n:.2f}, floor {floor:.2f}")


@dataclass(frozen=True)
class PairedTest:
    """first - second on the units scored in both."""

    n: int
    """Units scored (correct or wrong) in both conditions."""
    both: int
    only_first: int
    only_second: int
    neither: int
    first: float
    """Accuracy of the first condition on these units."""
    second: float
    diff: float
    low: float
    """Lower end of Newcombe's paired 95% interval."""
    high: float
    p_mcnemar: float
    """Two-sided exact McNemar p-value, three significant digits, never 0."""

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (round(v, 4) if isinstance(v, float) and k != "p_mcnemar" else v)
            for k, v in asdict(self).items()
        }


def paired_test(first: Sequence[str], second: Sequence[str]) -> PairedTest | None:
    """The paired comparison of two aligned per-unit outcome lists; None when no unit is scored in both."""
    if len(first) != len(second):
        raise ValueError(f"paired outcomes differ in length: {len(first)} != {len(second)}")
    d = paired_difference(first, second, (), single=True)
    if d is None or d.mcnemar_p is None:
        return None
    a, b, c = d.both, d.only_first, d.only_second
    return PairedTest(
        d.n,
        a,
        b,
        c,
        d.neither,
        (a + b) / d.n,
        (a + c) / d.n,
        d.value,
        d.low,
        d.high,
        significant(d.mcnemar_p),
    )


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim, with why."""

    verdict: str
    """One of VERDICTS."""
    reason: str
    test: PairedTest | None
    preconditions: tuple[Precondition, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "test": self.test.as_dict() if self.test else None,
            "preconditions": [p.as_dict() for p in self.preconditions],
        }


def decide(first: Sequence[str], second: Sequence[str], preconditions: Sequence[Precondition]) -> Verdict:
    """The verdict on "first beats second" (module docstring)."""
    pre = tuple(preconditions)
    failed = [p for p in pre if not p.holds]
    test = paired_test(first, second)
    if failed:
        return Verdict(NOT_TESTABLE, "; ".join(f"{p.name}: {p.detail}" for p in failed), test, pre)
    if test is None:
        return Verdict(NOT_TESTABLE, "no unit scored in both conditions", None, pre)
    span = f"{test.diff:+.2f} [{test.low:+.2f}, {test.high:+.2f}], McNemar p = {test.p_mcnemar:.3g}, n = {test.n}"
    if test.low > 0:
        return Verdict(AGREES, f"difference {span}: the interval lies above 0", test, pre)
    if test.high < 0:
        return Verdict(DISAGREES, f"difference {span}: the interval lies below 0", test, pre)
    return Verdict(INCONCLUSIVE, f"difference {span}: the interval contains 0", test, pre)
