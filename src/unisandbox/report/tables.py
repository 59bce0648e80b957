"""The results table, as rows of strings shared by the terminal, Markdown, HTML and CSV outputs."""

from __future__ import annotations

from typing import Any

COLUMNS = ("task", "level", "units", "understanding", "normal", "think", "gap und-normal",
           "think-normal", "McNemar p", "errors", "missing")


def fmt_rate(row: dict[str, Any] | None) -> str:
    """"0.72 (0.63-0.80)": accuracy with its 95% interval; "n=37" alone when withheld or empty; a
    trailing "*" when fewer units were scored than expected."""
    if row is None:
        return "-"
    partial = "*" if row["n"] != row["expected"] else ""
    if row.get("accuracy") is None:
        return f"- n={row['n']}{partial}"
    return f"{row['accuracy']:.2f} ({row['ci_low']:.2f}-{row['ci_high']:.2f}){partial}"


def fmt_diff(d: dict[str, Any] | None) -> str:
    """"+0.25 (+0.12..+0.37)" or a dash."""
    if not d:
        return "-"
    return f"{d['value']:+.2f} ({d['ci_low']:+.2f}..{d['ci_high']:+.2f})"


def fmt_p(m: dict[str, Any] | None) -> str:
    """"0.0004 (3:20)": p-value with the discordant counts, normal-only correct : think-only correct."""
    if not m:
        return "-"
    p = m["p_value"]
    return f"{p:.1e} ({m['b_normal_only']}:{m['c_think_only']})" if p < 0.001 else \
        f"{p:.3f} ({m['b_normal_only']}:{m['c_think_only']})"


def _units(rows: list[dict[str, Any]]) -> int:
    return max((r["expected"] for r in rows), default=0)


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row of display strings per task and level."""
    by_key = {(r["task"], r["level"], r["mode"]): r for r in summary["rows"]}
    und = {(r["task"], r["level"]): r for r in summary["understanding"]}
    out = []
    for comp in summary["comparisons"]:
        key = (comp["task"], comp["level"])
        rows = [r for (t, lv, _), r in by_key.items() if (t, lv) == key] + ([und[key]] if key in und else [])
        out.append([
            comp["task"], str(comp["level"]),
            f"{_units(rows)} {'pairs' if comp['task'] == 'mapping' else 'items'}",
            fmt_rate(und.get(key)), fmt_rate(by_key.get((*key, "normal"))), fmt_rate(by_key.get((*key, "think"))),
            fmt_diff(comp.get("gap_normal")), fmt_diff(comp.get("think_minus_normal")), fmt_p(comp.get("mcnemar")),
            str(sum(r["errors"] for r in rows)), str(sum(r["missing"] for r in rows)),
        ])
    return out


def status_line(summary: dict[str, Any]) -> str:
    """One sentence on completeness and whether accuracies are shown."""
    t = summary["totals"]
    counts = f"{t['expected']} expected outcomes, {t['errors']} errors, {t['missing']} missing"
    if summary["complete"]:
        return f"Complete: {counts}."
    if summary["withheld"]:
        return (f"INCOMPLETE ({counts}): accuracies withheld. Finish the run (rerun the same command), "
                "or pass --allow-incomplete to show them marked incomplete.")
    return f"INCOMPLETE ({counts}): accuracies shown on what was scored (--allow-incomplete)."


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
    console.print("Cells: accuracy (95% Wilson interval); gaps with a paired 95% interval; McNemar p "
                  "(normal-only correct : think-only correct); * = fewer units scored than planned.")
    console.print(status_line(summary))
