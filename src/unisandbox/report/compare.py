"""Several runs side by side: one table, paired tests between models, a bar chart and an HTML page.

The runs must hold the same items (same ids, same content); `intersect=True` keeps only the scoring
units every run holds instead. Scoring units are those of the run report: an item, or an A/B pair for
mapping (correct only if both images are); errors and missing samples are counted, never scored.

>>> import tempfile
>>> from typer.testing import CliRunner
>>> from unisandbox.cli import app
>>> with tempfile.TemporaryDirectory() as tmp:
...     for p in ("0.2", "0.9"):  # two runs of the fake model: right with probability p in normal mode
...         _ = CliRunner().invoke(app, ["run", "--model", f"fake:p_normal={p}", "--tasks", "math", "--levels", "1",
...                                     "--modes", "normal", "--limit", "20", "--no-probes", "--out", f"{tmp}/{p}"])
...     cmp = compare(load_runs([f"{tmp}/0.2", f"{tmp}/0.9"]))
>>> [cell["accuracy"] for cell in cmp["rows"][0]["cells"]]
[0.15, 0.95]
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unisandbox.metrics.outcomes import paired_difference, rate
from unisandbox.report.html import data_uri, sample_image
from unisandbox.runs.config import ConfigError
from unisandbox.runs.io import atomic_write_bytes, atomic_write_text
from unisandbox.runs.rundir import RunDir
from unisandbox.tasks.base import Item

COMPARE_SCHEMA_VERSION = 1
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
HTML_UNITS = 24
"""Default most units shown per (task, level, mode) section of the HTML page; disagreements first."""
TASK_ORDER = ("math", "mapping", "knowledge")
UNDERSTANDING = "understanding"
"""The row "mode" of the understanding probes."""


@dataclass(frozen=True)
class RunView:
    """One run directory as read for a comparison."""

    root: Path
    """The run directory."""
    label: str
    """Column name: the model spec, with the directory name added when two runs share a spec."""
    manifest: dict[str, Any]
    """The run's manifest."""
    items: tuple[Item, ...]
    """The run's planned items."""
    modes: tuple[str, ...]
    """Generation modes of the run."""
    samples_per_item: int
    """Images per (item, mode)."""
    probes: bool
    """Whether the run asked the understanding probes."""
    samples: Mapping[tuple[Any, ...], Any]
    """SampleRecords by (item id, mode, sample index)."""
    verdicts: Mapping[tuple[Any, ...], Any]
    """VerdictRecords by (item id, mode, sample index)."""
    understanding: Mapping[tuple[Any, ...], Any]
    """UnderstandingRecords by (item id,)."""


def load_run(path: str | Path, label: str | None = None) -> RunView:
    """Read a run directory (ConfigError if it is not one)."""
    run = RunDir(path)
    manifest = run.read_manifest()
    config = manifest.get("config") or {}
    spec = (manifest.get("model") or {}).get("spec") or config.get("model") or run.root.name
    return RunView(
        root=run.root,
        label=label or str(spec),
        manifest=manifest,
        items=tuple(run.read_items()),
        modes=tuple(config.get("modes") or ("normal", "think")),
        samples_per_item=int(config.get("samples_per_item") or 1),
        probes=bool(config.get("probes", True)),
        samples=run.read_records("samples"),
        verdicts=run.read_records("verdicts"),
        understanding=run.read_records("understanding"),
    )


def load_runs(paths: Sequence[str | Path]) -> list[RunView]:
    """Read runs and give them distinct labels (spec; spec [dir] when specs repeat; else the path)."""
    if len(paths) < 2:
        raise ConfigError(f"compare needs at least two run directories, got {len(paths)}")
    if len({Path(p).resolve() for p in paths}) != len(paths):
        raise ConfigError("the same run directory is given twice")
    runs = [load_run(p) for p in paths]
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        labels = [f"{r.label} [{r.root.name}]" if labels.count(r.label) > 1 else r.label for r in runs]
    if len(set(labels)) != len(labels):
        labels = [str(r.root) for r in runs]
    return [RunView(**{**r.__dict__, "label": lab}) for r, lab in zip(runs, labels, strict=True)]


# -- which items ------------------------------------------------------------------------------------


