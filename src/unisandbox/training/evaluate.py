"""Measuring a model for the training experiments: generation accuracy and understanding probes.

Generation goes through the model adapter (`UnifiedModel.generate`, seeds from `sample_seed`), judging
through a `Judge`'s blind captions and `judges.match`, intervals through `metrics.stats`. Scoring units
are as in the pipeline: an item, or an A/B pair for mapping (correct only if both images are).

>>> score = Score.of([True, False, True, True])
>>> (score.k, score.n, round(score.value, 2))
(3, 4, 0.75)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from unisandbox.metrics.outcomes import decode, encode, rate, unit_chance, unit_outcomes
from unisandbox.models.base import Generation, Mode, UnifiedModel, sample_seed
from unisandbox.tasks.base import Item

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Score:
    """Accuracy over scoring units with its Wilson interval; errors and missing counted, never wrong.

    Outcomes come from `metrics.outcomes.unit_outcomes` (the one scoring rule of every path).
    """

    k: int
    """Correct units."""
    n: int
    """Scored units (correct + wrong)."""
    value: float
    """k / n (0.0 when nothing was scored: then n = 0 says so)."""
    low: float
    """Lower end of the 95% Wilson interval."""
    high: float
    """Upper end of the 95% Wilson interval."""
    outcomes: tuple[str, ...] = ()
    """Per-unit outcomes in unit order ("correct", "wrong", "error", "missing"), for paired comparisons."""
    errors: int = 0
    """Units with a judge error (not scored)."""
    missing: int = 0
    """Units without an image (not scored)."""
    chance: float | None = None
    """Accuracy of a uniform guesser on these units (`metrics.outcomes.unit_chance`)."""

    @classmethod
    def of(cls, outcomes: Sequence[str | bool], chance: float | None = None) -> Score:
        """Score per-unit outcomes (strings, or booleans: True = correct)."""
        outs = tuple(("correct" if o else "wrong") if isinstance(o, bool) else str(o) for o in outcomes)
        r = rate(outs, chance)
        low = r.ci_low if r.n and r.ci_low is not None else 0.0
        high = r.ci_high if r.n and r.ci_high is not None else 1.0
        return cls(r.correct, r.n, r.accuracy or 0.0, low, high, outs, r.errors, r.missing, chance)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Score:
        """Rebuild from `to_dict` (per-unit outcomes from its "units" string; empty when an older
        record has none, and such a Score cannot be paired)."""
        if "units" in d:
            return cls.of(decode(d["units"]), d.get("chance"))
        return cls(
            int(d["k"]),
            int(d["n"]),
            float(d["value"]),
            float(d["low"]),
            float(d["high"]),
            (),
            int(d.get("errors", 0)),
            int(d.get("missing", 0)),
            d.get("chance"),
        )

    @property
    def expected(self) -> int:
        """All units, scored or not."""
        return len(self.outcomes) if self.outcomes else self.n + self.errors + self.missing

    def to_dict(self) -> dict[str, Any]:
        """JSON form; "units" holds the per-unit outcomes, one character each (`metrics.outcomes.encode`)."""
        return {
            "k": self.k,
            "n": self.n,
            "value": round(self.value, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "errors": self.errors,
            "missing": self.missing,
            "expected": self.expected,
            "chance": None if self.chance is None else round(self.chance, 4),
            "units": encode(self.outcomes),
        }

    def text(self) -> str:
        """ "0.43 [0.33, 0.53] (43/100)"."""
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}] ({self.k}/{self.n})"


def paired_change(before: Score, after: Score) -> dict[str, Any]:
    """after - before on the units scored in both: Newcombe interval and exact McNemar p-value.

    The p-value keeps three significant digits and is never rounded to 0.
    """
    from unisandbox.metrics.claims import paired_test

    t = paired_test(after.outcomes, before.outcomes)
    if t is None:
        return {"diff": 0.0, "low": -1.0, "high": 1.0, "p_mcnemar": 1.0, "n": 0}
    return {
        "diff": round(t.diff, 4),
        "low": round(t.low, 4),
        "high": round(t.high, 4),
        "p_mcnemar": t.p_mcnemar,
        "n": t.n,
    }


def image_array(gen: Generation) -> np.ndarray | None:
    """The generated image as an (H, W, 3) uint8 array, or None when there is none."""
    if gen.image is None:
        return None
    return np.asarray(gen.image.convert("RGB"), dtype=np.uint8)


def judge_arrays(judge: Any, arrays: Sequence[np.ndarray | None], items: Sequence[Item]) -> list[str]:
    """Verdicts ("correct"/"wrong"/"error"/"missing") of images for items, judged blind then matched."""
    from unisandbox.judges.match import match
    from unisandbox.world.render import encode_png

    out: list[str] = []
    for arr, it in zip(arrays, items, strict=True):
        if arr is None:
            out.append("missing")
            continue
        if hasattr(judge, "caption_array"):  # the sandbox judge reads arrays directly (same pixels)
            caption = judge.caption_array(arr)
        else:
            cap = judge.caption([encode_png(arr)])[0]
            caption = None if cap.error else cap.text
        out.append(match(caption, it.expected))
    return out


def generate_all(
    model: UnifiedModel,
    items: Sequence[Item],
    mode: Mode,
    sample_index: int = 0,
    base_seed: int = 0,
    batch_size: int = 256,
) -> list[Generation]:
    """One generation per item, in order, seeds from `sample_seed(item id, mode, sample_index, base_seed)`."""
    out: list[Generation] = []
    for s in range(0, len(items), batch_size):
        chunk = list(items[s : s + batch_size])
        seeds = [sample_seed(it.id, mode, sample_index, base_seed) for it in chunk]
        out += model.generate(chunk, mode, seeds)
    return out


def generation_scores(
    model: UnifiedModel,
    judge: Any,
    items: Sequence[Item],
    mode: Mode,
    base_seed: int = 0,
    batch_size: int = 256,
) -> dict[str, Score]:
    """Accuracy per "task/level" key (e.g. "math/1") in one mode."""
    gens = generate_all(model, items, mode, 0, base_seed, batch_size)
    verdicts = judge_arrays(judge, [image_array(g) for g in gens], items)
    return {key: _score(group) for key, group in _by_level(items, verdicts).items()}


def _score(group: Sequence[tuple[Item, str]]) -> Score:
    items = [it for it, _ in group]
    return Score.of(unit_outcomes(items, [v for _, v in group]), unit_chance(items))


def _by_level(items: Sequence[Item], values: Sequence[Any]) -> dict[str, list[tuple[Item, Any]]]:
    out: dict[str, list[tuple[Item, Any]]] = {}
    for it, v in zip(items, values, strict=True):
        out.setdefault(
            f"{it.task}/{it.level}" if it.task != "knowledge" else f"knowledge/{it.subtask}", []
        ).append((it, v))
    return out


def probe_scores(
    model: UnifiedModel,
    items: Sequence[Item],
    batch_size: int = 256,
    key: Callable[[Item], str] | None = None,
) -> dict[str, Score]:
    """Understanding-probe accuracy per key (default "task/level"), one probe per item, counted per scoring
    unit as generation is (`unit_outcomes`: a mapping pair is right only if both of its probes are)."""
    from unisandbox.runs.probes import probe_correct

    answers = []
    for s in range(0, len(items), batch_size):
        answers += model.understand([it.probe.question for it in items[s : s + batch_size]])
    ok = [
        "correct" if probe_correct(a.answer, it.probe.answer) else "wrong"
        for a, it in zip(answers, items, strict=True)
    ]
    groups: dict[str, list[tuple[Item, str]]] = {}
    for it, o in zip(items, ok, strict=True):
        groups.setdefault(key(it) if key else f"{it.task}/{it.level}", []).append((it, o))
    return {k: _score(g) for k, g in groups.items()}


def official_items(task: str, levels: Sequence[int] = (1, 2, 3), limit: int | None = None) -> list[Item]:
    """Items of the official test split for `task` ("math", "mapping", "knowledge_forward", ...).

    `limit` keeps the first `limit` scoring units per level (pairs for mapping).
    """
    from unisandbox.runs.items import OFFICIAL_DIR
    from unisandbox.tasks.base import read_items

    if task.startswith("knowledge"):
        items = read_items(OFFICIAL_DIR / f"{task}.jsonl")
        return items[:limit] if limit else items
    out: list[Item] = []
    for level in levels:
        items = read_items(OFFICIAL_DIR / f"{task}_l{level}.jsonl")
        if limit:
            keep = list(dict.fromkeys(it.group or it.id for it in items))[:limit]
            items = [it for it in items if (it.group or it.id) in set(keep)]
        out += items
    return out


@dataclass(frozen=True)
class EvalConfig:
    """What `measure` evaluates."""

    tasks: tuple[str, ...] = ("math", "mapping")
    """Official test files: "math", "mapping" (levels 1-3), "knowledge_forward", "knowledge_inverse"."""
    modes: tuple[Mode, ...] = ("normal",)
    probes: bool = True
    """Also score the understanding probes of the same items."""
    limit: int | None = None
    """First N scoring units per level (None: all)."""
    base_seed: int = 0
    batch_size: int = 256


def measure(model: UnifiedModel, judge: Any, cfg: EvalConfig) -> dict[str, Any]:
    """{"generation": {mode: {"task/level": Score}}, "probes": {"task/level": Score}} on the official split."""
    items: list[Item] = []
    for task in cfg.tasks:
        items += official_items(task, limit=cfg.limit)
    gen = {m: generation_scores(model, judge, items, m, cfg.base_seed, cfg.batch_size) for m in cfg.modes}
    probes = probe_scores(model, items, cfg.batch_size, key=_probe_key) if cfg.probes else {}
    return {"generation": gen, "probes": probes}


def _probe_key(it: Item) -> str:
    return f"knowledge/{it.subtask}" if it.task == "knowledge" else f"{it.task}/{it.level}"


def scores_json(m: dict[str, Any]) -> dict[str, Any]:
    """`measure`'s result with every Score as its dict."""
    return {
        "generation": {mode: {k: s.to_dict() for k, s in v.items()} for mode, v in m["generation"].items()},
        "probes": {k: s.to_dict() for k, s in m["probes"].items()},
    }
