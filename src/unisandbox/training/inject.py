"""Knowledge injection: text-only fine-tuning on the official knowledge corpus, then forward and inverse
generation in normal and think mode.

The injected data is the official corpus (`data/official/training/knowledge_corpus.jsonl`, 40 turns per
character, pairs included) as understanding sequences (`knowledge_mixture.injection_und`): no image token
of an injected sequence is ever in the loss. It is mixed with replay of pretraining data against
forgetting (`injection_replay`): text only for the query arch, every kind for the shared arch.

What is trained: query arch, the understanding LM only (the queries, projection and image decoder are
untouched: their parameter hash is recorded before and after); shared arch, the one network, which reads
and writes both text and images, so injection necessarily changes parameters that generation uses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisandbox.training.common import Dist, ReplayConfig

if TYPE_CHECKING:
    from unisandbox.models.base import UnifiedModel
    from unisandbox.models.sandbox.checkpoint import Checkpoint
    from unisandbox.models.sandbox.sequences import Codec, Seq
    from unisandbox.tasks.knowledge import KnowledgeWorld

INJECT_VERSION = 1


@dataclass(frozen=True)
class InjectConfig:
    """One knowledge-injection run."""

    steps: int = 600
    lr: float = 5e-4
    batch_size: int = 32
    replay_ratio: float = 0.5
    """Share of each batch drawn from text-only replay of pretraining data."""
    replay: ReplayConfig = field(
        default_factory=lambda: ReplayConfig(math_items=200, mapping_items=100, n_draw=2000)
    )
    """Replay pool sizes (drawing is replayed for the shared arch only, see `injection_replay`)."""
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for reports."""
        return asdict(self)


def official_world() -> KnowledgeWorld:
    """The official knowledge world, regenerated from its recorded seed and checked against the files."""
    from unisandbox.models.sandbox.knowledge_mixture import OFFICIAL_WORLD
    from unisandbox.runs.items import OFFICIAL_DIR
    from unisandbox.tasks.knowledge import knowledge_world

    data = json.loads(OFFICIAL_WORLD.read_text(encoding="utf-8"))
    world = knowledge_world(int(data["seed"]), len(data["characters"]))
    corpus_file = OFFICIAL_DIR / "training" / "knowledge_corpus.jsonl"
    if world.corpus_jsonl() != corpus_file.read_text(encoding="utf-8"):
        raise ValueError(
            f"{corpus_file}: does not match knowledge_world(seed={data['seed']}); "
            "the official data and the generator disagree"
        )
    return world


def injection_sequences(codec: Codec) -> list[Seq]:
    """The official corpus as understanding sequences for `codec`."""
    from unisandbox.models.sandbox.knowledge_mixture import injection_und

    return [codec.understanding(q, steps) for q, steps in injection_und(official_world())]


def injection_replay(ckpt: Checkpoint, cfg: InjectConfig) -> list[Seq]:
    """Replay of pretraining data against forgetting, drawn with the checkpoint's pretraining weights.

    Query arch: text only (understanding sequences and think-mode sequences cut after `<img>`); its image
    side is frozen and never sees a batch. Shared arch: every kind, drawing included: the one network
    also draws, and text-only fine-tuning alone wiped out its drawing in a development run (docs/study.md).
    The injected data itself is text only in both architectures.
    """
    from unisandbox.models.sandbox.train import text_only
    from unisandbox.training.common import IMAGE_KINDS, TEXT_KINDS, replay_pools, weighted_replay

    pools = replay_pools(ckpt, cfg.replay)
    if ckpt.arch == "shared":
        return weighted_replay(ckpt, pools, (*TEXT_KINDS, *IMAGE_KINDS), cfg.replay.size, cfg.seed)
    kinds = (*TEXT_KINDS, "think", "kthink")  # drawing sequences have no text to learn
    return [text_only(s) for s in weighted_replay(ckpt, pools, kinds, cfg.replay.size, cfg.seed)]


