"""The study's claims the sandbox can test, as a table fixed in code, and their verdicts on study results.

Each row (`CLAIMS`) names the claim, the study's figure it is compared with, the paired comparison it
makes (FIRST beats SECOND on the same scoring units: Newcombe's paired interval and the exact McNemar
p-value) and its preconditions. The verdict rules are `metrics.claims.decide`: "not testable" (a
precondition fails, shown with the reason), else "agrees" / "disagrees" (the interval lies above / below
0), else "inconclusive". Nothing here is tuned to a result.

Every row over math or mapping units also gives the same comparison on the test units whose expression
(math) or rule set (mapping) no training item had (`training.heldout`), with their count.

Inputs are the per-architecture results of `training.study.run_arch` (or its `results.json`): every
accuracy there carries its per-unit outcomes ("units"), so the verdicts can be recomputed from the saved
results without running a model (`python -m unisandbox.training.study recompute OUT`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from unisandbox.metrics.claims import (
    NOT_TESTABLE,
    PROBE_FLOOR,
    REJECTED_FLOOR,
    Precondition,
    Verdict,
    decide,
    probe_precondition,
    share_precondition,
)
from unisandbox.metrics.outcomes import decode, rate
from unisandbox.tasks.base import InputError

LEVELS = ("1", "2", "3")


@dataclass(frozen=True)
class Claim:
    """One row of the claims table."""

    id: str
    claim: str
    """The study's claim, in words."""
    study: str
    """The study's figure it is compared with (second-hand: quoted, not measured here)."""
    first: str
    """The condition the claim says is better."""
    second: str
    """The condition it is compared with, on the same units."""
    precondition: str
    """What must hold for the claim to be testable in the sandbox."""


@dataclass(frozen=True)
class Arms:
    """Per-unit outcomes of both conditions, the preconditions, and the unseen-unit mask (or None)."""

    first: list[str]
    second: list[str]
    preconditions: list[Precondition]
    unseen: list[bool] | None = None


_PROBE = f"understanding probe >= {PROBE_FLOOR:.2f} and its 95% lower bound above chance"
_COT = "BAGEL, average over the study's reasoning tasks: normal mode about 0.03, think mode about 0.51"


def _table() -> list[Claim]:
    rows = []
    for task in ("math", "mapping"):
        rows.append(
            Claim(
                f"gap_{task}",
                f"Understanding far exceeds normal-mode generation ({task}).",
                f"the study's first finding, the understanding-generation gap ({_COT})",
                f"{task} understanding probe",
                f"{task} normal-mode generation",
                f"{task} {_PROBE}",
            )
        )
    for task in ("math", "mapping"):
        rows.append(
            Claim(
                f"think_{task}",
                f"Chain of thought (think mode) raises reasoning generation ({task}).",
                _COT,
                f"{task} think mode",
                f"{task} normal mode",
                f"{task} {_PROBE}",
            )
        )
    for task in ("math", "mapping"):
        for lv in LEVELS:
            rows.append(
                Claim(
                    f"stars_{task}_{lv}",
                    f"STARS with a curriculum moves think-mode ability into normal mode ({task} level {lv}).",
                    "STARS with a curriculum: about 0.55 on math in normal mode",
                    f"{task}/{lv} normal mode after curriculum STARS",
                    f"{task}/{lv} normal mode before",
                    f"{task}/{lv} {_PROBE}; think mode above chance (something to learn from)",
                )
            )
    rows += [
        Claim(
            "curriculum",
            "A curriculum over levels works better than mixing all levels (math).",
            "the study's STARS curriculum ablation (its number is not quoted in this repository)",
            "math normal mode after curriculum STARS",
            "math normal mode after mixed STARS (same data, steps)",
            f"math {_PROBE}; math think mode above chance",
        ),
        Claim(
            "rejection",
            "Rejection sampling matters: training on every think-mode image helps less (math).",
            "the study's STARS rejection-sampling ablation (its number is not quoted in this repository)",
            "math normal mode after mixed STARS, filtered",
            "math normal mode after mixed STARS, unfiltered",
            f"math {_PROBE}; the judge rejected >= {REJECTED_FLOOR:.0%} of the math think-mode samples",
        ),
        Claim(
            "cot_forward",
            "After knowledge injection, chain of thought raises forward retrieval.",
            "forward retrieval after injection, about 0.10 (normal) -> 0.63 (think)",
            "forward items, think mode after injection",
            "forward items, normal mode after injection",
            f"forward {_PROBE} (after injection)",
        ),
        Claim(
            "forward_vs_inverse",
            "Injected knowledge is retrieved forward but not inversely.",
            "after injection, inverse retrieval stays low while forward think mode reaches about 0.63",
            "think mode: forward portrait of the inverse item's target character",
            "think mode: the inverse item (same expected portrait)",
            f"inverse {_PROBE} (after injection): the model must answer the inverse question in words",
        ),
        Claim(
            "query_knowledge",
            "Query-based architectures carry a latent chain of thought in knowledge transfer: "
            "injected knowledge reaches normal-mode generation.",
            "the study's abstract: query-based models show latent-CoT-like knowledge transfer "
            "(its number is not quoted in this repository)",
            "query arch: forward items, normal mode after injection",
            "shared arch: forward items, normal mode after injection",
            f"query arch forward {_PROBE} (after injection)",
        ),
    ]
    return rows


