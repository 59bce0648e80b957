"""STARS: rejection-sampled self-training that moves think-mode reasoning into normal-mode generation.

One round, as in the study:
1. sample K think-mode generations per TRAIN item (fresh items from a seed distinct from pretraining's,
   none with an official test expression or rule set) and judge each image blind: this is `stars-data`
   (`training.stars_data`), run into `<out>/data/` (a resumable run directory with the PNGs);
2. keep the correct ones (rejection sampling; `filtered=False` keeps every image with its verdict: the
   ablation that shows what rejection buys); the codes are the checkpoint codec's encoding of each PNG;
3. build normal-mode pairs `<gen> prompt <img> codes` (prompt straight to the model's own image, no trace);
4. fine-tune the generation pathway on them mixed with replay of pretraining data (shared arch: the whole
   network; query arch: queries + decoder, the understanding LM stays frozen);
5. evaluate normal mode on the official TEST split, and the understanding probes (forgetting check).

`curriculum=True` fine-tunes in stages, level 1 first, then levels 1-2, then 1-3 (the same total steps as
the mixed variant, which sees every level from the start).

Under torchrun stars-data shards sampling across ranks (its images do not depend on the world size), rank 0
judges and reads the samples back and hands them to every rank, the network trains under DDP, and rank 0
writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from unisandbox.tasks.base import Item, read_items
from unisandbox.training.common import Dist, ReplayConfig

if TYPE_CHECKING:
    from unisandbox.models.sandbox.checkpoint import Checkpoint
    from unisandbox.models.sandbox.sequences import Codec, Seq
    from unisandbox.training.stars_data import StarsDataConfig

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
        """ "curriculum", "mixed" or "unfiltered" (unfiltered ignores the curriculum flag in its name)."""
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
    """correct, wrong, error (the judge failed on the image) or missing (no image: the model drew none, the
    run's verdict "error" with the model's reason; or an image never judged)."""
    codes: tuple[int, ...]
    """The image's 9 codes in the checkpoint's codebook (empty when there is no image)."""


@dataclass(frozen=True)
class StarsSamples:
    """One sampling pass (several variants may share it): the train items, every sample, where they lie."""

    items: list[Item]
    """The fresh train items, in stars-data's order (level-major)."""
    samples: list[Sample]
    """Every (item, k) think-mode sample with its verdict, accepted or not, in item order then k."""
    data: dict[str, Any]
    """For the report: the stars-data directory, the held-out rule and the units drawn / held out / kept."""


def data_config(cfg: StarsConfig, checkpoint: Path | None, arch: str) -> StarsDataConfig:
    """The `StarsDataConfig` of a round: the sandbox checkpoint samples think mode, the sandbox judge judges."""
    from unisandbox.training.common import ARCH_SPECS, checkpoint_dir
    from unisandbox.training.stars_data import StarsDataConfig

    if arch not in ARCH_SPECS:
        raise ValueError(f"unknown arch {arch!r}; expected 'shared' or 'query'")
    model = f"{ARCH_SPECS[arch]}:{checkpoint_dir(checkpoint, arch).resolve()}"
    return StarsDataConfig(
        model=model,
        judge="sandbox",
        tasks=tuple(cfg.tasks),
        levels=tuple(cfg.levels),
        items_per_level=cfg.train_items,
        samples=cfg.samples_per_item,
        seed=cfg.seed,
        item_seed_offset=cfg.item_seed_offset,
    ).validate()


def stars_items(cfg: StarsConfig) -> list[Item]:
    """The fresh train-split items STARS samples on: stars-data's (`stars_data.fresh_items`), so no item has an
    official test expression (math) or rule set (mapping); deterministic for cfg.seed."""
    from unisandbox.training.stars_data import fresh_items

    return fresh_items(data_config(cfg, None, "shared"))