def inject_facts(
    ckpt: Checkpoint,
    cfg: InjectConfig,
    seqs: list[Seq],
    replay: list[Seq],
    *,
    log: Callable[[dict[str, Any]], None],
    log_every: int = 50,
    rank: int = 0,
    distributed: bool = False,
) -> list[float]:
    """What `unisandbox inject` trains: `seqs` (`injection_sequences`) with `replay` (`injection_replay`) at
    the configured ratio, fine-tuned in place; returns the losses."""
    from unisandbox.models.sandbox.train import finetune

    return finetune(
        ckpt.model,
        ckpt.codec,
        seqs,
        steps=cfg.steps,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        seed=cfg.seed * 1000 + 7 + rank,
        replay=replay,
        replay_ratio=cfg.replay_ratio,
        arch=ckpt.arch,
        log=log,
        log_every=log_every,
        distributed=distributed,
    )


def train(
    checkpoint: Path,
    arch: str,
    out: Path,
    cfg: InjectConfig,
    *,
    d: Dist = Dist(),
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fine-tune on the corpus; rank 0 writes the checkpoint to `out`. Returns the training record."""
    from unisandbox.models.sandbox.checkpoint import load_checkpoint
    from unisandbox.training.common import barrier, generation_params, param_hash, save_tuned
    from unisandbox.training.stars import loss_trend

    t0 = time.perf_counter()
    ckpt = load_checkpoint(checkpoint, arch, device=d.device)
    seqs = injection_sequences(ckpt.codec)
    replay = injection_replay(ckpt, cfg)
    gen_before = param_hash(generation_params(ckpt.model, arch))
    train_log: list[dict[str, Any]] = []

    def rec(r: dict[str, Any]) -> None:
        train_log.append(r)
        if d.main:
            log(json.dumps({**r, "stage": "inject"}))

    losses = inject_facts(ckpt, cfg, seqs, replay, log=rec, rank=d.rank, distributed=d.world > 1)
    ckpt.model.eval()
    gen_after = param_hash(generation_params(ckpt.model, arch))
    record = {
        "version": INJECT_VERSION,
        "config": cfg.to_dict(),
        "corpus_sequences": len(seqs),
        "replay_sequences": len(replay),
        "loss": loss_trend(losses),
        "world_size": d.world,
        "generation_pathway": {
            "parameters": "queries, proj, dec"
            if arch == "query"
            else "none separate: the shared network reads and writes text and images",
            "hash_before": gen_before,
            "hash_after": gen_after,
            "untouched": gen_before == gen_after if arch == "query" else None,
        },
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    if d.main:
        save_tuned(
            ckpt,
            out,
            {"method": "inject", "config": cfg.to_dict(), "parent": str(checkpoint), "loss": record["loss"]},
        )
    barrier(d)
    return record


KNOWLEDGE_TASKS = ("knowledge_forward", "knowledge_inverse")


def measure_knowledge(model: UnifiedModel, judge: Any, base_seed: int = 0) -> dict[str, Any]:
    """Forward / inverse generation accuracy in both modes and probe accuracy (official knowledge items)."""
    from unisandbox.metrics.outcomes import unit_chance, unit_outcomes
    from unisandbox.models.base import MODES
    from unisandbox.training.evaluate import (
        Score,
        generate_all,
        image_array,
        judge_arrays,
        official_items,
        probe_scores,
    )

    out: dict[str, Any] = {"generation": {}, "probes": {}}
    for task in KNOWLEDGE_TASKS:
        direction = task.removeprefix("knowledge_")
        items = official_items(task)
        for mode in MODES:
            gens = generate_all(model, items, mode, 0, base_seed)
            verdicts = judge_arrays(judge, [image_array(g) for g in gens], items)
            out["generation"].setdefault(direction, {})[mode] = Score.of(
                unit_outcomes(items, verdicts), unit_chance(items)
            )
        out["probes"][direction] = probe_scores(model, items, key=lambda it: "all")["all"]
    return out


def knowledge_json(m: dict[str, Any]) -> dict[str, Any]:
    """`measure_knowledge`'s result with Scores as dicts."""
    return {
        "generation": {d: {mode: s.to_dict() for mode, s in v.items()} for d, v in m["generation"].items()},
        "probes": {d: s.to_dict() for d, s in m["probes"].items()},
    }


def run(
    checkpoint: Path | None,
    arch: str,
    out: Path,
    cfg: InjectConfig,
    *,
    d: Dist = Dist(),
    log: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Measure, inject, measure again; rank 0 writes `out/checkpoint/` and `out/inject_report.{json,md}`."""
    from unisandbox.judges.sandbox import SandboxJudge
    from unisandbox.runs.io import atomic_write_text
    from unisandbox.training.common import barrier, checkpoint_dir, load_adapter
    from unisandbox.training.evaluate import paired_change

    checkpoint = checkpoint_dir(checkpoint, arch)  # None: the shipped one; the report names the directory
    judge = SandboxJudge()
    out = Path(out)
    before = measure_knowledge(load_adapter(checkpoint, arch), judge) if d.main else None
    record = train(checkpoint, arch, out / "checkpoint", cfg, d=d, log=log)
    barrier(d)
    if not d.main:
        return None
    assert before is not None
    after = measure_knowledge(load_adapter(out / "checkpoint", arch), judge)
    changes = {
        dname: {mode: paired_change(before["generation"][dname][mode], s) for mode, s in v.items()}
        for dname, v in after["generation"].items()
    }
    report = {
        "arch": arch,
        "checkpoint": str(checkpoint),
        "before": knowledge_json(before),
        "after": knowledge_json(after),
        "change": changes,
        **record,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "inject_report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "inject_report.md", report_markdown(report))
    return report


def report_markdown(report: dict[str, Any]) -> str:
    """The injection report as Markdown."""

    def iv(s: dict[str, Any]) -> str:
        return f"{s['value']:.2f} [{s['low']:.2f}, {s['high']:.2f}] ({s['k']}/{s['n']})"

    b, a = report["before"], report["after"]
    lines = [
        f"# Knowledge injection ({report['arch']} architecture)",
        "",
        f"Checkpoint: `{report['checkpoint']}`; injected: the official corpus ({report['corpus_sequences']} "
        f"turns, text only), {report['config']['steps']} steps mixed with replay of pretraining data "
        f"({report['config']['replay_ratio']:.0%}; "
        f"{'text only' if report['arch'] == 'query' else 'every kind, drawing included'}). Official "
        "knowledge items, one sample per item, sandbox judge, 95% Wilson intervals; judge errors and "
        "missing images counted apart, never as wrong; chance: a uniform guesser's accuracy.",
        "",
        "| test | mode | chance | before | after | errors / missing (after) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]

    def extra(s: dict[str, Any]) -> str:
        c = s.get("chance")
        return "-" if c is None else f"{c:.2f}"

    for dname in ("forward", "inverse"):
        for mode in ("normal", "think"):
            s_a = a["generation"][dname][mode]
            lines.append(
                f"| {dname} | {mode} | {extra(s_a)} | {iv(b['generation'][dname][mode])} | {iv(s_a)} | "
                f"{s_a.get('errors', 0)} / {s_a.get('missing', 0)} |"
            )
        p_a = a["probes"][dname]
        lines.append(
            f"| {dname} | understanding probe | {extra(p_a)} | {iv(b['probes'][dname])} | {iv(p_a)} | "
            f"{p_a.get('errors', 0)} / {p_a.get('missing', 0)} |"
        )
    g = report["generation_pathway"]
    lines += [
        "",
        f"Generation pathway: {g['parameters']}; unchanged by injection: {g['untouched']}.",
        f"Loss {report['loss']['first']:.3f} -> {report['loss']['last']:.3f}; training {report['train_seconds']}s.",
        "",
    ]
    return "\n".join(lines)
