"""A self-contained HTML report: tables, plots and image grids inlined as data URIs (no URLs)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unisandbox.report.tables import CELL_LEGEND, COLUMNS, status_line, table_rows, task_label
from unisandbox.tasks.base import Item

GRID_CAP = 400
"""Most images shown per (task, level, mode) section; the rest are counted."""

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f0f0f0}.grid{display:flex;flex-wrap:wrap;gap:6px}
.cell{width:230px;border:1px solid #ddd;padding:4px;font-size:11px;line-height:1.35}
.cell img{width:96px;height:96px;image-rendering:pixelated;display:block;margin:auto}
.cell .k{color:#666}
.correct{background:#e8f6e8}.wrong{background:#fbe9e9}.error,.missing,.pending{background:#fff5d6}
.text{white-space:pre-wrap;max-height:6em;overflow:auto;color:#555;border-top:1px dotted #bbb;margin-top:2px}
.warn{color:#a40;font-weight:bold}
.plot{width:100%;height:auto;display:block}
#filters{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #ddd;z-index:1}
#filters label{margin-right:1em}
details.section>summary{font-weight:bold;margin:8px 0;cursor:pointer}
"""

_FILTER_JS = """
function unisandboxFilter(){
  const want = {};
  document.querySelectorAll('#filters select').forEach(s => { if (s.value) want[s.dataset.f] = s.value; });
  let shown = 0;
  document.querySelectorAll('.cell').forEach(c => {
    const ok = Object.keys(want).every(k => c.dataset[k] === want[k]);
    c.style.display = ok ? '' : 'none';
    if (ok) shown++;
  });
  document.querySelectorAll('details.section').forEach(d => {
    const any = Array.from(d.querySelectorAll('.cell')).some(c => c.style.display !== 'none');
    d.style.display = any ? '' : 'none';
  });
  document.getElementById('shown').textContent = shown + ' samples shown';
}
document.querySelectorAll('#filters select').forEach(s => s.addEventListener('change', unisandboxFilter));
unisandboxFilter();
"""


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """`data` as a data: URI, so that a page embeds its images and stands alone."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def sample_image(root: Path, sample: Any) -> str:
    """A sample's PNG as an embedded <img> ("" without an image; a note when the file is unreadable)."""
    if sample is None or not sample.image:
        return ""
    try:
        return f'<img alt="{html.escape(sample.image)}" src="{data_uri((root / sample.image).read_bytes())}">'
    except OSError:
        return "<em>image file unreadable</em>"


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
    fig, ax = plt.subplots(figsize=(max(10.0, 1.3 * len(groups)), 3.2), dpi=100)
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
    # The legend sits on the axes' top edge (not floating above a tight_layout margin).
    ax.legend(
        fontsize=8,
        ncols=len(series),
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        frameon=False,
        borderaxespad=0.2,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _row(label: str, value: str, cls: str = "") -> str:
    return f'<div class="{cls}"><span class="k">{label}:</span> {value}</div>'


def _probe_html(record: Any) -> str:
    if record is None:
        return "not asked"
    if record.correct is None:
        return f"error ({html.escape(record.error or 'no answer')})"
    mark = "right" if record.correct else "wrong"
    return f"{html.escape(record.answer or '')} ({mark}; expected {html.escape(record.expected)})"


def _cell(root: Path, sample: Any, verdict: Any, item: Item, k: int, mode: str, probe: Any) -> str:
    """One sample: image, prompt, expected answer, caption, verdict, the model's text, the probe's answer."""
    from unisandbox.judges.match import answer_caption

    outcome = (
        verdict.verdict if verdict else ("missing" if sample is None or sample.image is None else "pending")
    )
    img = sample_image(root, sample)
    text = html.escape((sample.text if sample else "") or "")
    caption = html.escape((verdict.caption if verdict else None) or "-")
    err = (verdict.error if verdict else None) or (sample.error if sample else None)
    data = (
        f'data-task="{html.escape(task_label(item))}" data-level="{item.level}" data-mode="{html.escape(mode)}" '
        f'data-verdict="{outcome}"'
    )
    return (
        f'<div class="cell {outcome}" {data}>{img}<b>{html.escape(item.id)}</b> {mode} #{k}'
        + _row("verdict", f"<b>{outcome}</b>")
        + _row("prompt", html.escape(item.prompt), "prompt")
        + _row("expected", html.escape(answer_caption(item.expected)), "expected")
        + _row("caption", caption, "caption")
        + _row("probe", html.escape(item.probe.question) + " &rarr; " + _probe_html(probe), "probe")
        + (_row("error", html.escape(err), "err") if err else "")
        + (f'<div class="text" title="what the model wrote">{text}</div>' if text else "")
        + "</div>"
    )


def _section_order(summary: dict[str, Any], keys: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Sections in the results table's order; any others after them."""
    table = [(c["task"], c["level"]) for c in summary.get("comparisons", [])]
    return [k for k in table if k in keys] + [k for k in keys if k not in table]


def image_grids(
    root: Path,
    items: Sequence[Item],
    modes: Sequence[str],
    samples_per_item: int,
    samples: Mapping[Any, Any],
    verdicts: Mapping[Any, Any],
    understanding: Mapping[Any, Any] | None = None,
    summary: dict[str, Any] | None = None,
) -> str:
    """One open section per (task, level, mode) in table order, with filters by task, level, mode and
    verdict (inline script, no network). Each card: image, prompt, expected, caption, verdict, text, probe."""
    understanding = understanding or {}
    out = []
    sections: dict[tuple[str, int], list[Item]] = {}
    for it in items:
        sections.setdefault((task_label(it), it.level), []).append(it)
    for task, level in _section_order(summary or {}, list(sections)):
        its = sections[(task, level)]
        for mode in modes:
            cells = [
                _cell(
                    root,
                    samples.get((it.id, mode, k)),
                    verdicts.get((it.id, mode, k)),
                    it,
                    k,
                    mode,
                    understanding.get((it.id,)),
                )
                for it in its
                for k in range(samples_per_item)
            ]
            more = len(cells) - GRID_CAP
            out.append(
                f"<details class='section' open><summary>{html.escape(task)} level {level}, {mode} mode "
                f"({len(cells)} samples)</summary><div class='grid'>{''.join(cells[:GRID_CAP])}</div>"
                + (
                    f"<p>{more} more samples not shown (see samples.jsonl, verdicts.jsonl).</p>"
                    if more > 0
                    else ""
                )
                + "</details>"
            )
    return _filters(items, modes) + "\n".join(out)


def _filters(items: Sequence[Item], modes: Sequence[str]) -> str:
    def select(name: str, values: Sequence[str]) -> str:
        opts = "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values)
        return f'<label>{name} <select data-f="{name}"><option value="">all</option>{opts}</select></label>'

    tasks = list(dict.fromkeys(task_label(it) for it in items))
    levels = sorted({str(it.level) for it in items})
    return (
        "<div id='filters'>"
        + select("task", tasks)
        + select("level", levels)
        + select("mode", list(modes))
        + select("verdict", ["correct", "wrong", "error", "missing", "pending"])
        + "<span id='shown'></span></div>"
    )


def _selection_html(notes: dict[str, Any] | None) -> str:
    from unisandbox.runs.items import selection_lines

    lines = selection_lines(notes)
    return (
        ("<h2>Items</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>")
        if lines
        else ""
    )


def _failures_html(failures: Sequence[dict[str, Any]]) -> str:
    if not failures:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(f['stage'])}</td><td>{f['count']}</td><td>{html.escape(str(f['reason']))}"
        f"</td><td>{html.escape(str(f['example']))}</td></tr>"
        for f in failures
    )
    return (
        "<h2>Failures by reason</h2><table><tr><th>stage</th><th>count</th><th>reason</th>"
        f"<th>first example</th></tr>{rows}</table>"
    )


