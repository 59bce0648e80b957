"""CLI commands of the evaluation pipeline: generate, judge, report, run (all three), merge.

Every option of a stage defaults to "as the run directory says" (or the defaults for a new run), so
`unisandbox run --out DIR` resumes a run and a stage given other options than its run is refused.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from unisandbox.cli.errors import Incomplete, UsageProblem

if TYPE_CHECKING:
    from rich.progress import TaskID

_HELP_OUT = "Run directory (default: runs/<model>-<judge>-<hash of the options>; rerun to resume)."


class _BadOption(UsageProblem):
    pass


def _split(value: str | None, what: str, cast: Callable[[str], Any] = str) -> tuple[Any, ...] | None:
    if value is None:
        return None
    try:
        parts = tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError as e:
        raise _BadOption(f"--{what}: cannot read {value!r} ({e})") from e
    if not parts:
        raise _BadOption(f"--{what}: empty list")
    return parts


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


def _guard(fn: Callable[[], None], resume: str) -> None:
    """Run a command body; Ctrl-C exits 130 saying how to resume. Every other failure goes to
    cli/errors.py (one line and exit 2 for bad input, exit 3 for an incomplete run)."""
    try:
        fn()
    except KeyboardInterrupt:
        print(f"\nInterrupted. Finished work is saved. Resume with: {resume}", file=sys.stderr)
        raise typer.Exit(130) from None


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


# Shared option declarations (typer reads the defaults as option specs).
_MODEL = typer.Option(
    None,
    "--model",
    help="Model spec KIND[:PATH]: sandbox (default), sandbox:DIR, "
    "sandbox-query[:DIR], janus:MODEL, diffusers:MODEL, command:SCRIPT, openai:MODEL, "
    "fake[:k=v,...] (see docs/evaluate-your-model.md).",
)
_JUDGE = typer.Option(
    None,
    "--judge",
    help="Judge spec KIND[:PATH]: sandbox (default) or vlm[:PROMPT_FILE] "
    "(endpoint from UNISANDBOX_JUDGE_BASE_URL / _MODEL / _API_KEY or --judge-option).",
)
_TASKS = typer.Option(
    None, "--tasks", help="Comma list: math,mapping,knowledge (default: math,mapping; with --items: all)."
)
_LEVELS = typer.Option(None, "--levels", help="Comma list of levels (default: 1,2,3).")
_MODES = typer.Option(None, "--modes", help="Comma list: normal,think (default: both).")
_SAMPLES = typer.Option(None, "--samples-per-item", help="Images per item and mode (default 1).")
_LIMIT = typer.Option(None, "--limit", help="First N items (mapping: pairs) per task and level.")
_ITEMS = typer.Option(
    None,
    "--items",
    help="Items file, ours or the study's format (repeatable). Default: the official test split.",
)
_OUT = typer.Option(None, "--out", help=_HELP_OUT)
_LAYOUT = typer.Option(
    None,
    "--layout",
    help="Image layout: ours (default) or study (test/<mode>/<file>/<id>.png + evaluation_results.csv).",
)
_SEED = typer.Option(
    None, "--seed", help="Base seed (default 0); sample seeds derive from (item, mode, sample index)."
)
_NO_PROBES = typer.Option(None, "--probes/--no-probes", help="Ask the understanding probes (default: yes).")
_BATCH = typer.Option(
    64, "--batch-size", min=1, help="Samples per model/judge call (does not change results)."
)
_RETRY = typer.Option(
    True,
    "--retry-errors/--keep-errors",
    help="Redo samples, probes and verdicts that "
    "failed in an earlier call (default), or keep them as they are.",
)
_ALLOW = typer.Option(
    False,
    "--allow-incomplete",
    help="Show accuracies even with errors or missing samples (marked incomplete).",
)
_SHARD = typer.Option(
    None, "--shard", help="Generate only share i of n (e.g. 0/4), for schedulers such as Slurm."
)
_MODEL_OPT = typer.Option(
    None,
    "--model-option",
    help="KEY=VALUE passed to the model adapter (repeatable); "
    "recorded in the run's configuration. E.g. --model-option batch_size=4.",
)
_ANSWERS = typer.Option(
    None,
    "--answers",
    help="Study-format --items: score the file's stated answers or "
    "the audit's derived ones: stated|audited (default audited; see `unisandbox data audit`).",
)
_JUDGE_OPT = typer.Option(
    None,
    "--judge-option",
    help="KEY=VALUE passed to the judge (repeatable), e.g. "
    "--judge-option concurrency=32. Not stored: the judge's identity is recorded instead.",
)


def _config_values(
    model: str | None,
    tasks: str | None,
    levels: str | None,
    modes: str | None,
    samples_per_item: int | None,
    limit: int | None,
    items: list[Path] | None,
    layout: str | None,
    seed: int | None,
    probes: bool | None,
    judge: str | None = None,
    model_option: list[str] | None = None,
    answers: str | None = None,
) -> dict[str, Any]:
    return _given(
        model=model,
        judge=judge,
        tasks=_split(tasks, "tasks"),
        levels=_split(levels, "levels", int),
        modes=_split(modes, "modes"),
        samples_per_item=samples_per_item,
        limit=limit,
        items_files=items,
        layout=layout,
        seed=seed,
        probes=probes,
        model_options=_options(model_option, "--model-option"),
        answers=answers,
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
        raise _BadOption("--shard and torchrun split the work two ways; use one of them")
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


_RUN_DIR = typer.Argument(None, help="Run directory (or --out).", show_default=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("generate")
    def generate_cmd(
        model: str = _MODEL,
        tasks: str = _TASKS,
        levels: str = _LEVELS,
        modes: str = _MODES,
        samples_per_item: int = _SAMPLES,
        limit: int = _LIMIT,
        items: list[Path] = _ITEMS,
        out: Path = _OUT,
        layout: str = _LAYOUT,
        seed: int = _SEED,
        probes: bool = _NO_PROBES,
        batch_size: int = _BATCH,
        retry_errors: bool = _RETRY,
        shard: str = _SHARD,
        model_option: list[str] = _MODEL_OPT,
        answers: str = _ANSWERS,
    ) -> None:
        """Generate images (normal and think mode) and ask the understanding probes. Resumable;
        works under `torchrun --nproc-per-node N -m unisandbox generate ...` and with --shard i/n.
        Exit 3 if any image or probe failed (a rerun retries them)."""

        def body() -> None:
            given = _config_values(
                model,
                tasks,
                levels,
                modes,
                samples_per_item,
                limit,
                items,
                layout,
                seed,
                probes,
                model_option=model_option,
                answers=answers,
            )
            _generate(given, out, batch_size, retry_errors, shard)

        _guard(body, f"unisandbox generate --out {out or '<the same options>'}")

    @app.command("judge")
    def judge_cmd(
        run_dir: Path = _RUN_DIR,
        out: Path = typer.Option(None, "--out", help="Run directory."),
        judge: str = _JUDGE,
        batch_size: int = _BATCH,
        retry_errors: bool = _RETRY,
        judge_option: list[str] = _JUDGE_OPT,
    ) -> None:
        """Judge every generated sample that has no verdict yet (blind caption, then a match in code).
        Exit 3 if verdicts failed or the judge stopped answering (a rerun resumes)."""
        where = out or run_dir

        def body() -> None:
            from unisandbox.runs.pipeline import bind_judge, build_judge, open_run

            path = _run_dir(out, run_dir)
            opened = open_run(path, _given(judge=judge), create=False)
            judge_obj = build_judge(opened, **(_options(judge_option, "--judge-option") or {}))
            bind_judge(opened, judge_obj)
            n = _judge_stage(opened, judge_obj, batch_size, retry_errors)
            print(f"judge: {n} samples judged this call -> {path}", file=sys.stderr)
            _check_judged(opened)

        _guard(body, f"unisandbox judge {where}")

    @app.command("report")
    def report_cmd(
        run_dir: Path = _RUN_DIR,
        out: Path = typer.Option(None, "--out", help="Run directory."),
        allow_incomplete: bool = _ALLOW,
    ) -> None:
        """Aggregate verdicts into summary.json, results.csv, report.md and report.html; print the table.
        Exit 3 if the run is incomplete."""

        def body() -> None:
            from unisandbox.runs.pipeline import open_run, stage_report

            opened = open_run(_run_dir(out, run_dir), {}, create=False)
            _print_summary(stage_report(opened, allow_incomplete=allow_incomplete), opened)

        _guard(body, f"unisandbox report {out or run_dir}")

    @app.command("merge")
    def merge_cmd(
        run_dir: Path = _RUN_DIR, out: Path = typer.Option(None, "--out", help="Run directory.")
    ) -> None:
        """Fold --shard record files into the main files (only once every shard has finished)."""

        def body() -> None:
            from unisandbox.runs.pipeline import merge_shards, open_run

            opened = open_run(_run_dir(out, run_dir), {}, create=False)
            moved = merge_shards(opened, force=True)
            print("merged" if moved else "nothing to merge", file=sys.stderr)

        _guard(body, f"unisandbox merge {out or run_dir}")

    @app.command("run")
    def run_cmd(
        model: str = _MODEL,
        judge: str = _JUDGE,
        tasks: str = _TASKS,
        levels: str = _LEVELS,
        modes: str = _MODES,
        samples_per_item: int = _SAMPLES,
        limit: int = _LIMIT,
        items: list[Path] = _ITEMS,
        out: Path = _OUT,
        layout: str = _LAYOUT,
        seed: int = _SEED,
        probes: bool = _NO_PROBES,
        batch_size: int = _BATCH,
        retry_errors: bool = _RETRY,
        allow_incomplete: bool = _ALLOW,
        model_option: list[str] = _MODEL_OPT,
        judge_option: list[str] = _JUDGE_OPT,
        answers: str = _ANSWERS,
    ) -> None:
        """The main job: generate, judge and report. With no options: the shipped sandbox model and judge
        on the official math and mapping test split, levels 1-3, both modes, with understanding probes.
        Model, judge, items and output directory are all checked before the first image. Exit 0 when
        complete, 2 on unusable input (nothing written), 3 when incomplete (rerun to retry what failed)."""
        given = {}

        def finish(opened: Any, judge_obj: Any) -> None:
            from unisandbox.runs.pipeline import stage_report

            try:
                _judge_stage(opened, judge_obj, batch_size, retry_errors)
            except Exception as e:
                if getattr(e, "stops_run", False):  # the judge stopped: still write what the run holds
                    stage_report(opened, allow_incomplete=allow_incomplete)
                raise
            _print_summary(stage_report(opened, allow_incomplete=allow_incomplete), opened)

        def body() -> None:
            given.update(
                _config_values(
                    model,
                    tasks,
                    levels,
                    modes,
                    samples_per_item,
                    limit,
                    items,
                    layout,
                    seed,
                    probes,
                    judge=judge,
                    model_option=model_option,
                    answers=answers,
                )
            )
            _generate(
                given,
                out,
                batch_size,
                retry_errors,
                None,
                then=finish,
                judge_options=_options(judge_option, "--judge-option") or {},
            )

        resume_out = out
        try:
            resume_out = out or _out_dir(
                None,
                _config_values(
                    model,
                    tasks,
                    levels,
                    modes,
                    samples_per_item,
                    limit,
                    items,
                    layout,
                    seed,
                    probes,
                    judge=judge,
                    model_option=model_option,
                    answers=answers,
                ),
            )
        except Exception:  # a bad option is reported when body() meets it
            pass
        _guard(body, f"unisandbox run --out {resume_out}")


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