CLAIMS: tuple[Claim, ...] = tuple(_table())
"""The claims table, in report order."""


# --- reading results ---------------------------------------------------------------------------------


def units(score: dict[str, Any], where: str) -> list[str]:
    """Per-unit outcomes of one saved Score dict; InputError when the record predates them."""
    if "units" not in score:
        raise InputError(
            f"{where}: field 'units': per-unit outcomes absent (results recorded before they were "
            "saved); rerun `unisandbox study`"
        )
    return decode(score["units"])


def _pool(scores: dict[str, Any], keys: Sequence[str], where: str) -> tuple[list[str], float | None]:
    outs: list[str] = []
    weighted, total = 0.0, 0
    for k in keys:
        s = scores[k]
        u = units(s, f"{where}[{k}]")
        outs += u
        if s.get("chance") is not None:
            weighted += s["chance"] * len(u)
            total += len(u)
    return outs, (weighted / total if total else None)


def _keys(scores: dict[str, Any], task: str, levels: Sequence[str] = LEVELS) -> list[str]:
    return [f"{task}/{lv}" for lv in levels if f"{task}/{lv}" in scores]


def _mask(r: dict[str, Any], which: str, keys: Sequence[str]) -> list[bool] | None:
    masks = (r.get("heldout") or {}).get(which)
    if not masks or any(k not in masks for k in keys):
        return None
    return [c == "1" for k in keys for c in masks[k]]


def _probe(r: dict[str, Any], task: str, keys: Sequence[str], arch: str) -> Precondition:
    outs, chance = _pool(r["baseline"]["probes"], keys, f"{arch}.baseline.probes")
    return probe_precondition(f"{task} understanding probe ({arch})", outs, chance)


def _think(r: dict[str, Any], task: str, keys: Sequence[str], arch: str) -> Precondition:
    outs, chance = _pool(r["baseline"]["generation"]["think"], keys, f"{arch}.baseline.think")
    return probe_precondition(f"{task} think mode ({arch})", outs, chance, floor=0.0)


def _after(r: dict[str, Any], variant: str, keys: Sequence[str], arch: str) -> list[str]:
    normal = r["stars"][variant]["normal"]
    return [o for k in keys for o in units(normal[k]["after"], f"{arch}.stars.{variant}.normal[{k}].after")]