def _canonical(it: Item) -> str:
    return json.dumps(it.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def _units(items: Sequence[Item]) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {}
    for it in items:
        out.setdefault(it.group or it.id, []).append(it)
    return out


def shared_items(runs: Sequence[RunView], intersect: bool = False) -> list[Item]:
    """The first run's items if every run holds the same set; with `intersect`, the units all hold.

    A unit (mapping pair) is kept only if every member item is in every run with the same content.
    """
    hashes = {r.manifest.get("items_sha256") for r in runs}
    if len(hashes) == 1 and None not in hashes:  # the same items.jsonl, byte for byte
        return list(runs[0].items)
    common = [{it.id: _canonical(it) for it in r.items} for r in runs]
    first = common[0]
    for r, other in zip(runs[1:], common[1:], strict=True):
        if other == first or intersect:
            continue
        same = sum(1 for k, v in other.items() if first.get(k) == v)
        raise ConfigError(
            f"{runs[0].root} and {r.root} hold different item sets ({len(first)} and {len(other)} items, "
            f"{same} identical); pass --intersect to compare on the items both hold"
        )
    keep: list[Item] = []
    for members in _units(runs[0].items).values():
        if all(all(c.get(m.id) == first[m.id] for c in common[1:]) for m in members):
            keep += members
    if not keep:
        raise ConfigError("the runs share no item (no unit with the same id and content in every run)")
    return keep


# -- outcomes ---------------------------------------------------------------------------------------


def _combine(verdicts: Sequence[str]) -> str:
    """A unit's outcome from its members' (the one rule: metrics.outcomes.unit_verdict)."""
    from unisandbox.metrics.outcomes import unit_verdict

    return unit_verdict(verdicts)


def _sample_outcome(run: RunView, key: tuple[str, str, int]) -> str:
    v = run.verdicts.get(key)
    if v is not None:
        return str(v.verdict)
    s = run.samples.get(key)
    return "missing" if s is None or s.image is None else "pending"


def _probe_outcome(run: RunView, item_id: str) -> str:
    r = run.understanding.get((item_id,))
    if r is None:
        return "missing"
    return "error" if r.correct is None else ("correct" if r.correct else "wrong")


def unit_outcomes(
    run: RunView, units: Mapping[str, Sequence[Item]], mode: str, samples_per_item: int
) -> list[str]:
    """Outcome per (sample index, unit), sample-major, of one mode (or the probes: mode "understanding")."""
    if mode == UNDERSTANDING:
        return [_combine([_probe_outcome(run, m.id) for m in ms]) for ms in units.values()]
    return [
        _combine([_sample_outcome(run, (m.id, mode, k)) for m in ms])
        for k in range(samples_per_item)
        for ms in units.values()
    ]


def _rate(outcomes: Sequence[str]) -> dict[str, Any]:
    r = rate(outcomes)
    return {k: getattr(r, k) for k in CELL_CSV}


def paired_test(
    x: Sequence[str], y: Sequence[str], clusters: Sequence[str], single: bool
) -> dict[str, Any] | None:
    """x - y on the units both scored: Newcombe's interval and the exact McNemar p (one sample per
    item), or a cluster bootstrap over items and no McNemar (several samples per item)."""
    d = paired_difference(x, y, clusters, single, BOOTSTRAP_SEED)
    return None if d is None else d.as_dict("diff", with_mcnemar=True)


def _sections(items: Sequence[Item]) -> dict[tuple[str, int], dict[str, list[Item]]]:
    out: dict[tuple[str, int], list[Item]] = {}
    for it in items:
        out.setdefault((it.task, it.level), []).append(it)
    return {
        k: _units(v) for k, v in sorted(out.items(), key=lambda kv: (TASK_ORDER.index(kv[0][0]), kv[0][1]))
    }


def _run_info(run: RunView) -> dict[str, Any]:
    m = run.manifest
    return {
        "label": run.label,
        "path": str(run.root),
        "model": (m.get("model") or {}).get("spec"),
        "model_hash": (m.get("model") or {}).get("hash"),
        "judge": (m.get("judge") or {}).get("spec"),
        "judge_hash": (m.get("judge") or {}).get("hash"),
        "items_sha256": m.get("items_sha256"),
        "git_commit": m.get("git_commit"),
    }


def compare(
    runs: Sequence[RunView], *, intersect: bool = False, allow_incomplete: bool = False
) -> dict[str, Any]:
    """The comparison as a JSON-ready dict: runs, rows (a cell per run) and paired tests per row.

    Refuses (ConfigError) different item sets without `intersect`, runs with no mode in common, and
    runs with errors or missing samples on the compared items unless `allow_incomplete`.
    """
    items = shared_items(runs, intersect)
    modes = [m for m in runs[0].modes if all(m in r.modes for r in runs)]
    if not modes:
        raise ConfigError(
            "the runs share no generation mode: " + "; ".join(f"{r.root}: {','.join(r.modes)}" for r in runs)
        )
    spi = min(r.samples_per_item for r in runs)
    row_modes = ([UNDERSTANDING] if all(r.probes for r in runs) else []) + modes
    rows, pairs = [], []
    for (task, level), units in _sections(items).items():
        clusters = [u for _ in range(spi) for u in units]
        for mode in row_modes:
            outs = [unit_outcomes(r, units, mode, spi) for r in runs]
            rows.append(
                {
                    "task": task,
                    "level": level,
                    "mode": mode,
                    "units": len(units),
                    "cells": [_rate(o) for o in outs],
                }
            )
            single = spi == 1 or mode == UNDERSTANDING
            for i in range(len(runs)):
                for j in range(i + 1, len(runs)):
                    test = paired_test(outs[i], outs[j], clusters[: len(outs[i])], single)
                    pairs.append(
                        {
                            "task": task,
                            "level": level,
                            "mode": mode,
                            "first": runs[i].label,
                            "second": runs[j].label,
                            **(test or {"n": 0}),
                        }
                    )
    incomplete = _incomplete(runs, rows)
    if incomplete and not allow_incomplete:
        raise ConfigError(
            "; ".join(incomplete) + ". Finish each run (rerun its command: unisandbox run "
            "--out DIR) or pass --allow-incomplete to compare on what was scored"
        )
    judges = {(r.manifest.get("judge") or {}).get("hash") for r in runs}
    notes = []
    if len(judges) > 1:
        notes.append(
            "the runs were judged by different judges (or judge settings): differences mix model and judge"
        )
    if spi != max(r.samples_per_item for r in runs):
        notes.append(f"samples per item differ between runs; the first {spi} of each are compared")
    if intersect and len(items) != max(len(r.items) for r in runs):
        notes.append(f"--intersect: {len(items)} shared items compared")
    return {
        "schema_version": COMPARE_SCHEMA_VERSION,
        "confidence": CONFIDENCE,
        "runs": [_run_info(r) for r in runs],
        "n_items": len(items),
        "intersect": intersect,
        "modes": modes,
        "samples_per_item": spi,
        "complete": not incomplete,
        "incomplete": incomplete,
        "notes": notes,
        "rows": rows,
        "pairs": pairs,
    }


def _incomplete(runs: Sequence[RunView], rows: Sequence[dict[str, Any]]) -> list[str]:
    out = []
    for j, r in enumerate(runs):
        errors = sum(row["cells"][j]["errors"] for row in rows)
        missing = sum(row["cells"][j]["missing"] for row in rows)
        if errors or missing:
            expected = sum(row["cells"][j]["expected"] for row in rows)
            out.append(
                f"{r.root}: {errors} errors and {missing} missing of {expected} outcomes on the compared items"
            )
    return out


# -- rendering --------------------------------------------------------------------------------------


def fmt_cell(cell: dict[str, Any]) -> str:
    """ "0.72 (0.63-0.80)"; "- n=0" when nothing was scored; "*" when fewer units were scored than planned."""
    partial = "*" if cell["n"] != cell["expected"] else ""
    if cell["accuracy"] is None:
        return f"- n={cell['n']}{partial}"
    return f"{cell['accuracy']:.2f} ({cell['ci_low']:.2f}-{cell['ci_high']:.2f}){partial}"


def fmt_pair(p: dict[str, Any]) -> str:
    """ "+0.12 (+0.03..+0.21), p=0.012 (14:2)": difference first - second, McNemar p (first-only:second-only)."""
    if not p.get("n"):
        return "- (no unit scored by both)"
    text = f"{p['diff']:+.2f} ({p['ci_low']:+.2f}..{p['ci_high']:+.2f})"
    if p["mcnemar_p"] is not None:
        q = p["mcnemar_p"]
        text += f", p={q:.1e}" if q < 0.001 else f", p={q:.3f}"
        text += f" ({p['only_first']}:{p['only_second']})"
    return text + f" n={p['n']}"


def table_rows(cmp: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and display rows of the main table: task, level, mode, units, one column per run."""
    head = ["task", "level", "mode", "units", *[r["label"] for r in cmp["runs"]]]
    body = [
        [
            r["task"],
            str(r["level"]),
            r["mode"],
            f"{r['units']} {'pairs' if r['task'] == 'mapping' else 'items'}",
            *[fmt_cell(c) for c in r["cells"]],
        ]
        for r in cmp["rows"]
    ]
    return head, body


def pair_rows(cmp: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and display rows of the paired tests."""
    head = [
        "task",
        "level",
        "mode",
        "first",
        "second",
        "first - second (95% CI), McNemar p (first-only:second-only)",
    ]
    body = [
        [p["task"], str(p["level"]), p["mode"], p["first"], p["second"], fmt_pair(p)] for p in cmp["pairs"]
    ]
    return head, body


def _md_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body])


