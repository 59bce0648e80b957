"""From records to the run's summary: accuracy per task, level and mode, understanding, the gap.

Scoring units and their outcomes come from `metrics.outcomes` (the rule every path uses): an item, or
a pair for mapping (correct only if both of its items are); any member missing -> missing; else not
yet judged -> pending (counted as missing); else any error -> error; else correct or wrong. Errors and
missing units are counted, never scored. Every row carries the chance level of its units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unisandbox.metrics.outcomes import paired_difference, rate, unit_chance, unit_key, unit_verdict
from unisandbox.metrics.stats import (
    mcnemar_exact,
    wilson,
)
from unisandbox.runs.records import SampleRecord, UnderstandingRecord, VerdictRecord
from unisandbox.tasks.base import Item

SUMMARY_SCHEMA_VERSION = 1
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


TASK_ORDER = ("math", "mapping", "knowledge")


def _groups(items: Sequence[Item]) -> dict[tuple[str, int], dict[str, list[str]]]:
    """(task, level) -> unit id -> member item ids; tasks in TASK_ORDER, then level; units in plan order."""
    out: dict[tuple[str, int], dict[str, list[str]]] = {}
    for it in items:
        out.setdefault((it.task, it.level), {}).setdefault(unit_key(it), []).append(it.id)
    return dict(sorted(out.items(), key=lambda kv: (TASK_ORDER.index(kv[0][0]), kv[0][1])))


def _sample_verdict(
    key: tuple[str, str, int], samples: Mapping[Any, Any], verdicts: Mapping[Any, Any]
) -> str:
    v = verdicts.get(key)
    if v is not None:
        return str(v.verdict)
    s = samples.get(key)
    return "missing" if s is None or s.image is None else "pending"


def _probe_verdict(item_id: str, understanding: Mapping[Any, Any]) -> str:
    r = understanding.get((item_id,))
    if r is None:
        return "missing"
    return "error" if r.correct is None else ("correct" if r.correct else "wrong")


def _rate(outcomes: Sequence[str], chance: float | None = None) -> dict[str, Any]:
    r = rate(outcomes, None if chance is None else round(chance, 4))
    return r.as_dict()


def _paired(
    x: Sequence[str], y: Sequence[str], clusters: Sequence[str], single: bool
) -> dict[str, Any] | None:
    """x - y on units where both are scored; Newcombe's interval, or a cluster bootstrap."""
    d = paired_difference(x, y, clusters, single, BOOTSTRAP_SEED)
    return None if d is None else d.as_dict()


def summarize(
    items: Sequence[Item],
    modes: Sequence[str],
    samples_per_item: int,
    samples: Mapping[tuple[Any, ...], SampleRecord],
    understanding: Mapping[tuple[Any, ...], UnderstandingRecord],
    verdicts: Mapping[tuple[Any, ...], VerdictRecord],
    *,
    probes: bool = True,
    allow_incomplete: bool = False,
) -> dict[str, Any]:
    """The summary.json content (no timestamps, so equal records give an equal summary)."""
    rows, und_rows, comparisons = [], [], []
    by_id = {it.id: it for it in items}
    for (task, level), units in _groups(items).items():
        unit_ids = list(units)
        chance = unit_chance([by_id[m] for u in unit_ids for m in units[u]])
        und = [unit_verdict([_probe_verdict(m, understanding) for m in units[u]]) for u in unit_ids]
        if probes:
            und_rows.append(
                {
                    "task": task,
                    "level": level,
                    "units": "pairs" if task == "mapping" else "items",
                    **_rate(und, chance),
                }
            )
        per_mode: dict[str, list[str]] = {}
        for mode in modes:
            outcomes = [
                unit_verdict([_sample_verdict((m, mode, k), samples, verdicts) for m in units[u]])
                for k in range(samples_per_item)
                for u in unit_ids
            ]
            per_mode[mode] = outcomes
            rows.append({"task": task, "level": level, "mode": mode, **_rate(outcomes, chance)})
        clusters = [u for _ in range(samples_per_item) for u in unit_ids]
        und_rep = [o for _ in range(samples_per_item) for o in und]
        single = samples_per_item == 1
        comp: dict[str, Any] = {"task": task, "level": level}
        for mode in modes:
            if probes:
                comp[f"gap_{mode}"] = _paired(und_rep, per_mode[mode], clusters, single)
                comp[f"p_gen_given_und_{mode}"] = _conditional(und_rep, per_mode[mode])
        if "normal" in per_mode and "think" in per_mode:
            diff = _paired(per_mode["think"], per_mode["normal"], clusters, single)
            comp["think_minus_normal"] = diff
            # b: normal right and think wrong; c: normal wrong and think right.
            b, c = (diff["only_second"], diff["only_first"]) if diff else (0, 0)
            comp["mcnemar"] = {"b_normal_only": b, "c_think_only": c, "p_value": mcnemar_exact(b, c)}
        comparisons.append(comp)
    every = rows + und_rows
    complete = all(r["errors"] == 0 and r["missing"] == 0 for r in every)
    withheld = not complete and not allow_incomplete
    if withheld:
        for r in every:
            r.update({"accuracy": None, "ci_low": None, "ci_high": None})
        for comp in comparisons:
            for key in list(comp):
                if key not in ("task", "level"):
                    comp[key] = None
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "complete": complete,
        "allow_incomplete": allow_incomplete,
        "withheld": withheld,
        "confidence": CONFIDENCE,
        "samples_per_item": samples_per_item,
        "modes": list(modes),
        "rows": rows,
        "understanding": und_rows,
        "comparisons": comparisons,
        "totals": _totals(every),
    }


def _conditional(und: Sequence[str], gen: Sequence[str]) -> dict[str, Any] | None:
    scored = [g for u, g in zip(und, gen, strict=True) if u == "correct" and g in ("correct", "wrong")]
    if not scored:
        return None
    k = sum(1 for g in scored if g == "correct")
    low, high = wilson(k, len(scored), CONFIDENCE)
    return {"n": len(scored), "correct": k, "value": k / len(scored), "ci_low": low, "ci_high": high}


def _totals(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    return {key: sum(r[key] for r in rows) for key in ("expected", "n", "errors", "missing", "pending")}