def samples_from_run(
    data_dir: Path, items: Sequence[Item], samples_per_item: int, codec: Codec
) -> list[Sample]:
    """Every (item, k) sample of a stars-data directory with its verdict; codes = the codec's encoding of the
    PNG the judge saw. No image (the run's verdict is then a model-failure "error") or no verdict: "missing",
    nothing to train on; a judge error keeps its image ("error", used by the unfiltered ablation)."""
    import numpy as np
    from PIL import Image

    from unisandbox.runs.rundir import RunDir

    run = RunDir(Path(data_dir) / "run")
    recs, verdicts = run.read_records("samples"), run.read_records("verdicts")
    rows: list[tuple[Item, int, str, str | None]] = []
    for it in items:
        for k in range(samples_per_item):
            s, v = recs.get((it.id, "think", k)), verdicts.get((it.id, "think", k))
            image = s.image if s is not None else None
            rows.append((it, k, v.verdict if v is not None and image is not None else "missing", image))
    paths = [run.root / img for *_, img in rows if img is not None]
    codes: list[tuple[int, ...]] = []
    for i in range(0, len(paths), 1024):
        arrays = np.stack(
            [np.asarray(Image.open(p).convert("RGB"), dtype=np.uint8) for p in paths[i : i + 1024]]
        )
        codes += [tuple(int(x) for x in c) for c in codec.image.encode(arrays)]
    it_codes = iter(codes)
    return [
        Sample(it.id, it.task, it.level, k, v, next(it_codes) if img is not None else ())
        for it, k, v, img in rows
    ]


def stale_data(data_dir: Path, dcfg: StarsDataConfig, checkpoint: Path) -> str | None:
    """Why an existing stars-data folder cannot be resumed for this round (None: it can, or there is none)."""
    from unisandbox.models.sandbox.checkpoint import WEIGHTS, file_sha256

    state = Path(data_dir) / "stars_data_config.json"
    if not state.is_file():
        return None
    if json.loads(state.read_text(encoding="utf-8")) != dcfg.identity():
        return "made with another STARS configuration"
    manifest = Path(data_dir) / "run" / "manifest.json"
    if manifest.is_file():
        sha = (
            (json.loads(manifest.read_text(encoding="utf-8")).get("model") or {}).get("describe") or {}
        ).get("weights_sha256")
        if sha is not None and sha != file_sha256(Path(checkpoint) / WEIGHTS):
            return "sampled from other weights"
    return None


def sample(
    checkpoint: Path | None,
    arch: str,
    data_dir: Path,
    cfg: StarsConfig,
    d: Dist = Dist(),
    log: Callable[[str], None] = print,
) -> StarsSamples:
    """K think-mode samples per train item, judged blind, through stars-data into `data_dir` (resumable: a
    rerun with the same checkpoint and config samples only what is missing; a folder this command made for
    other weights or another config is replaced). Every rank generates its share; rank 0 judges and reads
    them back; every rank returns the same samples."""
    import shutil

    from unisandbox.models.sandbox.checkpoint import load_checkpoint
    from unisandbox.training import stars_data
    from unisandbox.training.common import broadcast, checkpoint_dir

    dcfg = data_config(cfg, checkpoint, arch)
    data_dir = Path(data_dir)
    t0 = time.perf_counter()
    if d.main:
        why = stale_data(data_dir, dcfg, checkpoint_dir(checkpoint, arch))
        if why is not None:
            log(f"{data_dir}: stars-data {why}; sampling again")
            shutil.rmtree(data_dir)
        stars_data.prepare(data_dir, dcfg)
    writer = stars_data.sample_and_judge(data_dir, dcfg, batch_size=cfg.sample_batch)
    out: StarsSamples | None = None
    if writer:
        items = read_items(data_dir / "items.jsonl")
        codec = load_checkpoint(checkpoint_dir(checkpoint, arch), arch, device="cpu").codec
        stats: dict[str, dict[str, int]] = {}
        if [it.id for it in stars_data.fresh_items(dcfg, stats)] != [it.id for it in items]:
            raise ValueError(
                f"{data_dir}/items.jsonl is not the item set of this configuration; pass a new --out"
            )
        data = {
            "dir": str(data_dir),
            "items": len(items),
            "units": stats,
            "held_out": "no official test expression (math) or rule set (mapping); `training.heldout`",
        }
        out = StarsSamples(items, samples_from_run(data_dir, items, cfg.samples_per_item, codec), data)
        log(f"{len(out.samples)} think-mode samples in {data_dir} ({time.perf_counter() - t0:.1f}s)")
    return cast(StarsSamples, broadcast(out, d))


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