def _gap(task: str) -> Callable[[dict[str, dict[str, Any]], str], Arms | None]:
    def build(results: dict[str, dict[str, Any]], arch: str) -> Arms | None:
        r = results[arch]
        keys = _keys(r["baseline"]["probes"], task)
        if not keys:
            return None
        probe, _ = _pool(r["baseline"]["probes"], keys, f"{arch}.baseline.probes")
        normal, _ = _pool(r["baseline"]["generation"]["normal"], keys, f"{arch}.baseline.normal")
        return Arms(probe, normal, [_probe(r, task, keys, arch)], _mask(r, "pretraining", keys))

    return build


def _cot(task: str) -> Callable[[dict[str, dict[str, Any]], str], Arms | None]:
    def build(results: dict[str, dict[str, Any]], arch: str) -> Arms | None:
        r = results[arch]
        keys = _keys(r["baseline"]["generation"]["normal"], task)
        if not keys:
            return None
        think, _ = _pool(r["baseline"]["generation"]["think"], keys, f"{arch}.baseline.think")
        normal, _ = _pool(r["baseline"]["generation"]["normal"], keys, f"{arch}.baseline.normal")
        return Arms(think, normal, [_probe(r, task, keys, arch)], _mask(r, "pretraining", keys))

    return build


def _stars(task: str, level: str) -> Callable[[dict[str, dict[str, Any]], str], Arms | None]:
    def build(results: dict[str, dict[str, Any]], arch: str) -> Arms | None:
        r = results[arch]
        key = f"{task}/{level}"
        normal = r["stars"]["curriculum"]["normal"]
        if key not in normal:
            return None
        where = f"{arch}.stars.curriculum.normal[{key}]"
        return Arms(
            units(normal[key]["after"], where + ".after"),
            units(normal[key]["before"], where + ".before"),
            [_probe(r, task, [key], arch), _think(r, task, [key], arch)],
            _mask(r, "stars", [key]),
        )

    return build


def _curriculum(results: dict[str, dict[str, Any]], arch: str) -> Arms | None:
    r = results[arch]
    keys = _keys(r["stars"]["curriculum"]["normal"], "math")
    if not keys:
        return None
    return Arms(
        _after(r, "curriculum", keys, arch),
        _after(r, "mixed", keys, arch),
        [_probe(r, "math", keys, arch), _think(r, "math", keys, arch)],
        _mask(r, "stars", keys),
    )


def _rejection(results: dict[str, dict[str, Any]], arch: str) -> Arms | None:
    r = results[arch]
    keys = _keys(r["stars"]["mixed"]["normal"], "math")
    if not keys:
        return None
    acc = r["stars"]["mixed"].get("acceptance", {})
    samples = sum(acc[k]["samples"] for k in keys if k in acc)
    rejected = samples - sum(acc[k]["correct"] for k in keys if k in acc)
    filt = share_precondition(
        f"math think-mode samples the judge rejected ({arch})", rejected, samples, REJECTED_FLOOR
    )
    return Arms(
        _after(r, "mixed", keys, arch),
        _after(r, "unfiltered", keys, arch),
        [_probe(r, "math", keys, arch), filt],
        _mask(r, "stars", keys),
    )


def _injected(r: dict[str, Any], d: str, mode: str, arch: str) -> list[str]:
    return units(
        r["injection"]["after"]["generation"][d][mode], f"{arch}.injection.after.generation.{d}.{mode}"
    )


def _inj_probe(r: dict[str, Any], d: str, arch: str) -> Precondition:
    s = r["injection"]["after"]["probes"][d]
    chance = s.get("chance") if s.get("chance") is not None else _chance_of(d)
    return probe_precondition(
        f"{d} understanding probe after injection ({arch})",
        units(s, f"{arch}.injection.after.probes.{d}"),
        chance,
    )


def _cot_forward(results: dict[str, dict[str, Any]], arch: str) -> Arms | None:
    r = results[arch]
    return Arms(
        _injected(r, "forward", "think", arch),
        _injected(r, "forward", "normal", arch),
        [_inj_probe(r, "forward", arch)],
    )


