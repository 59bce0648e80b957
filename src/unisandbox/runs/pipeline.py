"""The stages as the CLI runs them: open or create the run, bind model and judge, work, report.

`open_run` fixes a run's configuration and items on first use and refuses a later call that asks for
something else; each stage then only adds what is missing (see runs/runner.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from unisandbox.runs.config import ConfigError, RunConfig
from unisandbox.runs.distributed import WHOLE, Group, Shard, torchrun_env
from unisandbox.runs.items import select_items
from unisandbox.runs.rundir import RunDir
from unisandbox.runs.runner import DEFAULT_BATCH_SIZE, Plan, Progress, generate, judge, probe

# Options that change which items a run holds; giving any of them makes open_run re-select and compare.
_ITEM_KEYS = ("tasks", "levels", "limit", "items_files")


@dataclass
class Opened:
    """An open run: its directory, manifest, configuration and plan."""

    run: RunDir
    manifest: dict[str, Any]
    config: RunConfig
    plan: Plan
    new: bool = False
    """True until a new run's directory is written (deferred until its model has loaded)."""

    def materialize(self) -> None:
        """Write a new run's items.jsonl and manifest (no-op for an existing run)."""
        if self.new:
            self.manifest = self.run.create(self.config, self.plan.items)
            self.new = False


def default_out(config: RunConfig) -> Path:
    """runs/<model>-<judge>-<config hash>: the same options resume the same directory."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{config.model}-{config.judge}").strip("-")[:40]
    return Path("runs") / f"{slug}-{config.short_hash()}"


def _config_from_manifest(manifest: dict[str, Any], judge: str | None) -> RunConfig:
    stored = dict(manifest.get("config") or {})
    names = {f.name for f in fields(RunConfig)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in stored.items() if k in names}
    judge_block = manifest.get("judge") or {}
    return RunConfig(**values, judge=judge or judge_block.get("spec") or "sandbox")


def open_run(out: Path, given: dict[str, Any], *, create: bool) -> Opened:
    """Open the run at `out` (creating it if allowed) with the explicitly `given` options.

    Options not given come from the manifest (an existing run) or the defaults (a new run). A given
    option that differs from the run's own is refused with ConfigError.
    """
    run = RunDir(out)
    if run.exists():
        manifest = run.read_manifest()
        base = _config_from_manifest(manifest, given.get("judge"))
        config = RunConfig(**{**{f.name: getattr(base, f.name) for f in fields(RunConfig)}, **given}).validate()
        items = select_items(config) if any(k in given for k in _ITEM_KEYS) else run.read_items()
        run.check_config(manifest, config, items)
        items = run.read_items()
    else:
        if not create:
            raise ConfigError(f"{out}: no run here (no manifest.json); run `unisandbox generate` or "
                              "`unisandbox run` first")
        config = RunConfig(**given).validate()
        items = select_items(config)
        plan = Plan(tuple(items), tuple(config.modes), config.samples_per_item)
        # Nothing is written yet: a model that fails to load must leave no half-made run behind.
        return Opened(run, {}, config, plan, new=True)
    plan = Plan(tuple(items), tuple(config.modes), config.samples_per_item)
    return Opened(run, manifest, config, plan)


def load_model(opened: Opened, bind: bool = True):
    """Build the run's model and record it in the manifest (refusing a different one)."""
    from unisandbox.registry import load_model as build

    try:
        model = build(opened.config.model, **opened.config.model_options)
    except ImportError as e:
        raise ConfigError(f"model {opened.config.model!r} cannot be loaded: {e}") from e
    opened.materialize()
    if bind:
        opened.manifest = opened.run.bind_component(opened.manifest, "model", opened.config.model,
                                                    model.describe())
    prepare = getattr(model, "prepare", None)
    if callable(prepare):
        prepare(opened.plan.items)
    return model


def load_judge(opened: Opened, **options: Any):
    """Build the run's judge (with CLI `options`) and record it in the manifest (refusing a different one)."""
    from unisandbox.registry import load_judge as build

    opened.materialize()
    try:
        judge_obj = build(opened.config.judge, **options)
    except ImportError as e:
        raise ConfigError(f"judge {opened.config.judge!r} cannot be loaded: {e}") from e
    opened.manifest = opened.run.bind_component(opened.manifest, "judge", opened.config.judge,
                                                judge_obj.describe())
    return judge_obj


def samples_complete(opened: Opened) -> bool:
    """True when every planned sample and probe has a record (so no worker is still writing)."""
    done = opened.run.read_records("samples")
    if any(k not in done for k in opened.plan.sample_keys()):
        return False
    if opened.config.probes:
        und = opened.run.read_records("understanding")
        return all((it.id,) in und for it in opened.plan.items)
    return True


def merge_shards(opened: Opened, force: bool = False) -> bool:
    """Fold shard files into the main record files when generation is complete (or `force`)."""
    if not force and not samples_complete(opened):
        return False
    moved = opened.run.merge("samples", opened.plan.sample_order())
    moved |= opened.run.merge("understanding", opened.plan.item_order())
    return moved


def stage_generate(opened: Opened, model: Any, *, shard: Shard = WHOLE, batch_size: int = DEFAULT_BATCH_SIZE,
                   retry_errors: bool = False, progress: Progress | None = None) -> dict[str, int]:
    """Generate images, then ask the probes, for this shard."""
    cfg = opened.config
    n_gen = generate(opened.run, opened.plan, model, layout=cfg.layout, seed=cfg.seed, shard=shard,
                     batch_size=batch_size, retry_errors=retry_errors, progress=progress)
    n_probe = 0
    if cfg.probes:
        n_probe = probe(opened.run, opened.plan, model, shard=shard, batch_size=batch_size,
                        retry_errors=retry_errors, progress=progress)
    return {"generated": n_gen, "probed": n_probe}


def stage_judge(opened: Opened, judge_obj: Any, *, batch_size: int = DEFAULT_BATCH_SIZE,
                retry_errors: bool = False, progress: Progress | None = None) -> int:
    """Merge finished shards, then judge every sample without a verdict."""
    merge_shards(opened)
    return judge(opened.run, opened.plan, judge_obj, batch_size=batch_size, retry_errors=retry_errors,
                 progress=progress)


def stage_report(opened: Opened, *, allow_incomplete: bool = False) -> dict[str, Any]:
    """Aggregate the records into summary.json and write the reports; return the summary."""
    from unisandbox.metrics.summary import summarize
    from unisandbox.report.write import write_reports

    if merge_shards(opened) or samples_complete(opened):
        opened.run.remove_stale_temps()
    run, plan, cfg = opened.run, opened.plan, opened.config
    samples = run.read_records("samples")
    verdicts = run.read_records("verdicts")
    understanding = run.read_records("understanding")
    summary = summarize(plan.items, plan.modes, plan.samples_per_item, samples, understanding, verdicts,
                        probes=cfg.probes, allow_incomplete=allow_incomplete)
    write_reports(run, opened.manifest, plan.items, plan.modes, plan.samples_per_item, summary, samples,
                  verdicts, cfg.layout)
    return summary


def distributed_group() -> Group:
    """The torchrun process group, or a single-process stand-in."""
    return Group(torchrun_env())
