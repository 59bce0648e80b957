"""CLI commands of the evaluation pipeline: generate, judge, report, run (all three), merge.

Every option of a stage defaults to "as the run directory says" (or the defaults for a new run), so
`unisandbox run --out DIR` resumes a run and a stage given other options than its run is refused.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

from unisandbox.cli.errors import Incomplete, UsageProblem, guard
from unisandbox.cli.options import comma_list, key_values

if TYPE_CHECKING:
    from rich.progress import TaskID

_HELP_OUT = "Run directory (default: runs/<model>-<judge>-<hash of the options>; rerun to resume)."


def _split(value: str | None, what: str, cast: Callable[[str], Any] = str) -> tuple[Any, ...] | None:
    return None if value is None else comma_list(value, what, cast)


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

        self._progress = Progress(
            TextColumn("{task.description:>9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self._task: TaskID | None = None

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


def _print_summary(summary: dict[str, Any], opened: Any) -> None:
    """The table, the failure reasons and where the reports are; exit 3 if the run is incomplete."""
    from unisandbox.report.tables import print_table

    model = (opened.manifest.get("model") or {}).get("spec", "-")
    judge = (opened.manifest.get("judge") or {}).get("spec", "-")
    print_table(summary, f"UniSandbox: model {model}, judge {judge}")
    print(f"Reports: {opened.run.root}/report.md, report.html, results.csv, summary.json")
    if not summary["complete"]:
        t = summary["totals"]
        raise Incomplete(
            f"the run is incomplete ({t['errors']} errors, {t['missing']} missing); "
            f"rerun `unisandbox run --out {opened.run.root}` to retry them"
        )


def _run_dir(out: Path | None, run_dir: Path | None) -> Path:
    if out is not None and run_dir is not None and Path(out) != Path(run_dir):
        raise UsageProblem(f"two run directories given ({run_dir} and --out {out}); give one")
    chosen = out if out is not None else run_dir
    if chosen is None:
        raise UsageProblem("no run directory: give it as RUN_DIR or --out RUN_DIR")
    return Path(chosen)


# Every option of these commands, declared once: name -> (type, default, typer spec). A command lists the
# names it takes (`_takes`); typer reads the signature `_takes` builds, so `generate` and `run` share
# one declaration of each option instead of two copies of a long parameter list.
_OPTIONS: dict[str, tuple[Any, Any, Any]] = {
    "run_dir": (Path | None, None, typer.Argument(help="Run directory (or --out).", show_default=False)),
    "run_out": (Path | None, None, typer.Option("--out", help="Run directory.")),
    "model": (
        str | None,
        None,
        typer.Option(
            "--model",
            help="Model spec KIND[:PATH]: sandbox (default), sandbox:DIR, "
            "sandbox-query[:DIR], janus:MODEL, diffusers:MODEL, command:SCRIPT, openai:MODEL, "
            "fake[:k=v,...] (see docs/evaluate-your-model.md).",
        ),
    ),
    "judge": (
        str | None,
        None,
        typer.Option(
            "--judge",
            help="Judge spec KIND[:PATH]: sandbox (default) or vlm[:PROMPT_FILE] "
            "(endpoint from UNISANDBOX_JUDGE_BASE_URL / _MODEL / _API_KEY or --judge-option).",
        ),
    ),
    "tasks": (
        str | None,
        None,
        typer.Option(
            "--tasks", help="Comma list: math,mapping,knowledge (default: math,mapping; with --items: all)."
        ),
    ),
    "levels": (str | None, None, typer.Option("--levels", help="Comma list of levels (default: 1,2,3).")),
    "modes": (str | None, None, typer.Option("--modes", help="Comma list: normal,think (default: both).")),
    "samples_per_item": (
        int | None,
        None,
        typer.Option("--samples-per-item", help="Images per item and mode (default 1)."),
    ),
    "limit": (
        int | None,
        None,
        typer.Option("--limit", help="First N items (mapping: pairs) per task and level."),
    ),
    "items": (
        list[Path] | None,
        None,
        typer.Option(
            "--items",
            help="Items file, ours or the study's format (repeatable). Default: the official test split.",
        ),
    ),
    "out": (Path | None, None, typer.Option("--out", help=_HELP_OUT)),
    "layout": (
        str | None,
        None,
        typer.Option(
            "--layout",
            help="Image layout: ours (default) or study (test/<mode>/<file>/<id>.png + evaluation_results.csv).",
        ),
    ),
    "seed": (
        int | None,
        None,
        typer.Option(
            "--seed", help="Base seed (default 0); sample seeds derive from (item, mode, sample index)."
        ),
    ),
    "probes": (
        bool | None,
        None,
        typer.Option("--probes/--no-probes", help="Ask the understanding probes (default: yes)."),
    ),
    "batch_size": (
        int,
        64,
        typer.Option("--batch-size", min=1, help="Samples per model/judge call (does not change results)."),
    ),
    "retry_errors": (
        bool,
        True,
        typer.Option(
            "--retry-errors/--keep-errors",
            help="Redo samples, probes and verdicts that "
            "failed in an earlier call (default), or keep them as they are.",
        ),
    ),
    "allow_incomplete": (
        bool,
        False,
        typer.Option(
            "--allow-incomplete",
            help="Show accuracies even with errors or missing samples (marked incomplete).",
        ),
    ),
    "shard": (
        str | None,
        None,
        typer.Option("--shard", help="Generate only share i of n (e.g. 0/4), for schedulers such as Slurm."),
    ),
    "model_option": (
        list[str] | None,
        None,
        typer.Option(
            "--model-option",
            help="KEY=VALUE passed to the model adapter (repeatable); "
            "recorded in the run's configuration. E.g. --model-option batch_size=4.",
        ),
    ),
    "answers": (
        str | None,
        None,
        typer.Option(
            "--answers",
            help="Study-format --items: score the file's stated answers or "
            "the audit's derived ones: stated|audited (default audited; see `unisandbox data audit`).",
        ),
    ),
    "judge_option": (
        list[str] | None,
        None,
        typer.Option(
            "--judge-option",
            help="KEY=VALUE passed to the judge (repeatable), e.g. "
            "--judge-option concurrency=32. Not stored: the judge's identity is recorded instead.",
        ),
    ),
}

_F = TypeVar("_F", bound=Callable[..., None])


def _takes(*names: str) -> Callable[[_F], _F]:
    """Give a command `def cmd(**o)` the options `names` (typer reads `__signature__`)."""

    def wrap(fn: _F) -> _F:
        params = []
        for name in names:
            kind, default, spec = _OPTIONS[name]
            params.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    default=default,
                    annotation=Annotated[kind, spec],
                )
            )
        cast(Any, fn).__signature__ = inspect.Signature(params)
        return fn

    return wrap


_CONFIG = (
    "model",
    "tasks",
    "levels",
    "modes",
    "samples_per_item",
    "limit",
    "items",
    "out",
    "layout",
    "seed",
    "probes",
)
_GENERATE = (*_CONFIG, "batch_size", "retry_errors", "shard", "model_option", "answers")
_RUN = (
    *_CONFIG[:1],
    "judge",
    *_CONFIG[1:],
    "batch_size",
    "retry_errors",
    "allow_incomplete",
    "model_option",
    "judge_option",
    "answers",
)


def _config_values(o: dict[str, Any]) -> dict[str, Any]:
    """The run configuration the user gave, from a command's options `o`."""
    return _given(
        model=o["model"],
        judge=o.get("judge"),
        tasks=_split(o["tasks"], "tasks"),
        levels=_split(o["levels"], "levels", int),
        modes=_split(o["modes"], "modes"),
        samples_per_item=o["samples_per_item"],
        limit=o["limit"],
        items_files=o["items"],
        layout=o["layout"],
        seed=o["seed"],
        probes=o["probes"],
        model_options=key_values(o.get("model_option"), "--model-option"),
        answers=o.get("answers"),
    )


