"""Write a run's outputs: summary.json, results.csv, report.md, report.html (+ the study's CSVs)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from unisandbox.report.html import accuracy_plot, image_grids, render_html
from unisandbox.report.tables import CELL_LEGEND, markdown_table, status_line
from unisandbox.runs.io import atomic_write_text
from unisandbox.runs.rundir import RunDir
from unisandbox.tasks.base import Item

RESULTS_COLUMNS = [
    "task",
    "level",
    "metric",
    "mode",
    "n",
    "correct",
    "value",
    "ci_low",
    "ci_high",
    "errors",
    "missing",
    "expected",
    "chance",
]


def results_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows for results.csv: accuracies, then the paired comparisons."""
    out: list[dict[str, Any]] = []
    for r in summary["understanding"]:
        out.append(
            {
                "task": r["task"],
                "level": r["level"],
                "metric": "understanding_accuracy",
                "mode": "",
                "value": r["accuracy"],
                **{
                    k: r[k]
                    for k in ("n", "correct", "ci_low", "ci_high", "errors", "missing", "expected", "chance")
                    if k in r
                },
            }
        )
    for r in summary["rows"]:
        out.append(
            {
                "task": r["task"],
                "level": r["level"],
                "metric": "accuracy",
                "mode": r["mode"],
                "value": r["accuracy"],
                **{
                    k: r[k]
                    for k in ("n", "correct", "ci_low", "ci_high", "errors", "missing", "expected", "chance")
                    if k in r
                },
            }
        )
    for c in summary["comparisons"]:
        for key, metric, mode in [
            *[(f"gap_{m}", "gap", m) for m in summary["modes"]],
            *[(f"p_gen_given_und_{m}", "p_gen_given_und", m) for m in summary["modes"]],
            ("think_minus_normal", "think_minus_normal", ""),
        ]:
            d = c.get(key)
            if d:
                out.append(
                    {
                        "task": c["task"],
                        "level": c["level"],
                        "metric": metric,
                        "mode": mode,
                        "n": d["n"],
                        "correct": d.get("correct", ""),
                        "value": d["value"],
                        "ci_low": d["ci_low"],
                        "ci_high": d["ci_high"],
                    }
                )
        m = c.get("mcnemar")
        if m:
            out.append(
                {
                    "task": c["task"],
                    "level": c["level"],
                    "metric": "mcnemar_p",
                    "mode": "normal_vs_think",
                    "n": m["b_normal_only"] + m["c_think_only"],
                    "value": m["p_value"],
                }
            )
    return out


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RESULTS_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def _markdown(summary: dict[str, Any], manifest: dict[str, Any]) -> str:
    model = manifest.get("model") or {}
    judge = manifest.get("judge") or {}
    return "\n".join(
        [
            "# UniSandbox report",
            "",
            f"- model: `{model.get('spec', '-')}` (hash {model.get('hash', '-')})",
            f"- judge: `{judge.get('spec', '-')}` (hash {judge.get('hash', '-')})",
            f"- unisandbox {manifest.get('unisandbox_version')}, git commit {manifest.get('git_commit')}, "
            f"python {manifest.get('python')}, torch {manifest.get('torch')}",
            f"- configuration: `{json.dumps(manifest.get('config'), sort_keys=True)}`",
            "",
            f"**{status_line(summary)}**",
            "",
            markdown_table(summary),
            "",
            *_selection_md(summary.get("selection")),
            CELL_LEGEND + " Gap = understanding accuracy minus "
            "normal-mode accuracy on the same units; think - normal on the same units; both with a paired "
            "95% interval (Newcombe's hybrid score, or a cluster bootstrap over items when there are several "
            "samples per item). McNemar: exact two-sided p with the counts (normal-only correct vs think-only "
            "correct). Mapping is scored per pair (both images correct). Errors and missing samples are never "
            "counted as wrong; the last two columns count them.",
            "",
            *_failures_md(summary.get("failures") or []),
            "Files: summary.json (machine-readable), results.csv, report.html (images, model text, captions, "
            "verdicts), samples.jsonl, understanding.jsonl, verdicts.jsonl.",
            "",
        ]
    )


def _selection_md(notes: dict[str, Any] | None) -> list[str]:
    from unisandbox.runs.items import selection_lines

    lines = selection_lines(notes)
    return ["## Items", "", *[f"- {line}" for line in lines], ""] if lines else []


def _failures_md(failures: Sequence[dict[str, Any]]) -> list[str]:
    if not failures:
        return []
    lines = ["## Failures by reason", "", "| stage | count | reason | first example |", "|---|---|---|---|"]
    lines += [
        f"| {f['stage']} | {f['count']} | {str(f['reason']).replace('|', '/')} | {f['example']} |"
        for f in failures
    ]
    return [*lines, ""]


def write_reports(
    run: RunDir,
    manifest: dict[str, Any],
    items: Sequence[Item],
    modes: Sequence[str],
    samples_per_item: int,
    summary: dict[str, Any],
    samples: Mapping[Any, Any],
    verdicts: Mapping[Any, Any],
    layout: str,
    understanding: Mapping[Any, Any] | None = None,
) -> list[str]:
    """Write every report file atomically; return the names written (relative to the run)."""
    atomic_write_text(run.root / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    atomic_write_text(run.root / "results.csv", _csv_text(results_rows(summary)))
    atomic_write_text(run.root / "report.md", _markdown(summary, manifest))
    grids = image_grids(run.root, items, modes, samples_per_item, samples, verdicts, understanding, summary)
    atomic_write_text(run.root / "report.html", render_html(summary, manifest, grids, accuracy_plot(summary)))
    written = ["summary.json", "results.csv", "report.md", "report.html"]
    if layout == "study":
        from unisandbox.report.study import write_study_csvs

        written += write_study_csvs(run, items, modes, samples, verdicts)
    return written
