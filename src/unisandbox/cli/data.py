"""CLI commands: `unisandbox data generate | stats | audit | export | import`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from unisandbox.cli.errors import exit_error

if TYPE_CHECKING:
    from unisandbox.tasks.base import Item

data_app = typer.Typer(help="Generate, inspect, audit, import and export task data.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(data_app, name="data")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@data_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option(help="Output directory (created if missing).")],
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 7,
    tasks: Annotated[
        str, typer.Option(help="Comma-separated: math,mapping,knowledge.")
    ] = "math,mapping,knowledge",
    split: Annotated[str, typer.Option(help="train or test.")] = "test",
    size: Annotated[int, typer.Option(help="Items per math level and A/B pairs per mapping level.")] = 100,
    levels: Annotated[str, typer.Option(help="Comma-separated levels for math and mapping.")] = "1,2,3",
    characters: Annotated[int, typer.Option(help="Knowledge: members of the club.")] = 10,
    holdout_objects: Annotated[str, typer.Option(help="Objects never used in train items.")] = "",
    holdout_phrasings: Annotated[
        str, typer.Option(help="Phrasing ids (m0-m9, r0-r7, q0-q5) never in train.")
    ] = "",
    test_fraction: Annotated[float, typer.Option(help="Share of content keys in the test pool.")] = 0.3,
    max_operand: Annotated[int, typer.Option(help="Math: largest literal operand.")] = 20,
    split_key: Annotated[
        str, typer.Option(help="Math pools by expression_object or expression.")
    ] = "expression_object",
    study: Annotated[
        bool, typer.Option(help="Also write the test files in the study's formats under study/.")
    ] = False,
) -> None:
    """Generate the task suite into OUT; the same arguments always give the same bytes."""
    from unisandbox.tasks.common import ExhaustedError
    from unisandbox.tasks.mapping import MappingConfig
    from unisandbox.tasks.math import PHRASINGS, MathConfig
    from unisandbox.tasks.suite import generate_suite, write_suite

    phr = _csv(holdout_phrasings)
    try:
        lv = [int(x) for x in _csv(levels)]
        match split_key:
            case "expression_object" | "expression":
                pass
            case _:
                raise ValueError(f"--split-key must be expression_object or expression, got {split_key!r}")
        objs = tuple(_csv(holdout_objects))
        mcfg = MathConfig(
            max_operand=max_operand,
            test_fraction=test_fraction,
            split_key=split_key,
            holdout_objects=objs,
            holdout_phrasings=tuple(p for p in phr if p in PHRASINGS),
        )
        pcfg = MappingConfig(
            test_fraction=test_fraction,
            holdout_objects=objs,
            holdout_phrasings=tuple(p for p in phr if p not in PHRASINGS),
        )
        files = generate_suite(seed, _csv(tasks), split, size, lv, characters, mcfg, pcfg, study)
    except (ValueError, ExhaustedError) as e:
        exit_error(str(e))
    write_suite(out, files)
    for name, text in files.items():
        typer.echo(f"{out / name}: {text.count(chr(10))} lines")


def _load_any(path: Path, level: int | None = None) -> list[Item]:
    """Items from our format, or imported from a study format."""
    from unisandbox.tasks.base import read_items
    from unisandbox.tasks.study_format import OURS, file_format, read_study_file

    return read_items(path) if file_format(path) == OURS else read_study_file(path, level)


@data_app.command("stats")
def stats(
    files: Annotated[list[Path], typer.Argument(help="Item files (ours or the study's formats).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Answer histogram, operators, objects, phrasings and levels of item files."""
    from unisandbox.tasks.base import InputError
    from unisandbox.tasks.stats import item_stats, render_stats

    try:
        per_file = {str(f): item_stats(_load_any(f)) for f in files}
    except InputError as e:
        exit_error(str(e))
    if as_json:
        typer.echo(json.dumps(per_file, indent=2, sort_keys=True))
    else:
        for name, st in per_file.items():
            typer.echo(render_stats(name, st))