def _forward_vs_inverse(results: dict[str, dict[str, Any]], arch: str) -> Arms | None:
    from unisandbox.training.evaluate import official_items

    r = results[arch]
    fwd_items, inv_items = official_items("knowledge_forward"), official_items("knowledge_inverse")
    fwd, inv = _injected(r, "forward", "think", arch), _injected(r, "inverse", "think", arch)
    if len(fwd) != len(fwd_items) or len(inv) != len(inv_items):
        return None
    portrait = {
        it.meta["characters"][0]: i for i, it in enumerate(fwd_items) if it.subtask == "forward_portrait"
    }
    # Each inverse item against the forward portrait of its target: the same expected image, asked
    # by name (forward) or by a favourite (inverse).
    first = [fwd[portrait[it.meta["target"]]] for it in inv_items]
    return Arms(first, inv, [_inj_probe(r, "inverse", arch)])


def _query_knowledge(results: dict[str, dict[str, Any]], arch: str) -> Arms | None:
    if "query" not in results or "shared" not in results:
        return None
    q, s = results["query"], results["shared"]
    return Arms(
        _injected(q, "forward", "normal", "query"),
        _injected(s, "forward", "normal", "shared"),
        [_inj_probe(q, "forward", "query")],
    )


BUILDERS: dict[str, Callable[[dict[str, dict[str, Any]], str], Arms | None]] = {
    **{f"gap_{t}": _gap(t) for t in ("math", "mapping")},
    **{f"think_{t}": _cot(t) for t in ("math", "mapping")},
    **{f"stars_{t}_{lv}": _stars(t, lv) for t in ("math", "mapping") for lv in LEVELS},
    "curriculum": _curriculum,
    "rejection": _rejection,
    "cot_forward": _cot_forward,
    "forward_vs_inverse": _forward_vs_inverse,
    "query_knowledge": _query_knowledge,
}


# --- verdicts ------------------------------------------------------------------------------------------


def _side(outs: Sequence[str]) -> str:
    r = rate(outs)
    if r.n == 0:
        return f"n/a (0 scored, {r.errors} errors, {r.missing} missing)"
    return f"{r.accuracy:.2f} ({r.correct}/{r.n})"


def _unseen(arms: Arms) -> dict[str, Any] | None:
    if arms.unseen is None:
        return None
    idx = [i for i, u in enumerate(arms.unseen) if u]
    first, second = [arms.first[i] for i in idx], [arms.second[i] for i in idx]
    if not idx:
        return {
            "units": 0,
            "verdict": NOT_TESTABLE,
            "reason": "no test unit with an unseen expression",
            "first": None,
            "second": None,
            "test": None,
        }
    v = decide(first, second, arms.preconditions)
    return {
        "units": len(idx),
        "verdict": v.verdict,
        "reason": v.reason,
        "first": _side(first),
        "second": _side(second),
        "test": v.test.as_dict() if v.test else None,
    }