def markdown(cmp: dict[str, Any]) -> str:
    """compare.md: runs, the table, the paired tests, notes."""
    runs = "\n".join(
        f"- `{r['label']}`: {r['path']} (model {r['model']}, judge {r['judge']} {r['judge_hash']})"
        for r in cmp["runs"]
    )
    notes = "".join(f"\n- note: {n}" for n in cmp["notes"] + cmp["incomplete"])
    return "\n".join(
        [
            "# UniSandbox comparison",
            "",
            runs + notes,
            "",
            f"{cmp['n_items']} items, modes {', '.join(cmp['modes'])}, {cmp['samples_per_item']} sample(s) per item.",
            "",
            _md_table(*table_rows(cmp)),
            "",
            "Cells: accuracy (95% Wilson interval); * = fewer units scored than planned. Mapping is scored per pair.",
            "",
            "## Paired tests on the shared units",
            "",
            _md_table(*pair_rows(cmp)),
            "",
            "Differences: Newcombe's hybrid score interval and the exact two-sided McNemar test on units both runs "
            "scored (one sample per item), or a cluster bootstrap over items without McNemar (several samples).",
            "",
        ]
    )


PAIR_CSV = [
    "task",
    "level",
    "mode",
    "first",
    "second",
    "n",
    "diff",
    "ci_low",
    "ci_high",
    "both",
    "only_first",
    "only_second",
    "neither",
    "method",
    "mcnemar_p",
]