def render_html(summary: dict[str, Any], manifest: dict[str, Any], grids: str, plot: bytes | None) -> str:
    """The whole report page."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in table_rows(summary)
    )
    model = (manifest.get("model") or {}).get("spec", "-")
    judge = (manifest.get("judge") or {}).get("spec", "-")
    status = html.escape(status_line(summary))
    plot_html = (
        f'<img class="plot" alt="accuracy per task and level" src="{data_uri(plot, "image/png")}">'
        if plot
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>UniSandbox report</title><style>{_CSS}</style></head>
<body><h1>UniSandbox report</h1>
<p>model <code>{html.escape(model)}</code>, judge <code>{html.escape(judge)}</code>,
unisandbox {html.escape(str(manifest.get("unisandbox_version")))}, commit {html.escape(str(manifest.get("git_commit")))}</p>
<p class="{"" if summary["complete"] else "warn"}">{status}</p>
<table><tr>{head}</tr>{body}</table>
<p>{html.escape(CELL_LEGEND)}</p>
{_selection_html(summary.get("selection"))}
{_failures_html(summary.get("failures") or [])}
<p>Intervals: Wilson 95% for accuracies; paired differences use Newcombe's hybrid score interval
(one sample per item) or a cluster bootstrap over items. McNemar: exact two-sided test on the pairs
where normal and think disagree (normal-only vs think-only correct). Mapping is scored per pair.
Errors and missing samples are never counted as wrong.</p>
{plot_html}
<h2>Samples</h2>
<p>Each card: the image, the prompt, the expected answer, the judge's blind caption and the verdict, the
model's own text (think mode: its reasoning and rewritten prompt) and its answer to the item's
understanding probe.</p>
{grids}
<script>{_FILTER_JS}</script>
</body></html>
"""
