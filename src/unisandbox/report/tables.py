"""The results table, as rows of strings shared by the terminal, Markdown, HTML and CSV outputs."""

from __future__ import annotations

from typing import Any

CELL_LEGEND = (
    "Cells: accuracy (95% Wilson interval), e.g. 0.72 (0.63-0.80); * = fewer units scored than "
    "planned (n scored in results.csv); gaps: difference (paired 95% interval); McNemar: p "
    "(normal-only correct : think-only correct); chance: a uniform guesser's accuracy."
)

COLUMNS = (
    "task",
    "level",
    "units",
    "chance",
    "understanding",
    "normal",
    "think",
    "gap und-normal",
    "think-normal",
    "McNemar p",
    "errors",
    "missing",
)


def task_label(item: Any) -> str:
    """An item's task as the tables show it: knowledge splits into its forward and inverse tests (the
    contrast the study is about), every other task is its own name."""
    if item.task == "knowledge":
        return "knowledge-inverse" if str(item.subtask).startswith("inverse") else "knowledge-forward"
    return str(item.task)


def fmt_rate(row: dict[str, Any] | None) -> str:
    """ "0.72 (0.63-0.80)": accuracy with its 95% interval; "n=37" alone when withheld or empty; a
    trailing "*" when fewer units were scored than expected."""
    if row is None:
        return "-"
    partial = "*" if row["n"] != row["expected"] else ""
    if row.get("accuracy") is None:
        return f"- n={row['n']}{partial}"
    return f"{row['accuracy']:.2f} ({row['ci_low']:.2f}-{row['ci_high']:.2f}){partial}"


def fmt_diff(d: dict[str, Any] | None) -> str:
    """ "+0.25 (+0.12..+0.37)" or a dash."""
    if not d:
        return "-"
    return f"{d['value']:+.2f} ({d['ci_low']:+.2f}..{d['ci_high']:+.2f})"


def fmt_p(m: dict[str, Any] | None) -> str:
    """ "0.0004 (3:20)": p-value with the discordant counts, normal-only correct : think-only correct."""
    if not m:
        return "-"
    p = m["p_value"]
    return (
        f"{p:.1e} ({m['b_normal_only']}:{m['c_think_only']})"
        if p < 0.001
        else f"{p:.3f} ({m['b_normal_only']}:{m['c_think_only']})"
    )


def _units(rows: list[dict[str, Any]]) -> int:
    return max((r["expected"] for r in rows), default=0)


def _chance(rows: list[dict[str, Any]]) -> str:
    """A uniform guesser's accuracy on the row's units (`metrics.outcomes`), or a dash when unknown."""
    chance = next((r["chance"] for r in rows if r.get("chance") is not None), None)
    return "-" if chance is None else f"{chance:.2f}"


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row of display strings per task and level."""
    by_key = {(r["task"], r["level"], r["mode"]): r for r in summary["rows"]}
    und = {(r["task"], r["level"]): r for r in summary["understanding"]}
    out = []
    for comp in summary["comparisons"]:
        key = (comp["task"], comp["level"])
        rows = [r for (t, lv, _), r in by_key.items() if (t, lv) == key] + ([und[key]] if key in und else [])
        out.append(
            [
                comp["task"],
                str(comp["level"]),
                f"{_units(rows)} {'pairs' if comp['task'] == 'mapping' else 'items'}",
                _chance(rows),
                fmt_rate(und.get(key)),
                fmt_rate(by_key.get((*key, "normal"))),
                fmt_rate(by_key.get((*key, "think"))),
                fmt_diff(comp.get("gap_normal")),
                fmt_diff(comp.get("think_minus_normal")),
                # No unit scored in both modes: no test was made, so no p-value (not 1.000 from 0:0).
                fmt_p(comp.get("mcnemar") if comp.get("think_minus_normal") else None),
                str(sum(r["errors"] for r in rows)),
                str(sum(r["missing"] for r in rows)),
            ]
        )
    return out


def counts_line(summary: dict[str, Any]) -> str:
    """What was planned, in the units the user thinks in: images, probes, then scoring units."""
    t = summary["totals"]
    c = summary.get("counts")
    planned = ""
    if c:
        planned = (
            f"{c['images']:,} images ({c['images_with_verdict']:,} with a verdict), {c['probes']:,} probes "
            f"({c['probes_answered']:,} answered); "
        )
    return (
        f"{planned}{t['expected']:,} scored outcomes (items or mapping pairs, per mode and for the probes): "
        f"{t['errors']:,} errors, {t['missing']:,} missing"
    )


def status_line(summary: dict[str, Any]) -> str:
    """One sentence on completeness, whether accuracies are shown, and what a rerun will do."""
    counts = counts_line(summary)
    if summary["complete"]:
        return f"Complete: {counts}."
    rerun = (
        "Rerunning the same command retries the failed images, probes and verdicts and does what "
        "is missing; nothing finished is redone."
    )
    if summary["withheld"]:
        return (
            f"INCOMPLETE ({counts}): accuracies withheld. {rerun} Or pass --allow-incomplete to show "
            "accuracies on what was scored, marked incomplete."
        )
    return f"INCOMPLETE ({counts}): accuracies shown on what was scored (--allow-incomplete). {rerun}"


def failure_lines(failures: list[dict[str, Any]], limit: int = 8) -> list[str]:
    """One line per failure reason: stage, count, reason, first example."""
    lines = [
        f"  {f['stage']}: {f['count']} x {f['reason']} (first: {f['example']})" for f in failures[:limit]
    ]
    if len(failures) > limit:
        lines.append(f"  ... {len(failures) - limit} more reasons (see report.md)")
    return (["Failures by reason:"] + lines) if lines else []


def markdown_table(summary: dict[str, Any]) -> str:
    """The table in GitHub Markdown."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(summary)]
    return "\n".join(lines)


def print_table(summary: dict[str, Any], title: str) -> None:
    """Print the table to stdout with rich."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("task", "units") else "right", no_wrap=True)
    for r in table_rows(summary):
        table.add_row(*r)
    console = Console(width=max(Console().width, 190))
    console.print(table)
    console.print(CELL_LEGEND)
    console.print(status_line(summary))
    for line in failure_lines(summary.get("failures") or []):
        console.print(line, markup=False, highlight=False)