CELL_CSV = ("n", "correct", "accuracy", "ci_low", "ci_high", "errors", "missing", "expected")


def csv_text(cmp: dict[str, Any]) -> str:
    """compare.csv: one line per (row, run) with the accuracy, then one line per paired test."""
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["kind", "task", "level", "mode", "run", *CELL_CSV])
    for row in cmp["rows"]:
        for run, c in zip(cmp["runs"], row["cells"], strict=True):
            cells = ["" if c[k] is None else c[k] for k in CELL_CSV]
            w.writerow(["accuracy", row["task"], row["level"], row["mode"], run["label"], *cells])
    w.writerow([])
    w.writerow(["kind", *PAIR_CSV])
    for p in cmp["pairs"]:
        w.writerow(["paired", *["" if p.get(k) is None else p.get(k) for k in PAIR_CSV]])
    return buf.getvalue()


def bar_chart(cmp: dict[str, Any]) -> bytes | None:
    """PNG grouped bar chart: a group per (task, level, mode), a bar per run, 95% Wilson intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cmp["rows"]
    if not any(c["accuracy"] is not None for r in rows for c in r["cells"]):
        return None
    n_runs = len(cmp["runs"])
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(rows) * n_runs + 1.5), 3.4), dpi=100)
    width = 0.8 / n_runs
    for j, run in enumerate(cmp["runs"]):
        xs, ys, lo, hi = [], [], [], []
        for i, r in enumerate(rows):
            c = r["cells"][j]
            if c["accuracy"] is not None:
                xs.append(i + (j - (n_runs - 1) / 2) * width)
                ys.append(c["accuracy"])
                lo.append(c["accuracy"] - c["ci_low"])
                hi.append(c["ci_high"] - c["accuracy"])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=run["label"])
    short = {"understanding": "und", "normal": "norm", "think": "think"}
    ax.set_xticks(
        range(len(rows)),
        [f"{r['task']} L{r['level']}\n{short.get(r['mode'], r['mode'])}" for r in rows],
        fontsize=7,
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% CI)")
    ax.legend(fontsize=7, ncols=min(n_runs, 4), loc="upper center", bbox_to_anchor=(0.5, 1.3), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f0f0f0}.side td{width:150px;font-size:11px}
.side img{width:96px;height:96px;image-rendering:pixelated;display:block;margin:auto}
.correct{background:#e8f6e8}.wrong{background:#fbe9e9}.error,.missing,.pending{background:#fff5d6}
.text{white-space:pre-wrap;max-height:5em;overflow:auto;color:#555}.warn{color:#a40;font-weight:bold}
"""


