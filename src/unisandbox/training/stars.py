"""STARS: rejection-sampled self-training that moves think-mode reasoning into normal-mode generation.

One round, as in the study:
1. sample K think-mode generations per TRAIN item (fresh items from a seed distinct from pretraining's);
2. judge each image blind and keep the correct ones (rejection sampling; `filtered=False` keeps every
   image: the ablation that shows what rejection buys);
3. build normal-mode pairs `<gen> prompt <img> codes` (prompt straight to the model's own image, no trace);
4. fine-tune the generation pathway on them mixed with replay of pretraining data (shared arch: the whole
   network; query arch: queries + decoder, the understanding LM stays frozen);
5. evaluate normal mode on the official TEST split, and the understanding probes (forgetting check).

`curriculum=True` fine-tunes in stages, level 1 first, then levels 1-2, then 1-3 (the same total steps as
the mixed variant, which sees every level from the start).

Under torchrun the items are split across ranks for sampling, the accepted samples are gathered (so the
training data is identical for any world size), the shared network trains under DDP, and rank 0 writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unisandbox.models.base import sample_seed
from unisandbox.tasks.base import Item
from unisandbox.training.common import Dist, ReplayConfig

STARS_VERSION = 1


@dataclass(frozen=True)
class StarsConfig:
    """One STARS round."""

    tasks: tuple[str, ...] = ("math", "mapping")
    levels: tuple[int, ...] = (1, 2, 3)
    train_items: int = 300
    """Fresh train-split items per task and level (mapping: pairs, i.e. twice as many items)."""
    samples_per_item: int = 3
    """K think-mode samples per train item."""
    filtered: bool = True
    """Keep only the images the judge accepts (False: keep every think-mode image, the ablation)."""
    curriculum: bool = True
    """Fine-tune level by level (1, then 1-2, then 1-3) instead of all levels mixed."""
    steps: int = 600
    """Total fine-tuning steps."""
    lr: float = 5e-4
    batch_size: int = 64
    replay_ratio: float = 0.5
    """Share of each batch drawn from pretraining-style replay data (against forgetting)."""
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    seed: int = 0
    item_seed_offset: int = 5000
    """Train items are generated with seed + offset (pretraining uses its own seed + 1000)."""
    sample_batch: int = 256
    """Items per adapter call while sampling."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for reports and checkpoint configs."""
        return asdict(self)

    @property
    def variant(self) -> str:
        """"curriculum", "mixed" or "unfiltered" (unfiltered ignores the curriculum flag in its name)."""
        if not self.filtered:
            return "unfiltered"
        return "curriculum" if self.curriculum else "mixed"


@dataclass(frozen=True)
class Sample:
    """One think-mode sample of a train item."""

    item_id: str
    task: str
    level: int
    sample_index: int
    verdict: str
    """The judge's verdict: correct, wrong, error (judge failure) or missing (no image)."""
    codes: tuple[int, ...]
    """The image's 9 codes in the checkpoint's codebook (empty when there is no image)."""


def stars_items(cfg: StarsConfig) -> list[Item]:
    """The fresh train-split items STARS samples on (deterministic for cfg.seed)."""
    from unisandbox.tasks.mapping import mapping_items
    from unisandbox.tasks.math import math_items

    s = cfg.seed + cfg.item_seed_offset
    out: list[Item] = []
    for task in cfg.tasks:
        gen = {"math": math_items, "mapping": mapping_items}.get(task)
        if gen is None:
            raise ValueError(f"STARS trains on math and mapping, not {task!r}")
        for level in cfg.levels:
            out += gen(s, level, cfg.train_items, "train")
    bad = [it.id for it in out if it.split != "train"]
    if bad:
        raise AssertionError(f"STARS items must be train-split: {bad[:3]}")
    return out


