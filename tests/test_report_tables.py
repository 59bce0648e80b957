"""The results table's strings: legend and cells agree, no p-value without a test, honest status lines."""

from __future__ import annotations

import re

from unisandbox.metrics.summary import summarize
from unisandbox.report.tables import CELL_LEGEND, failure_lines, fmt_rate, status_line, table_rows
from unisandbox.runs.records import SampleRecord, VerdictRecord
from unisandbox.tasks.math import math_items


def _summary(verdict: str, allow: bool = True) -> dict:
    items = math_items(3, 1, 4)
    samples, verdicts = {}, {}
    for it in items:
        for mode in ("normal", "think"):
            key = (it.id, mode, 0)
            samples[key] = SampleRecord(
                item_id=it.id, mode=mode, sample_index=0, seed=1, image="x.png", model="m"
            )
            verdicts[key] = VerdictRecord(
                item_id=it.id,
                mode=mode,
                sample_index=0,
                verdict=verdict,
                caption=None,
                judge="j",
                judge_hash="h",
                error="boom" if verdict == "error" else None,
            )
    return summarize(
        items, ("normal", "think"), 1, samples, {}, verdicts, probes=False, allow_incomplete=allow
    )


def test_nothing_scored_gives_no_mcnemar_p():
    row = table_rows(_summary("error"))[0]
    assert "1.000" not in " ".join(row)
    assert row[-3] == "-"  # McNemar p: no pair scored in both modes, so no test


def test_cells_have_the_form_the_legend_gives():
    summary = _summary("correct")
    cell = fmt_rate(summary["rows"][0])
    assert re.fullmatch(r"\d\.\d\d \(\d\.\d\d-\d\.\d\d\)", cell)
    example = re.search(r"e\.g\. (\S+ \S+)", CELL_LEGEND).group(1).rstrip(";")
    assert re.fullmatch(r"\d\.\d\d \(\d\.\d\d-\d\.\d\d\)", example)


def test_incomplete_status_says_what_a_rerun_does():
    line = status_line(_summary("error", allow=False))
    assert line.startswith("INCOMPLETE") and "retries the failed" in line and "--allow-incomplete" in line
    assert status_line(_summary("correct")).startswith("Complete")


def test_failure_lines_count_by_reason_with_a_first_example():
    lines = failure_lines(
        [{"stage": "model", "reason": "CUDA not found", "count": 7, "example": "math-1 normal #0"}]
    )
    assert lines == ["Failures by reason:", "  model: 7 x CUDA not found (first: math-1 normal #0)"]
    assert failure_lines([]) == []
