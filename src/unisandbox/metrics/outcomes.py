"""Per-unit outcomes, accuracy and chance level: the one scoring rule every path uses.

A scoring unit is an item, or an A/B pair for mapping (items sharing `Item.group`). A unit's outcome
combines its members' verdicts: any member missing -> "missing"; else any member not yet judged ->
"pending"; else any judge error -> "error"; else "correct" when every member is, else "wrong".
Accuracy is correct / (correct + wrong): errors, missing and pending units are never counted as wrong,
and always counted (`Rate.errors`, `Rate.missing`), as the glossary says.

The run summary (`metrics.summary`), the training experiments (`training.evaluate`, STARS, injection,
`unisandbox study`) and the sandbox evaluation (`models.sandbox.evaluate`) all score through
`unit_outcomes` and `rate` here.

Chance level (`item_chance`, `unit_chance`): the accuracy of a model that knows the task's form but
guesses the answer uniformly among the answers the item allows:
- math: the count, uniformly over the item's answer range (`meta["answer_range"]`; the study's 1-4 at
  levels 1-2 and 1-5 at level 3 when an item does not record it), the object being named in the prompt:
  1/4 or 1/5;
- mapping: one of the objects the rules name (two in every generated item): 1/2 per item, so 1/4 per
  A/B pair (the two sides guessed independently);
- knowledge forward: one fruit of `FRUITS`, one flower of `FLOWERS`, or one portrait of the
  gender x age x hair x skin combinations; knowledge inverse: one of the two characters named, 1/2.
The same model gives the understanding probe's chance (the probe asks for the same answer in words).

>>> unit_outcomes_of(["a", "a", "b"], ["correct", "wrong", "error"])
['wrong', 'error']
>>> r = rate(["correct", "wrong", "error", "missing"])
>>> (r.correct, r.n, r.errors, r.missing, r.accuracy)
(1, 2, 1, 1, 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from unisandbox.metrics.stats import wilson

OUTCOMES = ("correct", "wrong", "error", "missing", "pending")
DECIDED = ("correct", "wrong")
CONFIDENCE = 0.95
_CODE = {"correct": "1", "wrong": "0", "error": "e", "missing": "m", "pending": "p"}
_DECODE = {v: k for k, v in _CODE.items()}


def unit_verdict(members: Sequence[str]) -> str:
    """One unit's outcome from its members' verdicts (see the module docstring for the order)."""
    bad = [v for v in members if v not in OUTCOMES]
    if bad:
        raise ValueError(f"unknown verdict {bad[0]!r}; expected one of {OUTCOMES}")
    if not members or "missing" in members:
        return "missing"
    for v in ("pending", "error"):
        if v in members:
            return v
    return "correct" if all(v == "correct" for v in members) else "wrong"


def unit_outcomes_of(unit_keys: Sequence[str], verdicts: Sequence[str]) -> list[str]:
    """Per unit, in first-appearance order of `unit_keys`: the combined verdict of its members."""
    units: dict[str, list[str]] = {}
    for key, v in zip(unit_keys, verdicts, strict=True):
        units.setdefault(key, []).append(v)
    return [unit_verdict(v) for v in units.values()]


def unit_key(item: Any) -> str:
    """The scoring unit of an item: its A/B pair (`group`) for mapping, else its id."""
    return str(item.group or item.id)


def unit_outcomes(items: Sequence[Any], verdicts: Sequence[str]) -> list[str]:
    """Per scoring unit of `items` (first-appearance order), the combined verdict of its items.

    `verdicts` are "correct" / "wrong" / "error" / "missing" / "pending", or booleans (True = correct).
    """
    vs = [("correct" if v else "wrong") if isinstance(v, bool) else v for v in verdicts]
    return unit_outcomes_of([unit_key(it) for it in items], vs)


def units_of(items: Sequence[Any]) -> dict[str, list[Any]]:
    """Unit key -> its items, in first-appearance order."""
    out: dict[str, list[Any]] = {}
    for it in items:
        out.setdefault(unit_key(it), []).append(it)
    return out


# --- chance -----------------------------------------------------------------------------------------

_STUDY_RANGES = {1: (1, 4), 2: (1, 4), 3: (1, 5)}


def item_chance(item: Any) -> float | None:
    """Accuracy of a uniform guesser on one item (module docstring); None when no model applies."""
    from unisandbox.world.vocab import AGE_GROUPS, FLOWERS, FRUITS, GENDERS, HAIR_COLOURS, SKIN_TONES

    if item.task == "math":
        lo, hi = item.meta.get("answer_range") or _STUDY_RANGES.get(item.level, (1, 4))
        return 1.0 / (int(hi) - int(lo) + 1)
    if item.task == "mapping":
        rules = item.meta.get("rules") or []
        targets = {b for a, b in rules} - {a for a, b in rules}
        return 1.0 / (len(targets) if len(targets) >= 2 else 2)
    if item.task == "knowledge":
        if item.subtask == "inverse":
            return 1.0 / max(2, len(item.meta.get("characters") or ()))
        kind = item.expected.kind
        if kind == "fruit":
            return 1.0 / len(FRUITS)
        if kind == "flower":
            return 1.0 / len(FLOWERS)
        if kind == "person":
            return 1.0 / (len(GENDERS) * len(AGE_GROUPS) * len(HAIR_COLOURS) * len(SKIN_TONES))
    return None


def unit_chance(items: Sequence[Any]) -> float | None:
    """Mean over scoring units of the product of their items' chances (members guessed independently)."""
    values = []
    for members in units_of(items).values():
        p = 1.0
        for it in members:
            c = item_chance(it)
            if c is None:
                return None
            p *= c
        values.append(p)
    return sum(values) / len(values) if values else None


