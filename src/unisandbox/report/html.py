"""A self-contained HTML report: tables, plots and image grids inlined as data URIs (no URLs)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unisandbox.report.tables import COLUMNS, status_line, table_rows
from unisandbox.tasks.base import Item

GRID_CAP = 120
"""Most images shown per (task, level, mode) section; the rest are counted."""

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f0f0f0}.grid{display:flex;flex-wrap:wrap;gap:6px}
.cell{width:150px;border:1px solid #ddd;padding:4px;font-size:11px}
.cell img{width:96px;height:96px;image-rendering:pixelated;display:block;margin:auto}
.correct{background:#e8f6e8}.wrong{background:#fbe9e9}.error,.missing,.pending{background:#fff5d6}
.text{white-space:pre-wrap;max-height:5em;overflow:auto;color:#555}
.warn{color:#a40;font-weight:bold}
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def accuracy_plot(summary: dict[str, Any]) -> bytes | None:
    """PNG bar chart of understanding / normal / think accuracy per task and level, with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(c["task"], c["level"]) for c in summary["comparisons"]]
    series = {"understanding": {(r["task"], r["level"]): r for r in summary["understanding"]}}
    for mode in summary["modes"]:
        series[mode] = {(r["task"], r["level"]): r for r in summary["rows"] if r["mode"] == mode}
    if not groups or all(r.get("accuracy") is None for s in series.values() for r in s.values()):
        return None
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(groups)), 3.0), dpi=100)
    width = 0.8 / len(series)
    for j, (name, rows) in enumerate(series.items()):
        xs, ys, lo, hi = [], [], [], []
        for i, g in enumerate(groups):
            r = rows.get(g)
            if r and r.get("accuracy") is not None:
                xs.append(i + (j - (len(series) - 1) / 2) * width)
                ys.append(r["accuracy"])
                lo.append(r["accuracy"] - r["ci_low"])
                hi.append(r["ci_high"] - r["accuracy"])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=name)
    ax.set_xticks(range(len(groups)), [f"{t} L{lv}" for t, lv in groups])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95% CI)")
    ax.legend(fontsize=8, ncols=3, loc="upper center", bbox_to_anchor=(0.5, 1.25), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _cell(root: Path, sample: Any, verdict: Any, item: Item) -> str:
    outcome = verdict.verdict if verdict else ("missing" if sample is None or sample.image is None else "pending")
    img = ""
    if sample is not None and sample.image:
        try:
            img = f'<img alt="{html.escape(sample.image)}" src="{_data_uri((root / sample.image).read_bytes(), "image/png")}">'
        except OSError:
            img = "<em>image file unreadable</em>"
    text = html.escape((sample.text if sample else "") or "")
    caption = html.escape((verdict.caption if verdict else None) or "-")
    err = (verdict.error if verdict else None) or (sample.error if sample else None)
    return (f'<div class="cell {outcome}">{img}<b>{html.escape(item.id)}</b> #{sample.sample_index if sample else 0}'
            f'<br>verdict: <b>{outcome}</b><br>caption: {caption}'
            + (f'<br>error: {html.escape(err)}' if err else "")
            + (f'<div class="text">{text}</div>' if text else "") + "</div>")


def image_grids(root: Path, items: Sequence[Item], modes: Sequence[str], samples_per_item: int,
                samples: Mapping, verdicts: Mapping) -> str:
    """One collapsible grid per (task, level, mode): image, model text, caption, verdict."""
    out = []
    sections: dict[tuple[str, int], list[Item]] = {}
    for it in items:
        sections.setdefault((it.task, it.level), []).append(it)
    for (task, level), its in sections.items():
        for mode in modes:
            cells = [_cell(root, samples.get((it.id, mode, k)), verdicts.get((it.id, mode, k)), it)
                     for it in its for k in range(samples_per_item)]
            more = len(cells) - GRID_CAP
            out.append(f"<details><summary>{html.escape(task)} level {level}, {mode} mode "
                       f"({len(cells)} samples)</summary><div class='grid'>{''.join(cells[:GRID_CAP])}</div>"
                       + (f"<p>{more} more samples not shown (see samples.jsonl, verdicts.jsonl).</p>" if more > 0 else "")
                       + "</details>")
    return "\n".join(out)


def render_html(summary: dict[str, Any], manifest: dict[str, Any], grids: str, plot: bytes | None) -> str:
    """The whole report page."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in table_rows(summary))
    model = (manifest.get("model") or {}).get("spec", "-")
    judge = (manifest.get("judge") or {}).get("spec", "-")
    status = html.escape(status_line(summary))
    plot_html = f'<img alt="accuracy per task and level" src="{_data_uri(plot, "image/png")}">' if plot else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>UniSandbox report</title><style>{_CSS}</style></head>
<body><h1>UniSandbox report</h1>
<p>model <code>{html.escape(model)}</code>, judge <code>{html.escape(judge)}</code>,
unisandbox {html.escape(str(manifest.get("unisandbox_version")))}, commit {html.escape(str(manifest.get("git_commit")))}</p>
<p class="{'' if summary['complete'] else 'warn'}">{status}</p>
<table><tr>{head}</tr>{body}</table>
<p>Intervals: Wilson 95% for accuracies; paired differences use Newcombe's hybrid score interval
(one sample per item) or a cluster bootstrap over items. McNemar: exact two-sided test on the pairs
where normal and think disagree (normal-only vs think-only correct). Mapping is scored per pair.
Errors and missing samples are never counted as wrong.</p>
{plot_html}
<h2>Samples</h2>
{grids}
</body></html>
"""
