"""What each reported metric means and which direction is better."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """Declaration of one metric in the summary and the reports."""

    name: str
    """Key used in summary.json and results.csv."""
    description: str
    """One line for readers of the report."""
    higher_is_better: bool | None
    """True or False for a score; None for a test statistic or a count with no better direction."""


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("accuracy", "share of judged samples whose image is correct (Wilson 95% interval)", True),
        MetricInfo("understanding_accuracy", "share of probes the model answers correctly", True),
        MetricInfo("gap", "understanding accuracy minus generation accuracy on the same units", False),
        MetricInfo("p_gen_given_und", "P(generation correct | understanding correct)", True),
        MetricInfo("think_minus_normal", "think accuracy minus normal accuracy on the same units", True),
        MetricInfo("mcnemar_p", "two-sided exact McNemar p-value, normal vs think", None),
        MetricInfo("errors", "samples whose judging failed (never counted wrong)", None),
        MetricInfo("missing", "expected samples without an image or a verdict (never counted wrong)", None),
        MetricInfo("chance", "accuracy of a uniform guesser on the same units (metrics.outcomes)", None),
    )
}
