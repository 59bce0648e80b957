"""CLI commands of the evaluation pipeline: generate, judge, report, run (all three), merge.

Every option of a stage defaults to "as the run directory says" (or the defaults for a new run), so
`unisandbox run --out DIR` resumes a run and a stage given other options than its run is refused.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

_HELP_OUT = "Run directory (default: runs/<model>-<judge>-<hash of the options>; rerun to resume)."


def _split(value: str | None, what: str, cast: Callable[[str], Any] = str) -> tuple | None:
    if value is None:
        return None
    try:
        parts = tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError as e:
        raise _BadOption(f"--{what}: cannot read {value!r} ({e})") from e
    if not parts:
        raise _BadOption(f"--{what}: empty list")
    return parts


class _BadOption(ValueError):
    exit_code = 2


def _options(pairs: list[str] | None, flag: str) -> dict[str, Any] | None:
    """Parse repeatable `KEY=VALUE` flags; values are JSON when they parse (numbers, booleans), else text."""
    import json

    if not pairs:
        return None
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise _BadOption(f"{flag}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _given(**values: Any) -> dict[str, Any]:
    """Only the options the user gave (None means: take it from the run or the defaults)."""
    out = {k: v for k, v in values.items() if v is not None}
    if "items_files" in out:
        out["items_files"] = tuple(str(Path(p)) for p in out["items_files"])
        if not out["items_files"]:
            del out["items_files"]
    return out


def _out_dir(out: Path | None, given: dict[str, Any]) -> Path:
    if out is not None:
        return out
    from unisandbox.runs.config import RunConfig
    from unisandbox.runs.pipeline import default_out

    return default_out(RunConfig(**given).validate())


class _RichProgress:
    """A progress bar per stage on stderr (silent on ranks other than 0)."""

    def __init__(self, enabled: bool = True):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled)
        self._task = None

    def __enter__(self) -> _RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, name: str, total: int) -> None:
        self._task = self._progress.add_task(name, total=total)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _guard(fn: Callable[[], None], resume: str) -> None:
    """Run a command body: bad input exits 2 with its message, Ctrl-C exits 130 saying how to resume."""
    from unisandbox.models.base import CapabilityError
    from unisandbox.registry import SpecError
    from unisandbox.runs.config import ConfigError
    from unisandbox.tasks.base import InputError

    try:
        fn()
    except KeyboardInterrupt:
        print(f"\nInterrupted. Finished work is saved. Resume with: {resume}", file=sys.stderr)
        raise typer.Exit(130) from None
    except (InputError, ConfigError, SpecError, CapabilityError, _BadOption) as e:
        _fail(str(e), 2)


def _print_summary(summary: dict[str, Any], opened: Any) -> None:
    from unisandbox.report.tables import print_table

    model = (opened.manifest.get("model") or {}).get("spec", "-")
    judge = (opened.manifest.get("judge") or {}).get("spec", "-")
    print_table(summary, f"UniSandbox: model {model}, judge {judge}")
    print(f"Reports: {opened.run.root}/report.md, report.html, results.csv, summary.json")


# Shared option declarations (typer reads the defaults as option specs).
_MODEL = typer.Option(None, "--model", help="Model spec KIND[:PATH]: sandbox (default), sandbox:DIR, sandbox-query, fake[:k=v,...].")
_JUDGE = typer.Option(None, "--judge", help="Judge spec KIND[:PATH]: sandbox (default) or vlm.")
_TASKS = typer.Option(None, "--tasks", help="Comma list: math,mapping,knowledge (default: math,mapping; with --items: all).")
_LEVELS = typer.Option(None, "--levels", help="Comma list of levels (default: 1,2,3).")
_MODES = typer.Option(None, "--modes", help="Comma list: normal,think (default: both).")
_SAMPLES = typer.Option(None, "--samples-per-item", help="Images per item and mode (default 1).")
_LIMIT = typer.Option(None, "--limit", help="First N items (mapping: pairs) per task and level.")
_ITEMS = typer.Option(None, "--items", help="Items file, ours or the study's format (repeatable). Default: the official test split.")
_OUT = typer.Option(None, "--out", help=_HELP_OUT)
_LAYOUT = typer.Option(None, "--layout", help="Image layout: ours (default) or study (test/<mode>/<file>/<id>.png + evaluation_results.csv).")
_SEED = typer.Option(None, "--seed", help="Base seed (default 0); sample seeds derive from (item, mode, sample index).")
_NO_PROBES = typer.Option(None, "--probes/--no-probes", help="Ask the understanding probes (default: yes).")
_BATCH = typer.Option(64, "--batch-size", help="Samples per model/judge call (does not change results).")
_RETRY = typer.Option(False, "--retry-errors", help="Redo samples, probes or verdicts that failed.")
_ALLOW = typer.Option(False, "--allow-incomplete", help="Show accuracies even with errors or missing samples (marked incomplete).")
_SHARD = typer.Option(None, "--shard", help="Generate only share i of n (e.g. 0/4), for schedulers such as Slurm.")
_MODEL_OPT = typer.Option(None, "--model-option", help="KEY=VALUE passed to the model adapter (repeatable); "
                          "recorded in the run's configuration. E.g. --model-option batch_size=4.")
_JUDGE_OPT = typer.Option(None, "--judge-option", help="KEY=VALUE passed to the judge (repeatable), e.g. "
                          "--judge-option concurrency=32. Not stored: the judge's identity is recorded instead.")


def _config_values(model, tasks, levels, modes, samples_per_item, limit, items, layout, seed, probes,
                   judge=None, model_option=None) -> dict[str, Any]:
    return _given(model=model, judge=judge, tasks=_split(tasks, "tasks"), levels=_split(levels, "levels", int),
                  modes=_split(modes, "modes"), samples_per_item=samples_per_item, limit=limit,
                  items_files=items, layout=layout, seed=seed, probes=probes,
                  model_options=_options(model_option, "--model-option"))


def _generate(given: dict[str, Any], out: Path | None, batch_size: int, retry_errors: bool,
              shard_text: str | None, then: Callable[[Any], None] | None = None) -> None:
    """Generation on one process, a --shard, or every torchrun rank; `then` runs on rank 0 afterwards."""
    from unisandbox.runs.distributed import parse_shard
    from unisandbox.runs.pipeline import distributed_group, merge_shards, open_run, stage_generate
    from unisandbox.runs.rundir import RunDir

    out_dir = _out_dir(out, given)
    group = distributed_group()
    if shard_text is not None and group.world > 1:
        raise _BadOption("--shard and torchrun split the work two ways; use one of them")
    shard = parse_shard(shard_text) if shard_text is not None else group.shard
    from unisandbox.runs.pipeline import load_model

    try:
        opened, model, error = None, None, None
        if group.is_main:
            try:
                opened = open_run(out_dir, given, create=True)
                model = load_model(opened, bind=True)
            except BaseException as e:  # rank 0 tells the others to stop before re-raising
                error = e
        # Also the barrier that makes the manifest (with its model) visible before any rank writes.
        if not group.broadcast_ok(error is None):
            if error is not None:
                raise error
            return
        if opened is None:
            opened = open_run(out_dir, {k: v for k, v in given.items() if k == "judge"}, create=False)
            model = load_model(opened, bind=False)
        with _RichProgress(enabled=group.is_main) as progress:
            counts = stage_generate(opened, model, shard=shard, batch_size=batch_size,
                                    retry_errors=retry_errors, progress=progress)
        group.barrier()
        if group.is_main:
            merged = merge_shards(opened, force=group.world > 1)
            print(f"generate: {counts['generated']} samples, {counts['probed']} probes this call"
                  f"{' (shards merged)' if merged else ''} -> {RunDir(out_dir).root}", file=sys.stderr)
            if then is not None:
                then(opened)
    finally:
        group.close()


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("generate")
    def generate_cmd(model: str = _MODEL, tasks: str = _TASKS, levels: str = _LEVELS, modes: str = _MODES,
                     samples_per_item: int = _SAMPLES, limit: int = _LIMIT, items: list[Path] = _ITEMS,
                     out: Path = _OUT, layout: str = _LAYOUT, seed: int = _SEED, probes: bool = _NO_PROBES,
                     batch_size: int = _BATCH, retry_errors: bool = _RETRY, shard: str = _SHARD,
                     model_option: list[str] = _MODEL_OPT) -> None:
        """Generate images (normal and think mode) and ask the understanding probes. Resumable;
        works under `torchrun --nproc-per-node N -m unisandbox generate ...` and with --shard i/n."""
        def body() -> None:
            given = _config_values(model, tasks, levels, modes, samples_per_item, limit, items, layout, seed, probes,
                                   model_option=model_option)
            _generate(given, out, batch_size, retry_errors, shard)
        _guard(body, f"unisandbox generate --out {out or '<the same options>'}")

    @app.command("judge")
    def judge_cmd(out: Path = typer.Option(..., "--out", help="Run directory."), judge: str = _JUDGE,
                  batch_size: int = _BATCH, retry_errors: bool = _RETRY, judge_option: list[str] = _JUDGE_OPT) -> None:
        """Judge every generated sample that has no verdict yet (blind caption, then a match in code)."""
        def body() -> None:
            from unisandbox.runs.pipeline import load_judge, open_run, stage_judge

            opened = open_run(out, _given(judge=judge), create=False)
            judge_obj = load_judge(opened, **(_options(judge_option, "--judge-option") or {}))
            with _RichProgress() as progress:
                n = stage_judge(opened, judge_obj, batch_size=batch_size, retry_errors=retry_errors,
                                progress=progress)
            print(f"judge: {n} samples judged this call -> {out}", file=sys.stderr)
        _guard(body, f"unisandbox judge --out {out}")

    @app.command("report")
    def report_cmd(out: Path = typer.Option(..., "--out", help="Run directory."),
                   allow_incomplete: bool = _ALLOW) -> None:
        """Aggregate verdicts into summary.json, results.csv, report.md and report.html; print the table."""
        def body() -> None:
            from unisandbox.runs.pipeline import open_run, stage_report

            opened = open_run(out, {}, create=False)
            _print_summary(stage_report(opened, allow_incomplete=allow_incomplete), opened)
        _guard(body, f"unisandbox report --out {out}")

    @app.command("merge")
    def merge_cmd(out: Path = typer.Option(..., "--out", help="Run directory.")) -> None:
        """Fold --shard record files into the main files (only once every shard has finished)."""
        def body() -> None:
            from unisandbox.runs.pipeline import merge_shards, open_run

            opened = open_run(out, {}, create=False)
            moved = merge_shards(opened, force=True)
            print("merged" if moved else "nothing to merge", file=sys.stderr)
        _guard(body, f"unisandbox merge --out {out}")

    @app.command("run")
    def run_cmd(model: str = _MODEL, judge: str = _JUDGE, tasks: str = _TASKS, levels: str = _LEVELS,
                modes: str = _MODES, samples_per_item: int = _SAMPLES, limit: int = _LIMIT,
                items: list[Path] = _ITEMS, out: Path = _OUT, layout: str = _LAYOUT, seed: int = _SEED,
                probes: bool = _NO_PROBES, batch_size: int = _BATCH, retry_errors: bool = _RETRY,
                allow_incomplete: bool = _ALLOW, model_option: list[str] = _MODEL_OPT,
                judge_option: list[str] = _JUDGE_OPT) -> None:
        """The main job: generate, judge and report. With no options: the shipped sandbox model and judge
        on the official math and mapping test split, levels 1-3, both modes, with understanding probes."""
        given = {}

        def finish(opened: Any) -> None:
            from unisandbox.runs.pipeline import load_judge, stage_judge, stage_report

            judge_obj = load_judge(opened, **(_options(judge_option, "--judge-option") or {}))
            with _RichProgress() as progress:
                stage_judge(opened, judge_obj, batch_size=batch_size, retry_errors=retry_errors, progress=progress)
            _print_summary(stage_report(opened, allow_incomplete=allow_incomplete), opened)

        def body() -> None:
            given.update(_config_values(model, tasks, levels, modes, samples_per_item, limit, items, layout,
                                        seed, probes, judge=judge, model_option=model_option))
            _generate(given, out, batch_size, retry_errors, None, then=finish)

        resume_out = out
        try:
            resume_out = out or _out_dir(None, _config_values(model, tasks, levels, modes, samples_per_item,
                                                              limit, items, layout, seed, probes, judge=judge,
                                                              model_option=model_option))
        except Exception:  # a bad option is reported by _guard below
            pass
        _guard(body, f"unisandbox run --out {resume_out}")
