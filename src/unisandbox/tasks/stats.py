"""Summary statistics of item files: answers, operators, objects, phrasings, levels."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from unisandbox.tasks.base import CountAnswer, FlowerAnswer, FruitAnswer, Item, ObjectAnswer, PersonAnswer


def _answer_key(item: Item) -> str:
    e = item.expected
    if isinstance(e, CountAnswer):
        return str(e.count)
    if isinstance(e, ObjectAnswer):
        return e.object
    if isinstance(e, FruitAnswer):
        return e.fruit
    if isinstance(e, FlowerAnswer):
        return e.flower
    assert isinstance(e, PersonAnswer)
    return f"{e.gender}/{e.age}/{e.hair}/{e.skin}"


def _operators(item: Item) -> list[str]:
    # Read from the prompt, so files imported from the study's formats get the same statistics.
    from unisandbox.tasks.parse import find_arithmetic

    if item.task != "math":
        return []
    try:
        return list(find_arithmetic(item.prompt).operators)
    except ValueError:
        return ["<unreadable>"]


def _phrasings(item: Item) -> list[str]:
    meta = item.meta
    out = [meta["phrasing"]] if "phrasing" in meta else []
    out += list(meta.get("rule_phrasings", []))
    if "query_phrasing" in meta:
        out.append(meta["query_phrasing"])
    return out or ["<unknown>"]


def _sorted(counter: Counter[Any]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def item_stats(items: Sequence[Item]) -> dict[str, object]:
    """Counts per level, split, task, answer, operator, object, phrasing and style.

    >>> from unisandbox.tasks.math import math_items
    >>> item_stats(math_items(1, 1, 8))["answers"]
    {'1': 2, '2': 2, '3': 2, '4': 2}
    """
    answers = Counter(_answer_key(it) for it in items)
    objects = Counter(getattr(it.expected, "object", None) for it in items if hasattr(it.expected, "object"))
    return {
        "items": len(items),
        "tasks": _sorted(Counter(it.subtask for it in items)),
        "levels": _sorted(Counter(it.level for it in items)),
        "splits": _sorted(Counter(it.split for it in items)),
        "answers": dict(sorted(answers.items(), key=lambda kv: (len(kv[0]), kv[0]))),
        "operators": _sorted(Counter(op for it in items for op in _operators(it))),
        "objects": _sorted(objects),
        "phrasings": _sorted(Counter(p for it in items for p in _phrasings(it))),
        "styles": _sorted(Counter(it.meta.get("style", "<none>") for it in items if it.task == "math")),
    }


def render_stats(name: str, stats: dict[str, object]) -> str:
    """Plain-text report of `item_stats` output, one section per histogram."""
    lines = [f"== {name}: {stats['items']} items"]
    n = stats["items"]
    total = max(n if isinstance(n, int) else 0, 1)
    for section in ("tasks", "levels", "splits", "answers", "operators", "objects", "phrasings", "styles"):
        hist = stats[section]
        if not hist or not isinstance(hist, dict):
            continue
        lines.append(f"{section}:")
        for k, v in hist.items():
            share = f"{100 * v / total:5.1f}%" if section in ("answers", "levels", "tasks", "splits") else ""
            lines.append(f"  {k:<24} {v:>7} {share}")
    return "\n".join(lines)
