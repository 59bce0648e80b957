"""The stages as the CLI runs them: open or create the run, bind model and judge, work, report.

`open_run` fixes a run's configuration and items on first use and refuses a later call that asks for
something else; each stage then only adds what is missing (see runs/runner.py).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisandbox.runs.config import ConfigError, RunConfig
from unisandbox.runs.distributed import WHOLE, Group, Shard, torchrun_env
from unisandbox.runs.items import select_items
from unisandbox.runs.rundir import RunDir
from unisandbox.runs.runner import DEFAULT_BATCH_SIZE, MODEL_FAILED, Plan, Progress, generate, judge, probe

if TYPE_CHECKING:
    from collections.abc import Sequence

    from unisandbox.judges.base import Judge
    from unisandbox.models.base import UnifiedModel
    from unisandbox.tasks.base import Item

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
    selection: dict[str, Any] = field(default_factory=dict)
    """What the item selection left out and why (items.select_items); kept in the manifest."""

    def materialize(self) -> None:
        """Write a new run's items.jsonl and manifest (no-op for an existing run)."""
        if self.new:
            self.manifest = self.run.create(self.config, self.plan.items, self.selection)
            self.new = False


def default_out(config: RunConfig) -> Path:
    """runs/<model>-<judge>-<config hash>: the same options resume the same directory."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{config.model}-{config.judge}").strip("-")[:40]
    return Path("runs") / f"{slug}-{config.short_hash()}"


def _config_from_manifest(manifest: dict[str, Any], judge: str | None) -> RunConfig:
    stored = dict(manifest.get("config") or {})
    names = {f.name for f in fields(RunConfig)}
    values: dict[str, Any] = {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in stored.items() if k in names
    }
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
        for warning in run.quarantine_damaged():
            print(warning, file=sys.stderr)
        base = _config_from_manifest(manifest, given.get("judge"))
        config = RunConfig(
            **{**{f.name: getattr(base, f.name) for f in fields(RunConfig)}, **given}
        ).validate()
        items = select_items(config) if any(k in given for k in _ITEM_KEYS) else run.read_items()
        run.check_config(manifest, config, items)
        items = run.read_items()
    else:
        if not create:
            raise ConfigError(
                f"{out}: no run here (no manifest.json); run `unisandbox generate` or `unisandbox run` first"
            )
        config = RunConfig(**given).validate()
        selection: dict[str, Any] = {}
        items = select_items(config, selection)
        plan = Plan(tuple(items), tuple(config.modes), config.samples_per_item)
        # Nothing is written yet: a model that fails to load must leave no half-made run behind.
        return Opened(run, {}, config, plan, new=True, selection=selection)
    plan = Plan(tuple(items), tuple(config.modes), config.samples_per_item)
    return Opened(run, manifest, config, plan)


def check_out_dir(out: Path) -> None:
    """Refuse an output directory that cannot be created or written, before anything is written.

    The nearest existing folder on the path must be a writable directory; a probe file is created there
    and removed again (permission bits alone miss read-only file systems and root).
    """
    import tempfile

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out names an existing file, not a directory ({out})")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"--out cannot be created: {probe} is a file, not a directory ({out})")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".unisandbox-write-check."):
            pass
    except OSError as e:
        raise ConfigError(f"--out is not writable: {e.strerror or e} ({probe})") from e


def _component_error(role: str, spec: str, e: BaseException) -> ConfigError:
    message = str(e) if getattr(type(e), "exit_code", None) == 2 else f"{type(e).__name__}: {e}"
    return ConfigError(f"cannot load {role} {spec!r}: {message}")


def build_model(opened: Opened) -> UnifiedModel:
    """Build the run's model, check its capabilities against the run and hand it the planned items (the
    optional `prepare` hook); writes nothing."""
    from unisandbox.models.base import prepare, require
    from unisandbox.registry import SpecError
    from unisandbox.registry import load_model as build

    spec = opened.config.model
    try:
        model = build(spec, **opened.config.model_options)
    except SpecError:
        raise
    except (ImportError, ValueError, TypeError, OSError) as e:
        raise _component_error("model", spec, e) from e
    for mode in opened.config.modes:
        require(model, mode=mode)
    if opened.config.probes:
        require(model, understanding=True)
    prepare(model, opened.plan.items)
    return model


def bind_model(opened: Opened, model: Any) -> None:
    """Write a new run's directory and record the model in the manifest."""
    opened.materialize()
    opened.manifest = opened.run.bind_component(
        opened.manifest, "model", opened.config.model, model.describe()
    )