def _side_cell(run: RunView, item: Item, mode: str) -> str:
    key = (item.id, mode, 0)
    s, v = run.samples.get(key), run.verdicts.get(key)
    outcome = _sample_outcome(run, key)
    img = sample_image(run.root, s)
    caption = html.escape((v.caption if v else None) or "-")
    err = (v.error if v else None) or (s.error if s else None)
    text = html.escape((s.text if s else "") or "")
    return (
        f'<td class="{outcome}">{img}<b>{outcome}</b><br>caption: {caption}'
        + (f"<br>error: {html.escape(err)}" if err else "")
        + (f'<div class="text">{text}</div>' if text else "")
        + "</td>"
    )


def side_by_side(
    runs: Sequence[RunView], items: Sequence[Item], modes: Sequence[str], per_section: int
) -> str:
    """A table per (task, level, mode): a row per item, a column per run (sample 0), disagreements first."""
    out = []
    head = "<tr><th>item</th>" + "".join(f"<th>{html.escape(r.label)}</th>" for r in runs) + "</tr>"
    for (task, level), units in _sections(items).items():
        for mode in modes:
            outs = [unit_outcomes(r, units, mode, 1) for r in runs]
            order = sorted(
                range(len(units)), key=lambda u: len({o[u] for o in outs}) == 1
            )  # stable: disagree first
            shown = order[:per_section]
            n_dis = sum(1 for u in range(len(units)) if len({o[u] for o in outs}) > 1)
            members = list(units.values())
            body = "".join(
                f"<tr><td><b>{html.escape(it.id)}</b><div class='text'>{html.escape(it.prompt)}</div>"
                f"expected: {html.escape(_expected(it))}</td>"
                + "".join(_side_cell(r, it, mode) for r in runs)
                + "</tr>"
                for u in shown
                for it in members[u]
            )
            more = len(units) - len(shown)
            out.append(
                f"<details><summary>{html.escape(task)} level {level}, {mode} mode: {len(units)} units, "
                f"{n_dis} where the runs disagree</summary><table class='side'>{head}{body}</table>"
                + (f"<p>{more} more units not shown (--html-units).</p>" if more > 0 else "")
                + "</details>"
            )
    return "\n".join(out)


def _expected(it: Item) -> str:
    return ", ".join(f"{k}={v}" for k, v in it.expected.model_dump().items() if k != "kind")


def render_html(
    cmp: dict[str, Any],
    runs: Sequence[RunView],
    items: Sequence[Item],
    chart: bytes | None,
    per_section: int = HTML_UNITS,
) -> str:
    """The self-contained comparison page (images inlined as data URIs)."""

    def table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
        return (
            "<table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
            + "</table>"
        )

    runs_html = "".join(
        f"<li><code>{html.escape(r['label'])}</code>: {html.escape(r['path'])}, judge "
        f"<code>{html.escape(str(r['judge']))}</code></li>"
        for r in cmp["runs"]
    )
    notes = "".join(f"<p class='warn'>{html.escape(n)}</p>" for n in cmp["notes"] + cmp["incomplete"])
    chart_html = f'<img alt="accuracy per run" src="{data_uri(chart)}">' if chart else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>UniSandbox comparison</title><style>{_CSS}</style></head>
<body><h1>UniSandbox comparison</h1><ul>{runs_html}</ul>{notes}
<p>{cmp["n_items"]} items, {cmp["samples_per_item"]} sample(s) per item. Cells: accuracy (95% Wilson interval);
* = fewer units scored than planned. Mapping is scored per pair.</p>
{table(*table_rows(cmp))}
{chart_html}
<h2>Paired tests on the shared units</h2>
<p>first - second with Newcombe's 95% interval and the exact McNemar p (first-only : second-only correct),
or a cluster bootstrap over items when there are several samples per item.</p>
{table(*pair_rows(cmp))}
<h2>The same items side by side (sample 0)</h2>
{side_by_side(runs, items, cmp["modes"], per_section)}
</body></html>
"""


def write_comparison(
    out: str | Path, runs: Sequence[RunView], cmp: dict[str, Any], per_section: int = HTML_UNITS
) -> list[str]:
    """Write compare.json, compare.csv, compare.md, compare.png (if any accuracy) and compare.html to `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = shared_items(runs, cmp["intersect"])
    chart = bar_chart(cmp)
    atomic_write_text(out / "compare.json", json.dumps(cmp, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "compare.csv", csv_text(cmp))
    atomic_write_text(out / "compare.md", markdown(cmp))
    written = ["compare.json", "compare.csv", "compare.md"]
    if chart is not None:
        atomic_write_bytes(out / "compare.png", chart)
        written.append("compare.png")
    atomic_write_text(out / "compare.html", render_html(cmp, runs, items, chart, per_section))
    return written + ["compare.html"]