def collect(model, judge, codec, items: Sequence[Item], cfg: StarsConfig, d: Dist = Dist(),
            log: Callable[[str], None] = print) -> list[Sample]:
    """K think-mode samples per item, judged; items are split across ranks and gathered back in order."""
    import numpy as np

    from unisandbox.training.common import gather
    from unisandbox.training.evaluate import image_array, judge_arrays

    mine = [(i, it) for i, it in enumerate(items) if i % d.world == d.rank]
    keys = [(i, it, k) for i, it in mine for k in range(cfg.samples_per_item)]
    out: list[tuple[int, Sample]] = []
    t0 = time.perf_counter()
    for s in range(0, len(keys), cfg.sample_batch):
        chunk = keys[s:s + cfg.sample_batch]
        its = [it for _, it, _ in chunk]
        seeds = [sample_seed(it.id, "think", k, cfg.seed) for _, it, k in chunk]
        gens = model.generate(its, "think", seeds)
        arrays = [image_array(g) for g in gens]
        verdicts = judge_arrays(judge, arrays, its)
        present = [a for a in arrays if a is not None]
        codes = iter(codec.image.encode(np.stack(present)).tolist() if present else [])
        for (i, it, k), arr, v in zip(chunk, arrays, verdicts, strict=True):
            c = tuple(next(codes)) if arr is not None else ()
            out.append((i * cfg.samples_per_item + k, Sample(it.id, it.task, it.level, k, v, c)))
    log(f"rank {d.rank}: {len(keys)} think-mode samples in {time.perf_counter() - t0:.1f}s")
    merged = sorted((x for part in gather(out, d) for x in part), key=lambda x: x[0])
    return [s for _, s in merged]


def acceptance(samples: Sequence[Sample]) -> dict[str, dict[str, Any]]:
    """Per "task/level": think-mode samples, accepted (correct), errors, missing, acceptance rate."""
    out: dict[str, dict[str, Any]] = {}
    for s in samples:
        r = out.setdefault(f"{s.task}/{s.level}", {"samples": 0, "correct": 0, "error": 0, "missing": 0})
        r["samples"] += 1
        if s.verdict in ("correct", "error", "missing"):
            r[s.verdict] += 1
    for r in out.values():
        r["rate"] = round(r["correct"] / r["samples"], 4) if r["samples"] else 0.0
    return out


def normal_pairs(samples: Sequence[Sample], items: Sequence[Item], codec, filtered: bool) -> dict[int, list]:
    """Normal-mode training sequences `<gen> prompt <img> codes` per level (accepted or all samples)."""
    by_id = {it.id: it for it in items}
    out: dict[int, list] = {}
    for s in samples:
        if not s.codes or (filtered and s.verdict != "correct"):
            continue
        out.setdefault(s.level, []).append(codec.drawing(by_id[s.item_id].prompt, s.codes))
    return out