# --- accuracy ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """Accuracy over scoring units, with what was not scored counted beside it."""

    correct: int
    """Units whose outcome is correct."""
    n: int
    """Scored units: correct + wrong."""
    accuracy: float | None
    """correct / n; None when nothing was scored."""
    ci_low: float | None
    """Lower end of the 95% Wilson interval (None when n = 0)."""
    ci_high: float | None
    """Upper end of the 95% Wilson interval (None when n = 0)."""
    errors: int
    """Units with a judge error: counted, never wrong."""
    missing: int
    """Units without an image or verdict (pending included): counted, never wrong."""
    pending: int
    """Units generated but not judged yet (part of `missing`)."""
    expected: int
    """All units."""
    chance: float | None
    """Accuracy of a uniform guesser on these units (module docstring); None when unknown."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate(outcomes: Sequence[str], chance: float | None = None) -> Rate:
    """Accuracy of per-unit outcomes with its Wilson interval, errors and missing counted apart."""
    n = sum(1 for o in outcomes if o in DECIDED)
    k = sum(1 for o in outcomes if o == "correct")
    low, high = wilson(k, n, CONFIDENCE)
    return Rate(
        correct=k,
        n=n,
        accuracy=k / n if n else None,
        ci_low=low if n else None,
        ci_high=high if n else None,
        errors=sum(1 for o in outcomes if o == "error"),
        missing=sum(1 for o in outcomes if o in ("missing", "pending")),
        pending=sum(1 for o in outcomes if o == "pending"),
        expected=len(outcomes),
        chance=chance,
    )


def encode(outcomes: Sequence[str]) -> str:
    """Outcomes as one character each ("1" correct, "0" wrong, "e" error, "m" missing, "p" pending).

    >>> encode(["correct", "wrong", "error"])
    '10e'
    """
    return "".join(_CODE[o] for o in outcomes)


def decode(text: str) -> list[str]:
    """The inverse of `encode`."""
    try:
        return [_DECODE[c] for c in text]
    except KeyError as e:
        raise ValueError(f"unknown outcome code {e.args[0]!r} in {text[:20]!r}") from None


@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of x minus accuracy of y on the units both scored, with its interval and the 2x2 counts."""

    n: int
    value: float
    low: float
    high: float
    both: int
    only_first: int
    only_second: int
    neither: int
    method: str
    """newcombe (one sample per item) or cluster-bootstrap (several: resampled by item)."""
    mcnemar_p: float | None
    """Exact McNemar p-value (newcombe only)."""

    def as_dict(self, value_key: str = "value", with_mcnemar: bool = False) -> dict[str, Any]:
        """The record form of a summary (`value`) or a comparison (`diff`, with `mcnemar_p`)."""
        out: dict[str, Any] = {"n": self.n, value_key: self.value, "ci_low": self.low, "ci_high": self.high}
        out |= {"both": self.both, "only_first": self.only_first, "only_second": self.only_second}
        out |= {"neither": self.neither, "method": self.method}
        return out | {"mcnemar_p": self.mcnemar_p} if with_mcnemar else out


def paired_difference(
    x: Sequence[str], y: Sequence[str], clusters: Sequence[str], single: bool, seed: int = 0
) -> PairedDifference | None:
    """x - y on the units where both are scored: Newcombe's interval and the exact McNemar p when `single`
    (one sample per item), else a cluster bootstrap over `clusters` (items) with `seed`; None if none."""
    from unisandbox.metrics.stats import (
        cluster_bootstrap_diff,
        mcnemar_exact,
        newcombe_paired_diff,
        paired_counts,
    )

    keep = [i for i in range(len(x)) if x[i] in DECIDED and y[i] in DECIDED]
    if not keep:
        return None
    xs = [x[i] == "correct" for i in keep]
    ys = [y[i] == "correct" for i in keep]
    a, b, c, d = paired_counts(xs, ys)
    if single:
        est, method, p = newcombe_paired_diff(a, b, c, d, CONFIDENCE), "newcombe", mcnemar_exact(b, c)
    else:
        kept = [clusters[i] for i in keep]
        est = cluster_bootstrap_diff(xs, ys, kept, seed, confidence=CONFIDENCE)
        method, p = "cluster-bootstrap", None
    return PairedDifference(len(keep), est.value, est.low, est.high, a, b, c, d, method, p)