def build_judge(opened: Opened, **options: Any) -> Judge:
    """Build the run's judge (with CLI `options`) and check a remote judge answers; writes nothing."""
    from unisandbox.registry import SpecError
    from unisandbox.registry import load_judge as build

    spec = opened.config.judge
    try:
        judge_obj = build(spec, **options)
    except SpecError:
        raise
    except (ImportError, ValueError, TypeError, OSError) as e:
        raise _component_error("judge", spec, e) from e
    check = getattr(judge_obj, "check", None)
    if callable(check):
        check()
    return judge_obj


def bind_judge(opened: Opened, judge_obj: Any) -> None:
    """Write a new run's directory and record the judge in the manifest (refusing a different one)."""
    opened.materialize()
    opened.manifest = opened.run.bind_component(
        opened.manifest, "judge", opened.config.judge, judge_obj.describe()
    )


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


def stage_generate(
    opened: Opened,
    model: Any,
    *,
    shard: Shard = WHOLE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    retry_errors: bool = False,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Generate images, then ask the probes, for this shard."""
    cfg = opened.config
    n_gen = generate(
        opened.run,
        opened.plan,
        model,
        layout=cfg.layout,
        seed=cfg.seed,
        shard=shard,
        batch_size=batch_size,
        retry_errors=retry_errors,
        progress=progress,
    )
    n_probe = 0
    if cfg.probes:
        n_probe = probe(
            opened.run,
            opened.plan,
            model,
            shard=shard,
            batch_size=batch_size,
            retry_errors=retry_errors,
            progress=progress,
        )
    return {"generated": n_gen, "probed": n_probe}


def stage_judge(
    opened: Opened,
    judge_obj: Any,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    retry_errors: bool = False,
    progress: Progress | None = None,
) -> int:
    """Merge finished shards, then judge every sample without a verdict."""
    merge_shards(opened)
    return judge(
        opened.run,
        opened.plan,
        judge_obj,
        batch_size=batch_size,
        retry_errors=retry_errors,
        progress=progress,
    )


def stage_report(opened: Opened, *, allow_incomplete: bool = False) -> dict[str, Any]:
    """Aggregate the records into summary.json and write the reports; return the summary."""
    from unisandbox.report.write import write_reports

    if merge_shards(opened) or samples_complete(opened):
        opened.run.remove_stale_temps()
    run, plan, cfg = opened.run, opened.plan, opened.config
    samples = run.read_records("samples")
    verdicts = run.read_records("verdicts")
    understanding = run.read_records("understanding")
    summary = summarize_split(
        plan, samples, understanding, verdicts, probes=cfg.probes, allow_incomplete=allow_incomplete
    )
    summary["counts"] = {
        "images": len(plan.sample_keys()),
        "probes": len(plan.items) if cfg.probes else 0,
        "images_with_verdict": sum(1 for k in plan.sample_keys() if k in verdicts),
        "probes_answered": sum(1 for it in plan.items if (it.id,) in understanding),
    }
    summary["failures"] = failure_reasons(plan, samples, understanding, verdicts)
    summary["selection"] = opened.manifest.get("selection") or {}
    write_reports(
        run,
        opened.manifest,
        plan.items,
        plan.modes,
        plan.samples_per_item,
        summary,
        samples,
        verdicts,
        cfg.layout,
        understanding,
    )
    return summary


_PART_ORDER = ("", "knowledge-forward", "knowledge-inverse")


def summarize_split(
    plan: Plan,
    samples: dict[Any, Any],
    understanding: dict[Any, Any],
    verdicts: dict[Any, Any],
    *,
    probes: bool,
    allow_incomplete: bool,
) -> dict[str, Any]:
    """metrics.summarize, with knowledge split into forward and inverse rows (task "knowledge-forward",
    "knowledge-inverse"); whether accuracies are withheld is decided for the whole run."""
    from unisandbox.metrics.summary import summarize
    from unisandbox.report.tables import task_label

    parts: dict[str, list[Item]] = {}
    for it in plan.items:
        parts.setdefault(task_label(it) if it.task == "knowledge" else "", []).append(it)

    def part(items: Sequence[Item], allow: bool) -> dict[str, Any]:
        return summarize(
            items,
            plan.modes,
            plan.samples_per_item,
            samples,
            understanding,
            verdicts,
            probes=probes,
            allow_incomplete=allow,
        )

    if set(parts) <= {""}:
        return part(plan.items, allow_incomplete)
    pieces = []
    for label in sorted(parts, key=lambda x: _PART_ORDER.index(x) if x in _PART_ORDER else len(_PART_ORDER)):
        piece = part(parts[label], True)
        for block in ("rows", "understanding", "comparisons"):
            for row in piece[block]:
                row["task"] = label or row["task"]
        pieces.append(piece)
    merged = {
        **pieces[0],
        **{b: [r for p in pieces for r in p[b]] for b in ("rows", "understanding", "comparisons")},
    }
    merged["totals"] = {k: sum(p["totals"][k] for p in pieces) for k in pieces[0]["totals"]}
    merged["complete"] = all(p["complete"] for p in pieces)
    merged["allow_incomplete"] = allow_incomplete
    merged["withheld"] = not merged["complete"] and not allow_incomplete
    if merged["withheld"]:  # as metrics.summarize does for a run that is not complete
        for r in merged["rows"] + merged["understanding"]:
            r.update({"accuracy": None, "ci_low": None, "ci_high": None})
        for comp in merged["comparisons"]:
            for key in list(comp):
                if key not in ("task", "level"):
                    comp[key] = None
    return merged


def _reason(text: str) -> str:
    # The same failure on many samples differs only in where it was raised and how often it was tried.
    text = re.sub(r" at [\w.]+:\d+$", "", text.strip())
    text = re.sub(r"^after \d+ attempt\(s\): ", "", text)
    return text.splitlines()[0][:160] if text else "no reason given"


def failure_reasons(
    plan: Plan, samples: dict[Any, Any], understanding: dict[Any, Any], verdicts: dict[Any, Any]
) -> list[dict[str, Any]]:
    """Failures grouped by stage and reason: count and the first example (in plan order)."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def add(stage: str, reason: str, example: str) -> None:
        g = groups.setdefault(
            (stage, _reason(reason)),
            {"stage": stage, "reason": _reason(reason), "count": 0, "example": example},
        )
        g["count"] += 1

    for key in plan.sample_keys():
        s, v = samples.get(key), verdicts.get(key)
        where = f"{key[0]} {key[1]} #{key[2]}"
        if s is not None and s.image is None:
            add("model", s.error or "no image and no reason", where)
        elif v is not None and (v.error or "").startswith(MODEL_FAILED):
            add("model", (v.error or "")[len(MODEL_FAILED) :], where)
        elif v is not None and v.verdict in ("error", "missing"):
            add("judge", v.error or v.verdict, where)
    for it in plan.items:
        r = understanding.get((it.id,))
        if r is not None and r.correct is None:
            add("probe", r.error or "no answer", it.id)
    return sorted(groups.values(), key=lambda g: -g["count"])


def distributed_group() -> Group:
    """The torchrun process group, or a single-process stand-in."""
    return Group(torchrun_env())
