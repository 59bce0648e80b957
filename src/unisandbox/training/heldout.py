"""Which test items were never trained: expression-level held-out subsets for every STARS / pretraining table.

The official split keeps train and test disjoint by (expression, object) for math and by the whole
rule set, objects included, for mapping. A math test expression can therefore appear in training with
another object (85 of 100 official level-1 test expressions do in a full-profile STARS round), and a
gain on such items may be memorised rather than computed. The split itself stays as it is (the shipped
checkpoints were trained on it); instead every table that shows a STARS gain or a pretraining result
also reports accuracy on the UNSEEN test items, with their count:

- math: an item is unseen when its expression (`meta["expression"]`, in symbols, e.g. "6 / 2") is the
  expression of no training item (pretraining mixture, its replay pools, STARS items), whatever the
  object or phrasing;
- mapping: an A/B pair is unseen when its rule set (the set of (source, target) rules, objects included)
  is the rule set of no training pair, whatever the phrasing or order.

The single-operation facts (`tasks.math.math_facts`, "What is 6 / 2?" with its trace) that the
pretraining mixture teaches when `facts` is on cover every level-1 expression. They do NOT make an item
"seen" here: they are text-only understanding sequences, never a reasoning prompt of an item, never a
think-mode trace ending in an image, never a STARS image. The unseen column asks whether generation
learned an expression -> image mapping from training items, and facts never pair an expression with an
image. `unseen_items(..., facts_seen=True)` gives the stricter reading (then no level-1 item is unseen).

>>> from unisandbox.training.evaluate import official_items
>>> test = official_items("math", levels=(2,))
>>> len(unseen_items(test, [])) == len(test)
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from unisandbox.tasks.base import Item


def expression_key(item: Item) -> tuple[str, Any] | None:
    """The held-out key of an item: ("math", expression) or ("mapping", frozenset of rules); else None."""
    if item.task == "math":
        expr = item.meta.get("expression")
        return ("math", str(expr)) if expr is not None else None
    if item.task == "mapping":
        rules = item.meta.get("rules")
        return ("mapping", frozenset((str(a), str(b)) for a, b in rules)) if rules else None
    return None


def fact_keys() -> set[tuple[str, Any]]:
    """Held-out keys of the expressions the single-operation facts teach (level 1: every one)."""
    from unisandbox.tasks.math import math_facts

    out: set[tuple[str, Any]] = set()
    for level in (1, 2, 3):
        for f in math_facts(level):
            out.add(("math", f.text.rsplit(" = ", 1)[0]))
    return out


def seen_keys(training: Iterable[Item], facts_seen: bool = False) -> set[tuple[str, Any]]:
    """Held-out keys of every training item (and of the facts when `facts_seen`)."""
    keys = {k for k in (expression_key(it) for it in training) if k is not None}
    return keys | fact_keys() if facts_seen else keys


def unseen_items(test: Sequence[Item], training: Iterable[Item], facts_seen: bool = False) -> list[Item]:
    """The test items whose expression (math) or rule set (mapping) no training item has, in test order.

    Items without a key (knowledge, imported items without generator metadata) are never called unseen.
    Both items of a mapping pair share their rules, so a pair is kept or dropped whole.
    """
    seen = seen_keys(training, facts_seen)
    return [it for it in test if (k := expression_key(it)) is not None and k not in seen]


def unseen_mask(test: Sequence[Item], training: Iterable[Item], facts_seen: bool = False) -> list[bool]:
    """Per test item: True when unseen (see `unseen_items`)."""
    keep = {it.id for it in unseen_items(test, training, facts_seen)}
    return [it.id in keep for it in test]


def pretraining_items(checkpoint_dir: str | Path, replay: Any | None = None) -> list[Item]:
    """The math and mapping train items a checkpoint's pretraining mixture holds, read from its config.json.

    With `replay` (a `training.common.ReplayConfig`), also the items of the replay pools STARS and
    injection rebuild from the same generators at smaller sizes. No tensors are loaded.
    """
    config = json.loads((Path(checkpoint_dir) / "config.json").read_text(encoding="utf-8"))
    return pretraining_items_of(config, replay)


def pretraining_items_of(config: dict[str, Any], replay: Any | None = None) -> list[Item]:
    """`pretraining_items` from a checkpoint's parsed config.json."""
    from dataclasses import replace

    from unisandbox.models.sandbox.mixture import MixtureConfig, train_items

    train = config.get("train") or {}
    if not train.get("mixture"):
        return []
    mix = MixtureConfig.from_dict(train["mixture"])
    seed = int(config.get("seed", train.get("seed", 0)))
    items = train_items(mix, seed)
    out = items["math"] + items["mapping"]
    if replay is not None:
        small = replace(
            mix,
            math_items={lv: replay.math_items for lv, n in mix.math_items.items() if n},
            mapping_items={lv: replay.mapping_items for lv, n in mix.mapping_items.items() if n},
        )
        extra = train_items(small, seed)
        out += extra["math"] + extra["mapping"]
    return out


def unseen_unit_masks(items: Sequence[Item], training: Iterable[Item]) -> dict[str, str]:
    """Per "task/level" (math and mapping), one character per scoring unit in first-appearance order:
    "1" when the unit is unseen (`unseen_items`), else "0". Aligned with `training.evaluate` scores."""
    from unisandbox.metrics.outcomes import units_of

    unseen = {it.id for it in unseen_items(items, training)}
    by_key: dict[str, list[Item]] = {}
    for it in items:
        if it.task in ("math", "mapping"):
            by_key.setdefault(f"{it.task}/{it.level}", []).append(it)
    return {
        key: "".join(
            "1" if all(m.id in unseen for m in members) else "0" for members in units_of(its).values()
        )
        for key, its in by_key.items()
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m unisandbox.training.heldout [--checkpoint DIR] [--arch shared|query]`: per task and
    level of the official split, the units no training item shares an expression / rule set with
    (pretraining of the checkpoint, then with a full-profile STARS round's replay and items added)."""
    import argparse

    from unisandbox.metrics.outcomes import units_of
    from unisandbox.training.common import checkpoint_dir
    from unisandbox.training.evaluate import official_items
    from unisandbox.training.study import profile

    ap = argparse.ArgumentParser(prog="python -m unisandbox.training.heldout")
    ap.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped checkpoint of --arch")
    ap.add_argument("--arch", default="shared", choices=["shared", "query"])
    args = ap.parse_args(argv)
    from unisandbox.training.stars import stars_items

    ckpt = checkpoint_dir(args.checkpoint, args.arch)
    stars = profile("full").stars
    pre = pretraining_items(ckpt)
    tuned = pretraining_items(ckpt, stars.replay) + stars_items(stars)
    print(
        f"checkpoint {ckpt}: {len(pre)} pretraining items; with replay and full-profile STARS items {len(tuned)}"
    )
    print(
        f"{'task/level':<11} {'units':>6} {'unseen (pretraining)':>21} {'unseen (+ STARS)':>17} "
        f"{'unseen (facts seen)':>20}"
    )
    for task in ("math", "mapping"):
        for level in (1, 2, 3):
            test = official_items(task, levels=(level,))

            def count(training: list[Item], facts: bool = False, test: list[Item] = test) -> int:
                return len(units_of(unseen_items(test, training, facts)))

            print(
                f"{f'{task}/{level}':<11} {len(units_of(test)):>6} {count(pre):>21} {count(tuned):>17} "
                f"{count(tuned, True):>20}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
