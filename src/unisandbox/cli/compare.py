"""CLI command `unisandbox compare RUN_DIR RUN_DIR ...`: several models on the same items, side by side."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from unisandbox.cli.errors import guard


def default_out(runs: list[Path]) -> Path:
    """runs/compare-<hash of the run paths>: the same runs in the same order overwrite the same folder."""
    digest = hashlib.sha256("\n".join(str(p.resolve()) for p in runs).encode()).hexdigest()[:8]
    return Path("runs") / f"compare-{digest}"


def _print(cmp: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from unisandbox.report.compare import pair_rows, table_rows

    console = Console(width=max(Console().width, 160))
    for title, (head, body) in (("UniSandbox comparison", table_rows(cmp)), ("Paired tests", pair_rows(cmp))):
        if title == "Paired tests" and len(cmp["runs"]) > 3:
            console.print(f"{len(body)} paired tests: see {out}/compare.md")
            continue
        table = Table(title=title)
        for col in head:
            table.add_column(col, no_wrap=True)
        for row in body:
            table.add_row(*row)
        console.print(table)
    for note in cmp["notes"] + cmp["incomplete"]:
        console.print(f"note: {note}")
    console.print(
        "Cells: accuracy (95% Wilson interval). Pairs: first - second (Newcombe 95% CI), exact McNemar p "
        "(first-only:second-only correct)."
    )


def register(app: typer.Typer) -> None:
    """Add `compare` to the root app."""

    @app.command("compare")
    def compare_cmd(
        runs: Annotated[list[Path], typer.Argument(help="Two or more run directories.")],
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Output folder (default runs/compare-<hash of the runs>)."),
        ] = None,
        intersect: Annotated[
            bool,
            typer.Option(
                "--intersect",
                help="Compare on the items all runs hold (default: refuse runs on different item sets).",
            ),
        ] = False,
        allow_incomplete: Annotated[
            bool,
            typer.Option(
                "--allow-incomplete",
                help="Compare runs with errors or missing samples on what was scored.",
            ),
        ] = False,
        html_units: Annotated[
            int,
            typer.Option(
                "--html-units",
                min=1,
                help="Most units per task/level/mode on the HTML page (disagreements first).",
            ),
        ] = 24,
    ) -> None:
        """Several runs side by side: a table (a column per model), paired tests on the shared items
        (Newcombe, McNemar), a grouped bar chart and an HTML page with the same items side by side."""

        def body() -> None:
            from unisandbox.report.compare import compare, load_runs, write_comparison

            views = load_runs(runs)
            cmp = compare(views, intersect=intersect, allow_incomplete=allow_incomplete)
            target = out or default_out(runs)
            written = write_comparison(target, views, cmp, per_section=html_units)
            _print(cmp, target)
            print(f"Wrote {', '.join(written)} -> {target}", file=sys.stderr)

        guard(body)
