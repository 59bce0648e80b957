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

from unisandbox.metrics.stats import mcnemar_exact, newcombe_paired_diff, paired_counts, wilson
from unisandbox.models.base import Generation, Mode, UnifiedModel, sample_seed
from unisandbox.tasks.base import Item

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Score:
    """Accuracy over scoring units with its Wilson interval."""

    k: int
    """Correct units."""
    n: int
    """Scored units."""
    value: float
    low: float
    """Lower end of the 95% Wilson interval."""
    high: float
    """Upper end of the 95% Wilson interval."""
    outcomes: tuple[bool, ...] = ()
    """Per-unit outcomes in unit order (for paired comparisons)."""

    @classmethod
    def of(cls, outcomes: Sequence[bool]) -> Score:
        """Score a list of per-unit outcomes."""
        k, n = sum(bool(o) for o in outcomes), len(outcomes)
        lo, hi = wilson(k, n, CONFIDENCE)
        return cls(k, n, k / n if n else 0.0, lo, hi, tuple(bool(o) for o in outcomes))

    def to_dict(self) -> dict[str, Any]:
        """JSON form without the per-unit outcomes."""
        return {"k": self.k, "n": self.n, "value": round(self.value, 4), "low": round(self.low, 4),
                "high": round(self.high, 4)}

    def text(self) -> str:
        """"0.43 [0.33, 0.53] (43/100)"."""
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}] ({self.k}/{self.n})"


def paired_change(before: Score, after: Score) -> dict[str, Any]:
    """after - before on the same units: Newcombe interval and exact McNemar p-value."""
    a, b, c, d = paired_counts(list(after.outcomes), list(before.outcomes))
    est = newcombe_paired_diff(a, b, c, d, CONFIDENCE)
    return {"diff": round(est.value, 4), "low": round(est.low, 4), "high": round(est.high, 4),
            "p_mcnemar": round(mcnemar_exact(b, c), 6)}


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


def generate_all(model: UnifiedModel, items: Sequence[Item], mode: Mode, sample_index: int = 0,
                 base_seed: int = 0, batch_size: int = 256) -> list[Generation]:
    """One generation per item, in order, seeds from `sample_seed(item id, mode, sample_index, base_seed)`."""
    out: list[Generation] = []
    for s in range(0, len(items), batch_size):
        chunk = list(items[s:s + batch_size])
        seeds = [sample_seed(it.id, mode, sample_index, base_seed) for it in chunk]
        out += model.generate(chunk, mode, seeds)
    return out


def unit_outcomes(items: Sequence[Item], verdicts: Sequence[str]) -> list[bool]:
    """Per scoring unit (pair for mapping, else item), in first-appearance order: all members correct."""
    units: dict[str, list[bool]] = {}
    for it, v in zip(items, verdicts, strict=True):
        units.setdefault(it.group or it.id, []).append(v == "correct")
    return [all(v) for v in units.values()]


def generation_scores(model: UnifiedModel, judge: Any, items: Sequence[Item], mode: Mode,
                      base_seed: int = 0, batch_size: int = 256) -> dict[str, Score]:
    """Accuracy per "task/level" key (e.g. "math/1") in one mode."""
    gens = generate_all(model, items, mode, 0, base_seed, batch_size)
    verdicts = judge_arrays(judge, [image_array(g) for g in gens], items)
    return {key: Score.of(unit_outcomes(*zip(*group, strict=True))) for key, group in _by_level(items, verdicts).items()}


def _by_level(items: Sequence[Item], values: Sequence[Any]) -> dict[str, list[tuple[Item, Any]]]:
    out: dict[str, list[tuple[Item, Any]]] = {}
    for it, v in zip(items, values, strict=True):
        out.setdefault(f"{it.task}/{it.level}" if it.task != "knowledge" else f"knowledge/{it.subtask}",
                       []).append((it, v))
    return out


def probe_scores(model: UnifiedModel, items: Sequence[Item], batch_size: int = 256,
                 key: Callable[[Item], str] | None = None) -> dict[str, Score]:
    """Understanding-probe accuracy per key (default "task/level"), one probe per item, counted per scoring
    unit as generation is (`unit_outcomes`: a mapping pair is right only if both of its probes are)."""
    from unisandbox.runs.probes import probe_correct

    answers = []
    for s in range(0, len(items), batch_size):
        answers += model.understand([it.probe.question for it in items[s:s + batch_size]])
    ok = ["correct" if probe_correct(a.answer, it.probe.answer) else "wrong"
          for a, it in zip(answers, items, strict=True)]
    groups: dict[str, list[tuple[Item, str]]] = {}
    for it, o in zip(items, ok, strict=True):
        groups.setdefault(key(it) if key else f"{it.task}/{it.level}", []).append((it, o))
    return {k: Score.of(unit_outcomes(*zip(*g, strict=True))) for k, g in groups.items()}


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
    modes: tuple[str, ...] = ("normal",)
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
    return {"generation": {mode: {k: s.to_dict() for k, s in v.items()} for mode, v in m["generation"].items()},
            "probes": {k: s.to_dict() for k, s in m["probes"].items()}}
