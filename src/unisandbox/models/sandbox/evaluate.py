"""In-process evaluation of a sandbox checkpoint on the official test split, judged by the sandbox judge.

Reports, on the same items:
- drawing accuracy from plain descriptions (the rewritten prompt of every official item, e.g. "3 cups",
  "tree", "portrait: male, kid, black hair, medium skin", "cherries");
- understanding-probe accuracy per task and level;
- think-mode and normal-mode generation accuracy per task and level;
- the same three on the units whose expression (math) or rule set (mapping) the checkpoint's pretraining
  mixture never held (`training.heldout`), with their count;
- chance level per task and level, and the judge errors and missing images per mode.
Scoring goes through `metrics.outcomes` (mapping per A/B pair, right only if both of its items are;
judge errors and missing images counted apart, never as wrong).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisandbox.models.base import sample_seed
from unisandbox.tasks.base import Item, read_items

if TYPE_CHECKING:
    from unisandbox.models.sandbox.adapter import SandboxModel, SandboxQueryModel

OFFICIAL_DIR = Path(__file__).resolve().parents[2] / "data" / "official"
TASK_FILES = {("math", lvl): f"math_l{lvl}.jsonl" for lvl in (1, 2, 3)} | {
    ("mapping", lvl): f"mapping_l{lvl}.jsonl" for lvl in (1, 2, 3)
}
KNOWLEDGE_FILES = ("knowledge_forward.jsonl", "knowledge_inverse.jsonl")
OFFICIAL_SEED = 2511
"""The seed of the official split (data/official/README.md)."""


def validation_items(seed: int, n: int = 100) -> dict[tuple[str, int], list[Item]]:
    """Fresh test-split items from a non-official seed: a validation set for decoding settings."""
    from unisandbox.tasks.mapping import mapping_items
    from unisandbox.tasks.math import math_items

    if seed == OFFICIAL_SEED:
        raise ValueError(f"seed {OFFICIAL_SEED} is the official split's; pick another validation seed")
    out = {("math", lv): math_items(seed, lv, n, "test") for lv in (1, 2, 3)}
    out |= {("mapping", lv): mapping_items(seed, lv, n, "test") for lv in (1, 2, 3)}
    return out


def official_items(limit: int | None = None, root: Path = OFFICIAL_DIR) -> dict[tuple[str, int], list[Item]]:
    """Official test items per (task, level); `limit` keeps the first N items (mapping: N pairs)."""
    out: dict[tuple[str, int], list[Item]] = {}
    for key, name in TASK_FILES.items():
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: official split missing (unisandbox data generate ... )")
        items = read_items(path)
        if limit is not None:
            items = items[: 2 * limit] if key[0] == "mapping" else items[:limit]
        out[key] = items
    return out


def _group_key(it: Item) -> str:
    from unisandbox.metrics.outcomes import unit_key

    return unit_key(it)


def judge_images(images: Sequence[Any], expected: Sequence[Any]) -> list[str]:
    """Sandbox-judge verdicts ("correct", "wrong", "error"; "missing" for None) of PIL images."""
    import numpy as np

    from unisandbox.judges.match import match
    from unisandbox.judges.sandbox import SandboxJudge

    judge = SandboxJudge()
    out = []
    for img, exp in zip(images, expected, strict=True):
        if img is None:
            out.append("missing")
            continue
        out.append(match(judge.caption_array(np.asarray(img.convert("RGB"))), exp))
    return out


def _acc(outcomes: Sequence[str]) -> float | None:
    from unisandbox.metrics.outcomes import rate

    return rate(outcomes).accuracy


def trained_questions(train_config: dict[str, Any]) -> set[str]:
    """Every understanding question of a checkpoint's pretraining mixture (texts only; no rendering)."""
    from unisandbox.models.sandbox.mixture import MixtureConfig, fact_questions, train_items

    cfg = MixtureConfig.from_dict(train_config["mixture"])
    items = train_items(cfg, int(train_config["seed"]))
    out = {it.probe.question for group in items.values() for it in group}
    out |= {it.prompt for group in items.values() for it in group}
    if cfg.facts:
        out |= {q for q, _ in fact_questions()}
    return out