def stages(pairs: dict[int, list], cfg: StarsConfig) -> list[tuple[str, list, int]]:
    """(name, sequences, steps) per fine-tuning stage: cumulative levels for the curriculum, one stage else."""
    levels = [lv for lv in cfg.levels if pairs.get(lv)]
    if not levels:
        return []
    if not cfg.curriculum:
        return [("levels " + ",".join(map(str, levels)), [s for lv in levels for s in pairs[lv]], cfg.steps)]
    per = [cfg.steps // len(levels)] * len(levels)
    per[-1] += cfg.steps - sum(per)
    return [(f"levels 1-{lv}", [s for x in levels[: i + 1] for s in pairs[x]], per[i])
            for i, lv in enumerate(levels)]


def finetune_stages(ckpt, plan: list[tuple[str, list, int]], replay: list, cfg: StarsConfig, d: Dist,
                    log: Callable[[dict[str, Any]], None]) -> list[float]:
    """Run the stages with `train.finetune` (under DDP when distributed, either architecture)."""
    from unisandbox.models.sandbox.train import finetune

    losses: list[float] = []
    for i, (name, seqs, steps) in enumerate(plan):
        def stage_log(rec: dict[str, Any], name: str = name) -> None:
            log({**rec, "stage": f"stars {name}"})

        losses += finetune(ckpt.model, ckpt.codec, seqs, steps=steps, lr=cfg.lr, batch_size=cfg.batch_size,
                           seed=cfg.seed * 1000 + 100 * i + d.rank, replay=replay, replay_ratio=cfg.replay_ratio,
                           arch=ckpt.arch, log=stage_log, log_every=50, distributed=d.world > 1)
    ckpt.model.eval()
    return losses


def loss_trend(losses: Sequence[float], window: int = 50) -> dict[str, float]:
    """Mean loss over the first and the last `window` steps."""
    if not losses:
        return {"first": None, "last": None, "steps": 0}
    w = max(1, min(window, len(losses) // 2 or 1))
    return {"first": round(sum(losses[:w]) / w, 5), "last": round(sum(losses[-w:]) / w, 5), "steps": len(losses)}


def replay_for(ckpt, cfg: StarsConfig) -> list:
    """Replay sequences: every kind for the shared network; image kinds only for the query model (its LM is
    frozen during STARS, so text replay would only retrain it)."""
    from unisandbox.training.common import IMAGE_KINDS, TEXT_KINDS, replay_pools, weighted_replay

    kinds = (*TEXT_KINDS, *IMAGE_KINDS) if ckpt.arch == "shared" else IMAGE_KINDS
    return weighted_replay(ckpt, replay_pools(ckpt, cfg.replay), kinds, cfg.replay.size, cfg.seed)


def train(checkpoint: Path, arch: str, out: Path, cfg: StarsConfig, *, judge=None, d: Dist = Dist(),
          samples: list[Sample] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Sample, filter, fine-tune; rank 0 writes the tuned checkpoint to `out`. Returns the training record.

    `samples` lets several variants share one sampling pass (the study does this): they must come from
    `collect` on `stars_items(cfg)` with the same checkpoint.
    """
    from unisandbox.judges.sandbox import SandboxJudge
    from unisandbox.models.sandbox.checkpoint import load_checkpoint
    from unisandbox.training.common import barrier, load_adapter, save_tuned

    t0 = time.perf_counter()
    judge = judge or SandboxJudge()
    items = stars_items(cfg)
    ckpt = load_checkpoint(checkpoint, arch, device=d.device)
    if samples is None:
        model = load_adapter(checkpoint, arch)
        samples = collect(model, judge, ckpt.codec, items, cfg, d, log)
        del model
    t_sample = time.perf_counter() - t0
    pairs = normal_pairs(samples, items, ckpt.codec, cfg.filtered)
    plan = stages(pairs, cfg)
    if not plan:
        # Nothing passed the judge: a STARS round then leaves the model as it was, and the report says so.
        log("no think-mode sample was accepted: nothing to train on; the checkpoint is saved unchanged")
    replay = replay_for(ckpt, cfg) if plan else []
    train_log: list[dict[str, Any]] = []

    def rec(r: dict[str, Any]) -> None:
        train_log.append(r)
        if d.main:
            log(json.dumps(r))

    losses = finetune_stages(ckpt, plan, replay, cfg, d, rec)
    record = {"version": STARS_VERSION, "variant": cfg.variant, "config": cfg.to_dict(),
              "acceptance": acceptance(samples), "pairs": {str(k): len(v) for k, v in sorted(pairs.items())},
              "stages": [{"name": n, "sequences": len(s), "steps": st} for n, s, st in plan],
              "replay_sequences": len(replay), "loss": loss_trend(losses), "train_log": train_log,
              "trained": bool(plan),
              "world_size": d.world, "sample_seconds": round(t_sample, 1),
              "train_seconds": round(time.perf_counter() - t0 - t_sample, 1)}
    if d.main:
        save_tuned(ckpt, out, {"method": "stars", "variant": cfg.variant, "config": cfg.to_dict(),
                               "parent": str(checkpoint), "loss": record["loss"]})
    barrier(d)
    return record


def compare(before: dict[str, Any], after: dict[str, Any], mode: str = "normal") -> dict[str, Any]:
    """Per "task/level": before and after Scores (dicts) and the paired change."""
    from unisandbox.training.evaluate import paired_change

    out: dict[str, Any] = {}
    for key, b in before["generation"][mode].items():
        a = after["generation"][mode][key]
        out[key] = {"before": b.to_dict(), "after": a.to_dict(), "change": paired_change(b, a)}
    return out


def unseen_compare(normal: dict[str, Any], checkpoint: Path, cfg: StarsConfig,
                   eval_limit: int | None) -> dict[str, Any]:
    """Per "task/level" of `compare`'s result: the same before/after comparison on the test units whose
    expression (math) or rule set (mapping) no training item had: pretraining mixture, replay pools and
    this round's STARS items (`training.heldout`). "units" is their count (0: none unseen)."""
    from unisandbox.metrics.claims import paired_test
    from unisandbox.metrics.outcomes import decode, rate
    from unisandbox.training.evaluate import official_items
    from unisandbox.training.heldout import pretraining_items, unseen_unit_masks

    test = [it for task in cfg.tasks for it in official_items(task, limit=eval_limit)]
    masks = unseen_unit_masks(test, pretraining_items(checkpoint, cfg.replay) + stars_items(cfg))
    out: dict[str, Any] = {}
    for key, row in normal.items():
        mask = masks.get(key)
        if mask is None:
            continue
        b = [o for o, m in zip(decode(row["before"]["units"]), mask, strict=True) if m == "1"]
        a = [o for o, m in zip(decode(row["after"]["units"]), mask, strict=True) if m == "1"]
        t = paired_test(a, b) if b else None
        out[key] = {"units": len(b), "before": rate(b).as_dict(), "after": rate(a).as_dict(),
                    "change": t.as_dict() if t else None}
    return out


def probe_compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The forgetting check: understanding-probe accuracy before and after, per "task/level"."""
    from unisandbox.training.evaluate import paired_change

    return {k: {"before": b.to_dict(), "after": after["probes"][k].to_dict(),
                "change": paired_change(b, after["probes"][k])} for k, b in before["probes"].items()}


def run(checkpoint: Path, arch: str, out: Path, cfg: StarsConfig, eval_limit: int | None = None, *,
        d: Dist = Dist(), before: dict[str, Any] | None = None, samples: list[Sample] | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any] | None:
    """Evaluate, train, evaluate again; rank 0 writes `out/checkpoint/` and `out/stars_report.{json,md}`.

    Returns the report on rank 0 (None on the other ranks). `before` reuses an earlier `measure` of the
    same checkpoint (the study measures the parent once for every variant).
    """
    from unisandbox.judges.sandbox import SandboxJudge
    from unisandbox.runs.io import atomic_write_text
    from unisandbox.training.common import barrier, load_adapter
    from unisandbox.training.evaluate import EvalConfig, measure, scores_json

    judge = SandboxJudge()
    ecfg = EvalConfig(tasks=tuple(cfg.tasks), modes=("normal",), probes=True, limit=eval_limit)
    out = Path(out)
    if d.main and before is None:
        log("measuring the checkpoint before STARS (normal mode, official test split)")
        before = measure(load_adapter(checkpoint, arch), judge, ecfg)
    record = train(checkpoint, arch, out / "checkpoint", cfg, judge=judge, d=d, samples=samples, log=log)
    barrier(d)
    if not d.main:
        return None
    assert before is not None
    after = measure(load_adapter(out / "checkpoint", arch), judge, ecfg)
    normal = compare(before, after)
    report = {"arch": arch, "checkpoint": str(checkpoint), "variant": cfg.variant,
              "normal": normal, "unseen": unseen_compare(normal, checkpoint, cfg, eval_limit),
              "probes": probe_compare(before, after),
              "before": scores_json(before), "after": scores_json(after),
              "eval": {"limit": eval_limit, "split": "official test"},
              **{k: v for k, v in record.items() if k != "train_log"}}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "stars_report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "stars_report.md", report_markdown(report))
    return report


def _unseen_text(u: dict[str, Any] | None) -> str:
    if u is None:
        return "-"
    if not u["units"]:
        return "none unseen (0 units)"

    def acc(r: dict[str, Any]) -> str:
        return "-" if r["accuracy"] is None else f"{r['accuracy']:.2f} ({r['correct']}/{r['n']})"

    return f"{acc(u['before'])} -> {acc(u['after'])} ({u['units']} units)"


def report_markdown(report: dict[str, Any]) -> str:
    """The STARS report as Markdown: normal-mode accuracy before/after, acceptance, forgetting check."""
    def iv(s: dict[str, Any]) -> str:
        return f"{s['value']:.2f} [{s['low']:.2f}, {s['high']:.2f}] ({s['k']}/{s['n']})"

    lines = [f"# STARS ({report['variant']}, {report['arch']} architecture)", "",
             f"Checkpoint: `{report['checkpoint']}`; evaluation: official test split, normal mode, one sample "
             "per item, sandbox judge; mapping scored by pair; 95% Wilson intervals; change = after - before "
             "with Newcombe's paired interval and the exact McNemar p-value. Judge errors and missing images "
             "are counted apart, never as wrong. Chance: a uniform guesser's accuracy. Unseen expressions: the "
             "same test units restricted to those whose expression (math) or rule set (mapping) no training "
             "item had (pretraining, replay, this round's STARS items; `training.heldout`), with their count.", "",
             "| task/level | chance | before | after | change [95% CI] | p | errors / missing (after) | "
             "unseen expressions: before -> after (units) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, r in report["normal"].items():
        c = r["change"]
        chance = r["after"].get("chance")
        lines.append(f"| {key} | {'-' if chance is None else f'{chance:.2f}'} | {iv(r['before'])} | {iv(r['after'])} | "
                     f"{c['diff']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] | {c['p_mcnemar']:.3g} | "
                     f"{r['after'].get('errors', 0)} / {r['after'].get('missing', 0)} | "
                     f"{_unseen_text((report.get('unseen') or {}).get(key))} |")
    lines += ["", "Think-mode samples on train items (rejection sampling):", "",
              "| task/level | samples | accepted | rate | judge errors | missing |", "| --- | --- | --- | --- | --- | --- |"]
    for key, a in sorted(report["acceptance"].items()):
        lines.append(f"| {key} | {a['samples']} | {a['correct']} | {a['rate']:.2f} | {a['error']} | {a['missing']} |")
    lines += ["", "Forgetting check (understanding probes of the same test items):", "",
              "| task/level | before | after | change [95% CI] |", "| --- | --- | --- | --- |"]
    for key, r in report["probes"].items():
        c = r["change"]
        lines.append(f"| {key} | {iv(r['before'])} | {iv(r['after'])} | {c['diff']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] |")
    loss = report["loss"]
    if not report["stages"]:
        lines += ["", "No think-mode sample passed the judge: nothing to train on, the model is unchanged.", ""]
        return "\n".join(lines)
    stages_text = ", ".join(f"{s['name']} ({s['sequences']} seqs, {s['steps']} steps)" for s in report["stages"])
    lines += ["", f"Fine-tuning: stages {stages_text}; "
              f"replay pool {report['replay_sequences']} sequences; loss {loss['first']:.3f} (first steps) -> "
              f"{loss['last']:.3f} (last steps); sampling {report['sample_seconds']}s, training "
              f"{report['train_seconds']}s, world size {report['world_size']}.", ""]
    return "\n".join(lines)
