"""Calibration of the sandbox judge on held-out renders: accuracy per category and a confusion summary.

Every sample is rendered from its own seed `(seed, category, index)`, so a report is reproducible and a
sample can be re-rendered alone to inspect a mistake.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from unisandbox.judges.match import count_caption, match, person_caption
from unisandbox.tasks.base import CountAnswer, PersonAnswer
from unisandbox.world import negatives, render, vocab

CATEGORIES = ("count_type", "portrait", "fruit_flower", "negative")
SHARES = {"count_type": 0.4, "portrait": 0.2, "fruit_flower": 0.15, "negative": 0.25}
"""Fraction of the n samples that go to each category."""
NEGATIVE_WEIGHTS = {"mixed": 4.0}
"""Mixed scenes are the most frequent failure of a real model, so they get 4x the weight of the others."""
_CATEGORY_ID = {c: i for i, c in enumerate(CATEGORIES)}
_NAMES = tuple(n.singular for n in vocab.ALL_NOUNS)
_SINGLES = tuple(n.singular for n in vocab.FRUITS + vocab.FLOWERS)


@dataclass(frozen=True)
class Sample:
    """One calibration image with what it should read as."""

    category: str
    """One of CATEGORIES."""
    index: int
    """Index within its category (with the seed it rebuilds the image)."""
    image: np.ndarray
    """(48, 48, 3) uint8."""
    expected: str
    """The expected caption ("Error" for negatives)."""
    detail: str = ""
    """Negative kind, or empty."""


def split_counts(n: int) -> dict[str, int]:
    """How many samples each category gets out of n (they sum to n)."""
    counts = {c: int(n * SHARES[c]) for c in CATEGORIES}
    counts["count_type"] += n - sum(counts.values())
    return counts


def _rng(seed: int, category: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _CATEGORY_ID[category], index])


def make_sample(category: str, index: int, seed: int, style: str = "free") -> Sample:
    """Render calibration sample `index` of `category`."""
    rng = _rng(seed, category, index)
    if category == "count_type":
        name, count = _NAMES[int(rng.integers(len(_NAMES)))], int(rng.integers(1, 10))
        return Sample(
            category, index, render.render_scene(name, count, rng, style), count_caption(count, name)
        )
    if category == "portrait":
        attrs = [
            a[int(rng.integers(len(a)))]
            for a in (vocab.GENDERS, vocab.AGE_GROUPS, vocab.HAIR_COLOURS, vocab.SKIN_TONES)
        ]
        gender, age, hair, skin = attrs
        img = render.render_portrait(gender, age, hair, skin, rng, style)
        return Sample(category, index, img, person_caption(skin, hair, age, gender))
    if category == "fruit_flower":
        name = _SINGLES[int(rng.integers(len(_SINGLES)))]
        return Sample(category, index, render.render_single(name, rng, style), count_caption(1, name))
    if category == "negative":
        kinds = list(negatives.NEGATIVES)
        w = np.array([NEGATIVE_WEIGHTS.get(k, 1.0) for k in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=w / w.sum()))]
        return Sample(category, index, negatives.NEGATIVES[kind](rng), "Error", kind)
    raise ValueError(f"unknown category {category!r}")


def _is_right(sample: Sample, caption: str) -> bool:
    if sample.category == "negative":
        return caption == "Error"
    expected: PersonAnswer | CountAnswer
    if sample.category == "portrait":
        from unisandbox.judges.match import parse_caption

        p = parse_caption(sample.expected).person
        assert p is not None
        expected = PersonAnswer(skin=p[0], hair=p[1], age=p[2], gender=p[3])
    else:
        count, noun = sample.expected.split(" ", 1)
        expected = CountAnswer(count=int(count), object=vocab.canonical(noun) or noun)
    return match(caption, expected) == "correct"


@dataclass
class Report:
    """Calibration results."""

    n: int
    seed: int
    style: str
    totals: Counter[Any] = field(default_factory=Counter)
    right: Counter[Any] = field(default_factory=Counter)
    confusions: Counter[Any] = field(default_factory=Counter)
    """(category, expected, got) -> count, for wrong readings."""
    reject_reasons: Counter[Any] = field(default_factory=Counter)
    """(category, first words of the reason) -> count, for `Error` readings of positives."""
    negatives_missed: Counter[Any] = field(default_factory=Counter)
    """Negative kind -> count of negatives that were not rejected."""
    negative_totals: Counter[Any] = field(default_factory=Counter)

    def accuracy(self, category: str) -> float:
        total = self.totals[category]
        return self.right[category] / total if total else float("nan")

    def summary(self) -> dict[str, Any]:
        """The JSON summary (fractions in [0, 1])."""
        return {
            "n": self.n,
            "seed": self.seed,
            "style": self.style,
            "count_type_accuracy": self.accuracy("count_type"),
            "portrait_accuracy": self.accuracy("portrait"),
            "fruit_flower_accuracy": self.accuracy("fruit_flower"),
            "negative_reject_rate": self.accuracy("negative"),
            "per_category": {c: {"n": self.totals[c], "right": self.right[c]} for c in CATEGORIES},
            "negatives_by_kind": {
                k: {"n": self.negative_totals[k], "missed": self.negatives_missed[k]}
                for k in sorted(self.negative_totals)
            },
            "top_confusions": [
                {"category": c, "expected": e, "got": g, "count": k}
                for (c, e, g), k in self.confusions.most_common(10)
            ],
            "top_reject_reasons": [
                {"category": c, "reason": r, "count": k} for (c, r), k in self.reject_reasons.most_common(10)
            ],
        }


def calibrate(
    n: int = 2000, seed: int = 12345, style: str = "free", read: Callable[[np.ndarray], Any] | None = None
) -> Report:
    """Render n held-out samples and read each with the sandbox judge (or `read`, returning a Reading)."""
    from unisandbox.judges.sandbox import read_image

    read = read or read_image
    report = Report(n=n, seed=seed, style=style)
    for category, count in split_counts(n).items():
        for i in range(count):
            sample = make_sample(category, i, seed, style)
            reading = read(sample.image)
            ok = _is_right(sample, reading.text)
            report.totals[category] += 1
            report.right[category] += ok
            if category == "negative":
                report.negative_totals[sample.detail] += 1
                if not ok:
                    report.negatives_missed[sample.detail] += 1
                    report.confusions[(category, sample.detail, reading.text)] += 1
            elif not ok:
                if reading.reason:
                    report.reject_reasons[(category, " ".join(reading.reason.split()[:3]))] += 1
                report.confusions[(category, sample.expected, reading.text)] += 1
    return report