def _preflight(
    out_dir: Path, given: dict[str, Any], judge_options: dict[str, Any] | None
) -> tuple[Any, Any, Any]:
    """Everything a run needs, checked before anything is written: options and items, the output
    directory, the model (checkpoint integrity, capabilities), and with `judge_options` the judge
    (configuration, and a remote judge's endpoint). Then the run directory is written and both bound."""
    from unisandbox.runs.pipeline import (
        bind_judge,
        bind_model,
        build_judge,
        build_model,
        check_out_dir,
        open_run,
    )

    opened = open_run(out_dir, given, create=True)
    check_out_dir(out_dir)
    model = build_model(opened)
    judge_obj = build_judge(opened, **judge_options) if judge_options is not None else None
    bind_model(opened, model)
    if judge_obj is not None:
        bind_judge(opened, judge_obj)
    return opened, model, judge_obj


def _generate(
    given: dict[str, Any],
    out: Path | None,
    batch_size: int,
    retry_errors: bool,
    shard_text: str | None,
    then: Callable[[Any, Any], None] | None = None,
    judge_options: dict[str, Any] | None = None,
) -> None:
    """Generation on one process, a --shard, or every torchrun rank; `then(opened, judge)` runs on
    rank 0 afterwards (with the judge built, checked and bound before the first sample)."""
    from unisandbox.runs.distributed import parse_shard
    from unisandbox.runs.pipeline import (
        build_model,
        distributed_group,
        merge_shards,
        open_run,
        stage_generate,
    )
    from unisandbox.runs.rundir import RunDir

    out_dir = _out_dir(out, given)
    group = distributed_group()
    if shard_text is not None and group.world > 1:
        raise UsageProblem("--shard and torchrun split the work two ways; use one of them")
    shard = parse_shard(shard_text) if shard_text is not None else group.shard

    try:
        opened, model, judge_obj, error = None, None, None, None
        if group.is_main:
            try:
                opened, model, judge_obj = _preflight(out_dir, given, judge_options)
            except BaseException as e:  # rank 0 tells the others to stop before re-raising
                error = e
        # Also the barrier that makes the manifest (with its model) visible before any rank writes.
        if not group.broadcast_ok(error is None):
            if error is not None:
                raise error
            return
        if opened is None:
            opened = open_run(out_dir, {k: v for k, v in given.items() if k == "judge"}, create=False)
            model = build_model(opened)
        with _RichProgress(enabled=group.is_main) as progress:
            counts = stage_generate(
                opened,
                model,
                shard=shard,
                batch_size=batch_size,
                retry_errors=retry_errors,
                progress=progress,
            )
        group.barrier()
        if group.is_main:
            merged = merge_shards(opened, force=group.world > 1)
            print(
                f"generate: {counts['generated']} images, {counts['probed']} probes this call"
                f"{' (shards merged)' if merged else ''} -> {RunDir(out_dir).root}",
                file=sys.stderr,
            )
            if then is not None:
                then(opened, judge_obj)
            else:
                _check_generated(opened, shard)
    finally:
        group.close()