def verdicts(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every claim of `CLAIMS` judged on the main architecture (shared when present) of `results`."""
    main = "shared" if "shared" in results else next(iter(results))
    out = []
    for c in CLAIMS:
        arms = BUILDERS[c.id](results, main)
        row: dict[str, Any] = {
            "id": c.id,
            "claim": c.claim,
            "study": c.study,
            "first": c.first,
            "second": c.second,
            "precondition": c.precondition,
            "arch": "query vs shared" if c.id == "query_knowledge" else main,
        }
        if arms is None:
            row.update(
                {
                    "verdict": NOT_TESTABLE,
                    "reason": "not measured in this run",
                    "test": None,
                    "preconditions": [],
                    "sandbox": "not measured",
                    "unseen": None,
                }
            )
        else:
            v: Verdict = decide(arms.first, arms.second, arms.preconditions)
            row.update(v.as_dict())
            row["sandbox"] = f"{_side(arms.first)} vs {_side(arms.second)}"
            row["unseen"] = _unseen(arms)
        out.append(row)
    return out


# --- records without per-unit outcomes -----------------------------------------------------------------


def _chance_of(key: str) -> float | None:
    from unisandbox.metrics.outcomes import unit_chance
    from unisandbox.training.evaluate import official_items

    if key in ("forward", "inverse"):
        return unit_chance(official_items(f"knowledge_{key}"))
    task, _, level = key.partition("/")
    if task in ("math", "mapping") and level in LEVELS:
        return unit_chance(official_items(task, levels=(int(level),)))
    return None


def with_marginal_units(node: Any, key: str = "") -> Any:
    """A copy of old study results in which every accuracy without per-unit outcomes gets synthetic ones
    (its k correct units first, then its wrong ones) and the chance of its units; see `admitted`."""
    if isinstance(node, list):
        return [with_marginal_units(v, key) for v in node]
    if not isinstance(node, dict):
        return node
    if {"k", "n", "value"} <= set(node) and "units" not in node:
        k, n = int(node["k"]), int(node["n"])
        chance = node.get("chance", _chance_of(key))
        return {**node, "units": "1" * k + "0" * (n - k), "chance": chance}
    return {
        k: with_marginal_units(v, k if ("/" in k or k in ("forward", "inverse")) else key)
        for k, v in node.items()
    }


_SUBSET_CLAIMS = {"forward_vs_inverse"}
"""Claims whose arms pick units out of a recorded accuracy: synthetic outcomes cannot stand in for them."""


def admitted(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """For results recorded WITHOUT per-unit outcomes (pass them through `with_marginal_units`): per claim,
    every verdict that some pairing of the recorded counts allows. Both conditions keep their recorded
    correct counts k1, k2 out of n; the number of units correct in both runs over every feasible value
    (max(0, k1 + k2 - n) .. min(k1, k2), pooled over levels, which includes every per-level pairing), so a
    single verdict in the set is the verdict the real pairing has too."""
    main = "shared" if "shared" in results else next(iter(results))
    out = []
    for c in CLAIMS:
        arms = BUILDERS[c.id](results, main)
        row: dict[str, Any] = {"id": c.id, "claim": c.claim}
        if arms is None:
            row.update({"verdicts": [NOT_TESTABLE], "first": None, "second": None})
            out.append(row)
            continue
        failed = [p for p in arms.preconditions if not p.holds]
        if c.id in _SUBSET_CLAIMS and not failed:
            row.update(
                {
                    "verdicts": ["agrees", "inconclusive", "disagrees"],
                    "first": None,
                    "second": None,
                    "reason": "its first arm is a subset of the recorded units, whose count is not recorded",
                }
            )
            out.append(row)
            continue
        n = len(arms.first)
        k1, k2 = arms.first.count("correct"), arms.second.count("correct")
        found: list[str] = []
        widest = ""
        for both in range(max(0, k1 + k2 - n), min(k1, k2) + 1):
            first = ["correct"] * both + ["correct"] * (k1 - both) + ["wrong"] * (n - k1)
            second = ["correct"] * both + ["wrong"] * (k1 - both) + ["correct"] * (k2 - both)
            second += ["wrong"] * (n - len(second))
            v = decide(first, second, arms.preconditions)
            if v.verdict not in found:
                found.append(v.verdict)
            widest = widest or v.reason  # the fewest units correct in both: the widest interval
        if failed:
            row.update({"verdicts": found, "first": None, "second": None, "reason": widest})
        else:
            row.update(
                {
                    "verdicts": found,
                    "first": f"{k1}/{n}",
                    "second": f"{k2}/{n}",
                    "reason": f"widest pairing: {widest}" if len(found) == 1 else "depends on the pairing",
                }
            )
        out.append(row)
    return out