def normal_pairs(
    samples: Sequence[Sample], items: Sequence[Item], codec: Codec, filtered: bool
) -> dict[int, list[Seq]]:
    """Normal-mode training sequences `<gen> prompt <img> codes` per level (accepted or all samples)."""
    by_id = {it.id: it for it in items}
    out: dict[int, list[Seq]] = {}
    for s in samples:
        if not s.codes or (filtered and s.verdict != "correct"):
            continue
        out.setdefault(s.level, []).append(codec.drawing(by_id[s.item_id].prompt, s.codes))
    return out


def stages(pairs: dict[int, list[Seq]], cfg: StarsConfig) -> list[tuple[str, list[Seq], int]]:
    """(name, sequences, steps) per fine-tuning stage: cumulative levels for the curriculum, one stage else."""
    levels = [lv for lv in cfg.levels if pairs.get(lv)]
    if not levels:
        return []
    if not cfg.curriculum:
        return [("levels " + ",".join(map(str, levels)), [s for lv in levels for s in pairs[lv]], cfg.steps)]
    per = [cfg.steps // len(levels)] * len(levels)
    per[-1] += cfg.steps - sum(per)
    return [
        (f"levels 1-{lv}", [s for x in levels[: i + 1] for s in pairs[x]], per[i])
        for i, lv in enumerate(levels)
    ]


def finetune_stages(
    ckpt: Checkpoint,
    plan: list[tuple[str, list[Seq], int]],
    replay: list[Seq],
    cfg: StarsConfig,
    d: Dist,
    log: Callable[[dict[str, Any]], None],
) -> list[float]:
    """Run the stages with `train.finetune` (under DDP when distributed, either architecture)."""
    from unisandbox.models.sandbox.train import finetune

    losses: list[float] = []
    for i, (name, seqs, steps) in enumerate(plan):

        def stage_log(rec: dict[str, Any], name: str = name) -> None:
            log({**rec, "stage": f"stars {name}"})

        losses += finetune(
            ckpt.model,
            ckpt.codec,
            seqs,
            steps=steps,
            lr=cfg.lr,
            batch_size=cfg.batch_size,
            seed=cfg.seed * 1000 + 100 * i + d.rank,
            replay=replay,
            replay_ratio=cfg.replay_ratio,
            arch=ckpt.arch,
            log=stage_log,
            log_every=50,
            distributed=d.world > 1,
        )
    ckpt.model.eval()
    return losses


def loss_trend(losses: Sequence[float], window: int = 50) -> dict[str, float | None]:
    """Mean loss over the first and the last `window` steps."""
    if not losses:
        return {"first": None, "last": None, "steps": 0}
    w = max(1, min(window, len(losses) // 2 or 1))
    return {
        "first": round(sum(losses[:w]) / w, 5),
        "last": round(sum(losses[-w:]) / w, 5),
        "steps": len(losses),
    }


def replay_for(ckpt: Checkpoint, cfg: StarsConfig) -> list[Seq]:
    """Replay sequences: every kind for the shared network; image kinds only for the query model (its LM is
    frozen during STARS, so text replay would only retrain it)."""
    from unisandbox.training.common import IMAGE_KINDS, TEXT_KINDS, replay_pools, weighted_replay

    kinds = (*TEXT_KINDS, *IMAGE_KINDS) if ckpt.arch == "shared" else IMAGE_KINDS
    return weighted_replay(ckpt, replay_pools(ckpt, cfg.replay), kinds, cfg.replay.size, cfg.seed)


def train(
    checkpoint: Path,
    arch: str,
    out: Path,
    cfg: StarsConfig,
    *,
    d: Dist = Dist(),
    samples: StarsSamples | None = None,
    data_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Sample (unless given), filter, fine-tune; rank 0 writes the tuned checkpoint to `out`. Returns the
    training record.

    `samples` lets several variants share one sampling pass (the study does this): they must come from
    `sample` with the same checkpoint and config (minus `filtered`/`curriculum`). Without them, `sample`
    runs into `data_dir` (default: `out/../data`).
    """
    from unisandbox.models.sandbox.checkpoint import load_checkpoint
    from unisandbox.training.common import barrier, save_tuned

    t0 = time.perf_counter()
    if samples is None:
        samples = sample(checkpoint, arch, data_dir or Path(out).parent / "data", cfg, d, log)
    ckpt = load_checkpoint(checkpoint, arch, device=d.device)
    t_sample = time.perf_counter() - t0
    pairs = normal_pairs(samples.samples, samples.items, ckpt.codec, cfg.filtered)
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
    record = {
        "version": STARS_VERSION,
        "variant": cfg.variant,
        "config": cfg.to_dict(),
        "data": samples.data,
        "acceptance": acceptance(samples.samples),
        "pairs": {str(k): len(v) for k, v in sorted(pairs.items())},
        "stages": [{"name": n, "sequences": len(s), "steps": st} for n, s, st in plan],
        "replay_sequences": len(replay),
        "loss": loss_trend(losses),
        "train_log": train_log,
        "trained": bool(plan),
        "world_size": d.world,
        "sample_seconds": round(t_sample, 1),
        "train_seconds": round(time.perf_counter() - t0 - t_sample, 1),
    }
    if d.main:
        save_tuned(
            ckpt,
            out,
            {
                "method": "stars",
                "variant": cfg.variant,
                "config": cfg.to_dict(),
                "parent": str(checkpoint),
                "loss": record["loss"],
                "data": samples.data,
            },
        )
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


def unseen_compare(
    normal: dict[str, Any], checkpoint: Path, cfg: StarsConfig, eval_limit: int | None
) -> dict[str, Any]:
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
        out[key] = {
            "units": len(b),
            "before": rate(b).as_dict(),
            "after": rate(a).as_dict(),
            "change": t.as_dict() if t else None,
        }
    return out


def probe_compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The forgetting check: understanding-probe accuracy before and after, per "task/level"."""
    from unisandbox.training.evaluate import paired_change

    return {
        k: {
            "before": b.to_dict(),
            "after": after["probes"][k].to_dict(),
            "change": paired_change(b, after["probes"][k]),
        }
        for k, b in before["probes"].items()
    }


def run(
    checkpoint: Path | None,
    arch: str,
    out: Path,
    cfg: StarsConfig,
    eval_limit: int | None = None,
    *,
    d: Dist = Dist(),
    before: dict[str, Any] | None = None,
    samples: StarsSamples | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Sample, evaluate, train, evaluate again; rank 0 writes `out/data/` (stars-data: items, the think-mode
    run with its PNGs and verdicts), `out/checkpoint/` and `out/stars_report.{json,md}`.

    Returns the report on rank 0 (None on the other ranks). `before` reuses an earlier `measure` of the
    same checkpoint (the study measures the parent once for every variant); `samples`, an earlier `sample`.
    """
    from unisandbox.judges.sandbox import SandboxJudge
    from unisandbox.runs.io import atomic_write_text
    from unisandbox.training.common import barrier, checkpoint_dir, load_adapter
    from unisandbox.training.evaluate import EvalConfig, measure, scores_json

    checkpoint = checkpoint_dir(checkpoint, arch)  # None: the shipped one; the report names the directory
    judge = SandboxJudge()
    ecfg = EvalConfig(tasks=tuple(cfg.tasks), modes=("normal",), probes=True, limit=eval_limit)
    out = Path(out)
    if samples is None:  # first, so a data folder of another configuration is refused before any evaluation
        samples = sample(checkpoint, arch, out / "data", cfg, d, log)
    if d.main and before is None:
        log("measuring the checkpoint before STARS (normal mode, official test split)")
        before = measure(load_adapter(checkpoint, arch), judge, ecfg)
    record = train(checkpoint, arch, out / "checkpoint", cfg, d=d, samples=samples, log=log)
    barrier(d)
    if not d.main:
        return None
    assert before is not None
    after = measure(load_adapter(out / "checkpoint", arch), judge, ecfg)
    normal = compare(before, after)
    report = {
        "arch": arch,
        "checkpoint": str(checkpoint),
        "variant": cfg.variant,
        "normal": normal,
        "unseen": unseen_compare(normal, checkpoint, cfg, eval_limit),
        "probes": probe_compare(before, after),
        "before": scores_json(before),
        "after": scores_json(after),
        "eval": {"limit": eval_limit, "split": "official test"},
        **{k: v for k, v in record.items() if k != "train_log"},
    }
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

    lines = [
        f"# STARS ({report['variant']}, {report['arch']} architecture)",
        "",
        f"Checkpoint: `{report['checkpoint']}`; evaluation: official test split, normal mode, one sample "
        "per item, sandbox judge; mapping scored by pair; 95% Wilson intervals; change = after - before "
        "with Newcombe's paired interval and the exact McNemar p-value. Judge errors and missing images "
        "are counted apart, never as wrong. Chance: a uniform guesser's accuracy. Unseen expressions: the "
        "same test units restricted to those whose expression (math) or rule set (mapping) no training "
        "item had (pretraining, replay, this round's STARS items; `training.heldout`), with their count.",
        "",
        "| task/level | chance | before | after | change [95% CI] | p | errors / missing (after) | "
        "unseen expressions: before -> after (units) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, r in report["normal"].items():
        c = r["change"]
        chance = r["after"].get("chance")
        lines.append(
            f"| {key} | {'-' if chance is None else f'{chance:.2f}'} | {iv(r['before'])} | {iv(r['after'])} | "
            f"{c['diff']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] | {c['p_mcnemar']:.3g} | "
            f"{r['after'].get('errors', 0)} / {r['after'].get('missing', 0)} | "
            f"{_unseen_text((report.get('unseen') or {}).get(key))} |"
        )
    lines += [
        "",
        "Think-mode samples on train items (rejection sampling):",
        "",
        "| task/level | samples | accepted | rate | judge errors | missing |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, a in sorted(report["acceptance"].items()):
        lines.append(
            f"| {key} | {a['samples']} | {a['correct']} | {a['rate']:.2f} | {a['error']} | {a['missing']} |"
        )
    if report.get("data"):
        data = report["data"]
        units = "; ".join(f"{k} {u['drawn']}/{u['held_out']}/{u['kept']}" for k, u in data["units"].items())
        lines += [
            "",
            f"Train items: {data['items']} fresh train-split items from `unisandbox stars-data`'s item "
            f"generator, held out by expression: {data['held_out']}. Units (mapping: pairs) drawn / "
            f"dropped as held out / kept: {units}. Samples, PNGs and verdicts: `{data['dir']}`.",
        ]
    lines += [
        "",
        "Forgetting check (understanding probes of the same test items):",
        "",
        "| task/level | before | after | change [95% CI] |",
        "| --- | --- | --- | --- |",
    ]
    for key, r in report["probes"].items():
        c = r["change"]
        lines.append(
            f"| {key} | {iv(r['before'])} | {iv(r['after'])} | {c['diff']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] |"
        )
    loss = report["loss"]
    if not report["stages"]:
        lines += [
            "",
            "No think-mode sample passed the judge: nothing to train on, the model is unchanged.",
            "",
        ]
        return "\n".join(lines)
    stages_text = ", ".join(
        f"{s['name']} ({s['sequences']} seqs, {s['steps']} steps)" for s in report["stages"]
    )
    lines += [
        "",
        f"Fine-tuning: stages {stages_text}; "
        f"replay pool {report['replay_sequences']} sequences; loss {loss['first']:.3f} (first steps) -> "
        f"{loss['last']:.3f} (last steps); sampling {report['sample_seconds']}s, training "
        f"{report['train_seconds']}s, world size {report['world_size']}.",
        "",
    ]
    return "\n".join(lines)