def _check_generated(opened: Any, shard: Any) -> None:
    """After `generate`: print why samples or probes failed and exit 3 if any did (this shard)."""
    from unisandbox.report.tables import failure_lines
    from unisandbox.runs.pipeline import failure_reasons

    samples = opened.run.read_records("samples")
    und = opened.run.read_records("understanding")
    keys = opened.plan.sample_keys(shard)
    failed = sum(1 for k in keys if k not in samples or samples[k].image is None)
    owned = [it for pos, it in enumerate(opened.plan.items) if shard.owns(pos)]
    failed_probes = sum(
        1 for it in owned if opened.config.probes and ((it.id,) not in und or und[(it.id,)].correct is None)
    )
    if failed or failed_probes:
        for line in failure_lines(failure_reasons(opened.plan, samples, und, {})):
            print(line, file=sys.stderr)
        raise Incomplete(
            f"{failed} of {len(keys)} images and {failed_probes} probes failed; rerun the same "
            "command to retry them"
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("generate")(generate_cmd)
    app.command("judge")(judge_cmd)
    app.command("report")(report_cmd)
    app.command("merge")(merge_cmd)
    app.command("run")(run_cmd)


@_takes(*_GENERATE)
def generate_cmd(**o: Any) -> None:
    """Generate images (normal and think mode) and ask the understanding probes. Resumable;
    works under `torchrun --nproc-per-node N -m unisandbox generate ...` and with --shard i/n.
    Exit 3 if any image or probe failed (a rerun retries them)."""

    def body() -> None:
        _generate(_config_values(o), o["out"], o["batch_size"], o["retry_errors"], o["shard"])

    guard(body, f"unisandbox generate --out {o['out'] or '<the same options>'}")


@_takes("run_dir", "run_out", "judge", "batch_size", "retry_errors", "judge_option")
def judge_cmd(**o: Any) -> None:
    """Judge every generated sample that has no verdict yet (blind caption, then a match in code).
    Exit 3 if verdicts failed or the judge stopped answering (a rerun resumes)."""

    def body() -> None:
        from unisandbox.runs.pipeline import bind_judge, build_judge, open_run

        path = _run_dir(o["run_out"], o["run_dir"])
        opened = open_run(path, _given(judge=o["judge"]), create=False)
        judge_obj = build_judge(opened, **(key_values(o["judge_option"], "--judge-option") or {}))
        bind_judge(opened, judge_obj)
        n = _judge_stage(opened, judge_obj, o["batch_size"], o["retry_errors"])
        print(f"judge: {n} samples judged this call -> {path}", file=sys.stderr)
        _check_judged(opened)

    guard(body, f"unisandbox judge {o['run_out'] or o['run_dir']}")


@_takes("run_dir", "run_out", "allow_incomplete")
def report_cmd(**o: Any) -> None:
    """Aggregate verdicts into summary.json, results.csv, report.md and report.html; print the table.
    Exit 3 if the run is incomplete."""

    def body() -> None:
        from unisandbox.runs.pipeline import open_run, stage_report

        opened = open_run(_run_dir(o["run_out"], o["run_dir"]), {}, create=False)
        _print_summary(stage_report(opened, allow_incomplete=o["allow_incomplete"]), opened)

    guard(body, f"unisandbox report {o['run_out'] or o['run_dir']}")


@_takes("run_dir", "run_out")
def merge_cmd(**o: Any) -> None:
    """Fold --shard record files into the main files (only once every shard has finished)."""

    def body() -> None:
        from unisandbox.runs.pipeline import merge_shards, open_run

        opened = open_run(_run_dir(o["run_out"], o["run_dir"]), {}, create=False)
        moved = merge_shards(opened, force=True)
        print("merged" if moved else "nothing to merge", file=sys.stderr)

    guard(body, f"unisandbox merge {o['run_out'] or o['run_dir']}")


@_takes(*_RUN)
def run_cmd(**o: Any) -> None:
    """The main job: generate, judge and report. With no options: the shipped sandbox model and judge
    on the official math and mapping test split, levels 1-3, both modes, with understanding probes.
    Model, judge, items and output directory are all checked before the first image. Exit 0 when
    complete, 2 on unusable input (nothing written), 3 when incomplete (rerun to retry what failed)."""

    def finish(opened: Any, judge_obj: Any) -> None:
        from unisandbox.runs.pipeline import stage_report

        try:
            _judge_stage(opened, judge_obj, o["batch_size"], o["retry_errors"])
        except Exception as e:
            if getattr(e, "stops_run", False):  # the judge stopped: still write what the run holds
                stage_report(opened, allow_incomplete=o["allow_incomplete"])
            raise
        _print_summary(stage_report(opened, allow_incomplete=o["allow_incomplete"]), opened)

    def body() -> None:
        judge_options = key_values(o["judge_option"], "--judge-option") or {}
        _generate(
            _config_values(o), o["out"], o["batch_size"], o["retry_errors"], None, finish, judge_options
        )

    guard(body, f"unisandbox run --out {_resume_out(o)}")


def _resume_out(o: dict[str, Any]) -> Path | str:
    """The run directory a `run` resumes from (for the Ctrl-C hint); a bad option is reported later."""
    try:
        return _out_dir(o["out"], _config_values(o))
    except Exception:
        return o["out"] or "<the same options>"


def _judge_stage(opened: Any, judge_obj: Any, batch_size: int, retry_errors: bool) -> int:
    from unisandbox.runs.pipeline import stage_judge

    with _RichProgress() as progress:
        return stage_judge(
            opened, judge_obj, batch_size=batch_size, retry_errors=retry_errors, progress=progress
        )


def _check_judged(opened: Any) -> None:
    """After `judge`: exit 3 if a generated sample has no verdict or a failed one."""
    from unisandbox.report.tables import failure_lines
    from unisandbox.runs.pipeline import failure_reasons

    samples = opened.run.read_records("samples")
    verdicts = opened.run.read_records("verdicts")
    bad = [
        k
        for k in opened.plan.sample_keys()
        if k in samples
        and samples[k].image is not None
        and (k not in verdicts or verdicts[k].verdict in ("error", "missing"))
    ]
    if bad:
        for line in failure_lines(failure_reasons(opened.plan, samples, {}, verdicts)):
            print(line, file=sys.stderr)
        raise Incomplete(f"{len(bad)} generated images have no verdict; rerun the same command to retry them")