def run_eval(
    arch: str = "shared",
    checkpoint: str | Path | None = None,
    limit: int | None = None,
    device: str | None = None,
    batch_size: int = 256,
    base_seed: int = 0,
    model: SandboxModel | SandboxQueryModel | None = None,
    temperature: float | None = None,
    validation_seed: int | None = None,
) -> dict[str, Any]:
    """Evaluate and return the report dict (see module docstring; fractions in [0, 1]).

    `validation_seed` replaces the official split by fresh test-split items of that seed (100 per level,
    no knowledge items): use it to choose decoding settings without looking at the official split.
    """
    from unisandbox.training.heldout import pretraining_items_of

    if model is None:
        model = _load(arch, checkpoint, device, batch_size, temperature)
    t0 = time.perf_counter()
    sets = _item_sets(limit, validation_seed)
    train_cfg = model.checkpoint.config.get("train")
    seen = _Seen(
        trained_questions(train_cfg) if train_cfg else set(), pretraining_items_of(model.checkpoint.config)
    )
    levels = {
        (task, str(level)): _level(model, items, base_seed, seen) for (task, level), items in sets.items()
    }
    all_items = [it for items in sets.values() for it in items]
    knowledge = [] if validation_seed is not None else _knowledge_items()
    return {
        "arch": model.arch,
        "checkpoint": str(checkpoint) if checkpoint is not None else f"shipped:{model.arch}",
        "items": "official" if validation_seed is None else f"validation seed {validation_seed}",
        "model": model.describe(),
        **_drawing(model, all_items + knowledge, base_seed),
        **{key: _by_task(levels, field) for key, field in LEVEL_KEYS.items()},
        "limit": limit,
        "base_seed": base_seed,
        "seconds": round(time.perf_counter() - t0, 1),
    }


LEVEL_KEYS = {
    "probe_accuracy": "probe",
    "think_accuracy": "think",
    "normal_accuracy": "normal",
    "think_given_probe": "think_given_probe",
    "probe_accuracy_unseen": "probe_unseen",
    "n_unseen": "n_unseen",
    "unseen_expression": "unseen_expression",
    "chance": "chance",
    "unscored": "unscored",
    "n": "n",
}
"""Report key -> `_level` field; each report value is {task: {level: value}}."""


@dataclass(frozen=True)
class _Seen:
    """What a checkpoint's pretraining held: probe questions, and the items (`training.heldout`)."""

    questions: set[str]
    items: Any


def _load(
    arch: str, checkpoint: str | Path | None, device: str | None, batch_size: int, temperature: float | None
) -> SandboxModel | SandboxQueryModel:
    from unisandbox.models.sandbox.adapter import SandboxModel, SandboxQueryModel

    cls = SandboxModel if arch == "shared" else SandboxQueryModel
    model: SandboxModel | SandboxQueryModel = cls.from_spec(
        None if checkpoint is None else str(checkpoint),
        device=device,
        batch_size=batch_size,
        temperature=temperature,
    )
    return model


def _item_sets(limit: int | None, validation_seed: int | None) -> dict[tuple[str, int], list[Item]]:
    """The official split per (task, level), or a validation seed's fresh items; first `limit` units."""
    if validation_seed is None:
        return official_items(limit)
    return {
        k: (v[: 2 * limit] if k[0] == "mapping" else v[:limit]) if limit else v
        for k, v in validation_items(validation_seed).items()
    }


def _knowledge_items() -> list[Item]:
    return [
        it
        for name in KNOWLEDGE_FILES
        if (OFFICIAL_DIR / name).is_file()
        for it in read_items(OFFICIAL_DIR / name)
    ]


def _level(
    model: SandboxModel | SandboxQueryModel, items: list[Item], base_seed: int, seen: _Seen
) -> dict[str, Any]:
    """Every figure of one task and level: probe, think and normal accuracy per unit and their splits."""
    from unisandbox.metrics.outcomes import rate, unit_chance, unit_outcomes
    from unisandbox.runs.probes import probe_correct

    answers = model.understand([it.probe.question for it in items])
    verdicts: dict[str, list[str]] = {
        "probe": [
            "correct" if probe_correct(a.answer, it.probe.answer) else "wrong"
            for a, it in zip(answers, items, strict=True)
        ]
    }
    for mode in ("think", "normal"):
        seeds = [sample_seed(it.id, mode, 0, base_seed) for it in items]
        g = model.generate(items, mode, seeds)
        verdicts[mode] = judge_images([x.image for x in g], [it.expected for it in items])
    units = {k: unit_outcomes(items, v) for k, v in verdicts.items()}
    # P(think correct | probe correct), over units whose think image was judged.
    given = [
        t
        for pr, t in zip(units["probe"], units["think"], strict=True)
        if pr == "correct" and t in ("correct", "wrong")
    ]
    c = unit_chance(items)
    return {
        **{k: _acc(units[k]) for k in ("probe", "think", "normal")},
        "think_given_probe": _acc(given) if given else None,
        "n": len(units["probe"]),
        "chance": None if c is None else round(c, 4),
        "unscored": {
            m: {"errors": rate(units[m]).errors, "missing": rate(units[m]).missing}
            for m in ("think", "normal")
        },
        **_unseen_question(items, verdicts["probe"], seen.questions),
        "unseen_expression": _unseen_expression(items, verdicts, seen.items),
    }


def _unseen_question(items: list[Item], probe_ok: list[str], seen_questions: set[str]) -> dict[str, Any]:
    """Probe accuracy over units with a probe whose exact question never occurred in pretraining."""
    from unisandbox.metrics.outcomes import unit_outcomes

    fresh = {_group_key(it) for it in items if it.probe.question not in seen_questions}
    keep = [k for k, it in enumerate(items) if _group_key(it) in fresh]
    acc = _acc(unit_outcomes([items[k] for k in keep], [probe_ok[k] for k in keep])) if keep else None
    return {"probe_unseen": acc, "n_unseen": len(fresh)}