@data_app.command("audit")
def audit(
    files: Annotated[list[Path], typer.Argument(help="Item files (ours or the study's three test formats).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON summary.")] = False,
    max_count: Annotated[int, typer.Option(help="Largest count a math answer may have.")] = 9,
    report: Annotated[
        Path | None, typer.Option(help="Also write a Markdown report (table per file, every derivation).")
    ] = None,
    findings_out: Annotated[
        Path | None, typer.Option("--findings", help="Also write every finding, one JSON object a line.")
    ] = None,
) -> None:
    """Re-derive every answer from the prompt text alone, item by item (a malformed row is one problem).

    Exit 0 if every item is ok, 1 if any problem is found, 2 if a file is unusable as a whole.
    """
    from unisandbox.runs.io import atomic_write_text
    from unisandbox.tasks.audit import audit_file, findings_jsonl, render_report, summarize
    from unisandbox.tasks.base import InputError

    try:
        findings = [f for path in files for f in audit_file(path, max_count)]
    except InputError as e:
        exit_error(str(e))
    summary = summarize(findings)
    if report is not None:
        command = "unisandbox data audit " + " ".join(str(f) for f in files) + f" --report {report}"
        atomic_write_text(report, render_report(findings, command))
    if findings_out is not None:
        atomic_write_text(findings_out, findings_jsonl(findings))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        for f in findings:
            if f.kind != "ok":
                where = f"{f.file}:{f.line}" if f.line else f"{f.file}"
                extra = f"  [{f.derivation}]" if f.derivation else ""
                typer.echo(f"{where}: {f.kind}\t{f.id}\t{f.detail}{extra}")
        counts = summary["by_kind"]
        by_kind = ", ".join(f"{k} {v}" for k, v in counts.items() if v) if isinstance(counts, dict) else ""
        typer.echo(f"{summary['items']} items, {summary['problems']} problems ({by_kind})")
    raise typer.Exit(1 if summary["problems"] else 0)


@data_app.command("export")
def export(
    files: Annotated[list[Path], typer.Argument(help="Our item files, one task per file.")],
    out: Annotated[Path, typer.Option(help="Directory for the study-format files (same file names).")],
) -> None:
    """Write our items in the study's JSONL formats."""
    from unisandbox.runs.io import atomic_write_text
    from unisandbox.tasks.base import InputError, read_items
    from unisandbox.tasks.study_format import study_jsonl

    try:
        texts = {out / f.name: study_jsonl(read_items(f)) for f in files}
    except (InputError, ValueError) as e:
        exit_error(str(e))
    for path, text in texts.items():
        atomic_write_text(path, text)
        typer.echo(f"{path}: {text.count(chr(10))} lines")


@data_app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="Study-format test files (or our own, validated).")],
    out: Annotated[Path, typer.Option(help="Directory for our item files (same file names).")],
    level: Annotated[
        int | None,
        typer.Option(
            help="Level for ids that do not carry one (default: the file name's final "
            "digit, as in mapping3.jsonl, else 1)."
        ),
    ] = None,
) -> None:
    """Read the study's JSONL test files into our item format, keeping every readable item.

    Each item keeps the file's stated answer and, beside it, the audit's derived answer and verdict
    (`meta.answers`, `meta.audit`). A malformed row is reported and skipped, the rest is imported.
    Exit 0 when every row was imported, 1 when some rows were skipped, 2 when a file is unusable (nothing
    is written then).
    """
    from unisandbox.tasks.base import InputError, read_items, write_items
    from unisandbox.tasks.study_format import OURS, sniff_format
    from unisandbox.tasks.study_import import import_study_file

    loaded = {}
    skipped = []
    try:
        for f in files:
            if sniff_format(f) == OURS:
                loaded[out / f.name] = (read_items(f), 0)
                continue
            digit = f.stem[-1:] if f.stem[-1:] in ("1", "2", "3") else None
            result = import_study_file(f, level or (int(digit) if digit else 1))
            if not result.items:
                raise InputError(f"{f}: no row could be imported ({len(result.skipped)} malformed)")
            skipped += result.skipped
            flagged = sum(1 for x in result.findings if x.kind != "ok")
            loaded[out / f.name] = (result.items, flagged)
    except InputError as e:
        exit_error(str(e))
    for path, (items, flagged) in loaded.items():
        write_items(path, items)
        typer.echo(f"{path}: {len(items)} items ({flagged} flagged by the audit; see meta.audit)")
    for row in skipped:
        typer.echo(f"{row.file}:{row.line}: skipped row {row.id}: {row.detail}", err=True)
    raise typer.Exit(1 if skipped else 0)