def _unseen_expression(items: list[Item], verdicts: dict[str, list[str]], pretrained: Any) -> dict[str, Any]:
    """Accuracies over units whose expression / rule set no pretraining item had (training.heldout)."""
    from unisandbox.metrics.outcomes import unit_outcomes
    from unisandbox.training.heldout import unseen_mask

    mask = unseen_mask(items, pretrained)
    sub = [it for it, m in zip(items, mask, strict=True) if m]
    out: dict[str, Any] = {"n": len({_group_key(it) for it in sub})}
    for k, vs in verdicts.items():
        kept = [v for v, m in zip(vs, mask, strict=True) if m]
        out[k] = _acc(unit_outcomes(sub, kept)) if sub else None
    return out


def _by_task(levels: dict[tuple[str, str], dict[str, Any]], field: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for (task, lv), values in levels.items():
        out.setdefault(task, {})[lv] = values[field]
    return out


def _drawing(model: SandboxModel | SandboxQueryModel, items: list[Item], base_seed: int) -> dict[str, Any]:
    """Drawing accuracy from each item's plain description, overall and per answer kind."""
    from unisandbox.models.sandbox.mixture import description_of

    descs = [description_of(it.expected) for it in items]
    seeds = [sample_seed(it.id, "draw", 0, base_seed) for it in items]
    dg = model.draw_descriptions(descs, seeds)
    ok = judge_images([x.image for x in dg], [it.expected for it in items])
    by_kind: dict[str, list[str]] = defaultdict(list)
    for it, v in zip(items, ok, strict=True):
        by_kind[it.expected.kind].append(v)
    return {
        "draw_accuracy": _acc(ok),
        "draw_accuracy_by_kind": {k: _acc(v) for k, v in sorted(by_kind.items())},
        "draw_n": len(ok),
        "draw_errors": ok.count("error"),
        "draw_missing": ok.count("missing"),
    }


def _f(v: float | None, width: int) -> str:
    return f"{'-' if v is None else f'{v:.3f}':>{width}}"


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table of the report."""
    draw = report["draw_accuracy"]
    lines = [
        f"sandbox eval: arch={report['arch']} checkpoint={report['checkpoint']} items={report['items']} "
        f"temperature={report['model']['temperature']} "
        f"({report['seconds']}s, base seed {report['base_seed']})",
        f"drawing from plain descriptions: {'-' if draw is None else f'{draw:.3f}'} (n={report['draw_n']}, "
        f"errors {report['draw_errors']}, missing {report['draw_missing']}; "
        + ", ".join(
            f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in report["draw_accuracy_by_kind"].items()
        )
        + ")",
        "",
        f"{'task':<8} {'level':>5} {'n':>5} {'chance':>7} {'probe':>7} {'think':>7} {'normal':>7} "
        f"{'think|probe':>12} {'err/miss':>9} {'probe(unseen q)':>16} {'unseen expr: n probe think normal':>34}",
    ]
    for task in ("math", "mapping"):
        for lv in ("1", "2", "3"):
            if lv not in report["probe_accuracy"].get(task, {}):
                continue
            u = report["unscored"][task][lv]
            bad = sum(u[m]["errors"] for m in u), sum(u[m]["missing"] for m in u)
            ue = report["unseen_expression"][task][lv]
            lines.append(
                f"{task:<8} {lv:>5} {report['n'][task][lv]:>5} {_f(report['chance'][task][lv], 7)} "
                f"{_f(report['probe_accuracy'][task][lv], 7)} {_f(report['think_accuracy'][task][lv], 7)} "
                f"{_f(report['normal_accuracy'][task][lv], 7)} {_f(report['think_given_probe'][task][lv], 12)} "
                f"{f'{bad[0]}/{bad[1]}':>9} {_fmt_unseen(report, task, lv):>16} "
                f"{ue['n']:>7}{_f(ue['probe'], 9)}{_f(ue['think'], 9)}{_f(ue['normal'], 9)}"
            )
    lines.append(
        "(mapping n and accuracies are per A/B pair; chance: a uniform guesser (metrics.outcomes); err/miss: "
        "judge errors / missing images over both modes, never counted wrong; probe(unseen q): probes whose "
        "question text never occurred in pretraining; unseen expr: units whose expression (math) or rule "
        "set (mapping) no pretraining item had (training.heldout))"
    )
    return "\n".join(lines)


def _fmt_unseen(report: dict[str, Any], task: str, lv: str) -> str:
    v = report["probe_accuracy_unseen"][task][lv]
    n = report["n_unseen"][task][lv]
    return "- (n=0)" if v is None else f"{v:.3f} (n={n})"
