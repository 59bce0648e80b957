"""Math task generator: "Generate as many cups as the result of 8 / 4." with exact, verified answers.

Level 1: one basic operation (+ - * /). Level 2: two operations, at least one of √, ^ (squared / cubed)
and % (remainder). Level 3: three operations mixing basic and special ones, sometimes ending in a
division "then rounded down". Answers are integers 1-4 (levels 1-2) or 1-5 (level 3), balanced over the
range. Expressions are built backwards from the drawn answer, so every one is exact by construction;
`evaluate` re-checks each one.

>>> items = math_items(seed=7, level=2, n=4, split="test")
>>> [it.expected.count for it in items] == [int(it.probe.answer) for it in items]
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from unisandbox.tasks.base import CountAnswer, Item, Probe, Split
from unisandbox.tasks.common import ExhaustedError, balanced_targets, pick, rng_for, split_of
from unisandbox.tasks.expr import (
    BASIC_OPS,
    FLOOR_OP,
    SPECIAL_OPS,
    STYLES,
    BinOp,
    Expr,
    Num,
    Pow,
    Sqrt,
    Style,
    evaluate,
    operators,
    render,
    steps,
)
from unisandbox.world.vocab import NOUNS_BY_NAME, OBJECTS

GENERATOR = "unisandbox.tasks.math"
GENERATOR_VERSION = 1

# Prompt phrasings: {P} is the plural object noun, {E} the expression (always followed by '.').
PHRASINGS: dict[str, str] = {
    "m0": "Generate as many {P} as the result of {E}.",
    "m1": "Draw a number of {P} equal to {E}.",
    "m2": "Create an image of {P}. The number of {P} is {E}.",
    "m3": "Compute {E}. Draw that many {P}.",
    "m4": "Show {P}, exactly as many as {E}.",
    "m5": "Make a picture with as many {P} as {E}.",
    "m6": "Paint some {P}: their count is {E}.",
    "m7": "Let n be {E}. Generate an image of n {P}.",
    "m8": "Picture a group of {P} whose size is {E}.",
    "m9": "Generate an image containing {P}; the count of {P} equals {E}.",
}

PROBE_TEMPLATE = "What is {E}? Answer with a number."

DEFAULT_MAX_ANSWER = {1: 4, 2: 4, 3: 5}


@dataclass(frozen=True)
class MathConfig:
    """Knobs of the math generator; the defaults reproduce the official split."""

    max_operand: int = 20
    """Largest literal operand (a radicand under √ may go up to `max_intermediate`)."""
    max_intermediate: int = 100
    """Largest value any intermediate result may take (all values stay integers >= 1)."""
    max_answer: int | None = None
    """Largest answer; None means the level default (4 at levels 1-2, 5 at level 3). At most 9."""
    floor_fraction: float = 0.15
    """Share of level-3 items whose last operation is a division "then rounded down"."""
    test_fraction: float = 0.3
    """Share of content keys that belong to the test pool (the rest is the train pool)."""
    split_key: Literal["expression_object", "expression"] = "expression_object"
    """What defines the train/test pools: (expression, object) pairs, or the expression alone
    (then no test expression ever appears in train, with any object)."""
    holdout_objects: tuple[str, ...] = ()
    """Objects that never appear in train items."""
    holdout_phrasings: tuple[str, ...] = ()
    """Phrasing ids (keys of PHRASINGS) that never appear in train items."""
    objects: tuple[str, ...] | None = None
    """Objects to draw from (singular vocabulary keys); None means every object in the vocabulary."""
    styles: tuple[Style, ...] = STYLES
    """Expression styles to draw from: "symbols" (`8 / 4`) and/or "words" (`8 divided by 4`)."""

    def answer_range(self, level: int) -> tuple[int, int]:
        """(1, max answer) for `level`."""
        top = DEFAULT_MAX_ANSWER[level] if self.max_answer is None else self.max_answer
        return 1, top

    def validate(self) -> None:
        """Raise ValueError when a knob is out of its allowed range."""
        if self.max_answer is not None and not 1 <= self.max_answer <= 9:
            raise ValueError(f"max_answer must be within 1..9, got {self.max_answer}")
        if not 2 <= self.max_operand <= self.max_intermediate:
            raise ValueError("need 2 <= max_operand <= max_intermediate")
        if self.max_intermediate < 9:
            raise ValueError("max_intermediate must be at least 9")
        for name in self.holdout_objects + (self.objects or ()):
            if name not in NOUNS_BY_NAME or NOUNS_BY_NAME[name] not in OBJECTS:
                raise ValueError(f"unknown object {name!r} (see unisandbox.world.vocab.OBJECTS)")
        for pid in self.holdout_phrasings:
            if pid not in PHRASINGS:
                raise ValueError(f"unknown math phrasing id {pid!r}; known: {', '.join(PHRASINGS)}")
        for style in self.styles:
            if style not in STYLES:
                raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")


@dataclass(frozen=True)
class Fact:
    """One single-operation fact, written exactly as it appears in `Item.steps`."""

    op: str
    """Operator name: + - * / % // sqrt ^2 ^3."""
    a: int
    """Left operand (the argument of a unary operator)."""
    b: int | None
    """Right operand, None for unary operators."""
    result: int
    text: str
    """The step text, e.g. "9 - 5 = 4" or "the square root of 16 = 4"."""


def level_ops(level: int) -> tuple[str, ...]:
    """Operators a level may use."""
    if level == 1:
        return BASIC_OPS
    if level == 2:
        return BASIC_OPS + SPECIAL_OPS
    if level == 3:
        return BASIC_OPS + SPECIAL_OPS + (FLOOR_OP,)
    raise ValueError(f"math level must be 1, 2 or 3, got {level}")


def _fact_text(op: str, a: int, b: int | None, r: int) -> str:
    if op == "sqrt":
        return f"the square root of {a} = {r}"
    if op in ("^2", "^3"):
        return f"{a} {'squared' if op == '^2' else 'cubed'} = {r}"
    if op == "%":
        return f"the remainder of {a} divided by {b} = {r}"
    if op == FLOOR_OP:
        return f"{a} / {b} rounded down = {r}"
    return f"{a} {op} {b} = {r}"


# Cached: the same (operator, value) question recurs for almost every item of a level.
@functools.lru_cache(maxsize=65_536)
def _operand_choices(
    op: str, v: int, bound: int, cfg: MathConfig, level: int = 2
) -> tuple[tuple[int, int], ...]:
    """All (previous value, operand) with `op(previous, operand) == v`, previous in [1, bound]."""
    m = cfg.max_operand
    out: list[tuple[int, int]] = []
    if op == "+":
        out = [(v - n, n) for n in range(1, min(m, v - 1) + 1) if v - n <= bound]
    elif op == "-":
        out = [(v + n, n) for n in range(1, m + 1) if v + n <= bound]
    elif op == "*":
        # Beyond level 1, "1 * n" is a wasted step, so the left factor is at least 2 there; at level 1
        # forbidding it would leave 2 * 2 as the only product.
        least = 1 if level == 1 else 2
        out = [(v // n, n) for n in range(2, m + 1) if v % n == 0 and least <= v // n <= bound]
    elif op == "/":
        out = [(v * n, n) for n in range(2, m + 1) if v * n <= bound]
    elif op == "%":
        out = [(v + k * n, n) for n in range(v + 1, m + 1) for k in range(1, (bound - v) // n + 1)]
    elif op == FLOOR_OP:
        out = [(v * n + r, n) for n in range(2, m + 1) for r in range(1, n) if v * n + r <= bound]
    elif op == "sqrt":
        out = [(v * v, 0)] if 2 <= v and v * v <= bound else []
    elif op in ("^2", "^3"):
        k = 2 if op == "^2" else 3
        root = round(v ** (1 / k))
        out = [(r, 0) for r in (root - 1, root, root + 1) if r >= 2 and r**k == v and r <= bound]
    return tuple(out)


@functools.lru_cache(maxsize=16_384)
def _step_options(
    cfg: MathConfig, level: int, v: int, first: bool, floor: bool
) -> tuple[tuple[str, tuple[tuple[int, int], ...]], ...]:
    """Operators (with their operand choices) that can produce `v` at one step of a level's chain."""
    candidates = (FLOOR_OP,) if floor else BASIC_OPS if level == 1 else BASIC_OPS + SPECIAL_OPS
    options = []
    for op in candidates:
        # The first value is a literal: small, except a radicand, which may be any square in range.
        bound = cfg.max_operand if first and op != "sqrt" else cfg.max_intermediate
        choices = _operand_choices(op, v, bound, cfg, level)
        if choices:
            options.append((op, choices))
    return tuple(options)


def _build(rng: np.random.Generator, level: int, target: int, cfg: MathConfig) -> Expr | None:
    """A random expression of `level` whose value is `target`, built from the answer backwards.

    Each operator is drawn among those that can produce the value needed at that point, so operators
    that rarely fit (a product of a prime) are not crowded out by ones that always fit (a square root).
    Returns None when the drawn chain breaks the level's rules; the caller draws again.
    """
    n_ops = 1 if level == 1 else 2 if level == 2 else 3
    ops: list[str] = []
    chosen: list[tuple[int, int]] = []
    v = target
    for i in range(n_ops - 1, -1, -1):
        first = i == 0
        floor = level == 3 and i == n_ops - 1 and rng.random() < cfg.floor_fraction
        options = _step_options(cfg, level, v, first, floor)
        if not options:
            return None
        op, choices = pick(rng, options)
        prev, n = pick(rng, choices)
        ops.append(op)
        chosen.append((prev, n))
        v = prev
    ops.reverse()
    chosen.reverse()
    has_special = any(o in SPECIAL_OPS for o in ops)
    has_basic = any(o in BASIC_OPS or o == FLOOR_OP for o in ops)
    # A square root right after squaring (or the reverse) just undoes it: not worth a step.
    undo = any({a, b} == {"sqrt", "^2"} for a, b in zip(ops, ops[1:], strict=False))
    if undo or (level >= 2 and not has_special) or (level == 3 and not has_basic):
        return None
    e: Expr = Num(v)
    for op, (_, n) in zip(ops, chosen, strict=True):
        if op == "sqrt":
            e = Sqrt(e)
        elif op in ("^2", "^3"):
            e = Pow(e, 2 if op == "^2" else 3)
        else:
            e = BinOp(op, e, Num(n))
    return e


def random_expression(rng: np.random.Generator, level: int, target: int, cfg: MathConfig) -> Expr:
    """A random level-`level` expression whose exact value is `target`."""
    for _ in range(10_000):
        e = _build(rng, level, target, cfg)
        if e is not None:
            return e
    raise ExhaustedError(f"no level-{level} expression with value {target} under {cfg}")


def math_items(
    seed: int, level: int, n: int, split: str = "test", config: MathConfig | None = None
) -> list[Item]:
    """`n` math items of one level and split, deterministic for `seed`.

    Answers cycle through the level's range (balanced), objects and phrasings are drawn uniformly, and
    no two items share a prompt. Train and test come from disjoint pools of content keys.

    >>> math_items(3, 1, 2, "train")[0].id
    'math-l1-train-0000'
    """
    cfg = config or MathConfig()
    cfg.validate()
    match split:
        case "train" | "test":
            pass
        case _:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    level_ops(level)
    lo, hi = cfg.answer_range(level)
    rng = rng_for(seed, "math", level, split)
    targets = balanced_targets(rng, list(range(lo, hi + 1)), n)
    objects = list(cfg.objects or [o.singular for o in OBJECTS])
    phrasings = list(PHRASINGS)
    if split == "train":
        objects = [o for o in objects if o not in cfg.holdout_objects]
        phrasings = [p for p in phrasings if p not in cfg.holdout_phrasings]
    if not objects or not phrasings:
        raise ValueError("holdout options leave no object or no phrasing for train")
    seen: set[str] = set()
    items: list[Item] = []
    for index, target in enumerate(targets):
        items.append(_one_item(rng, seed, level, split, index, target, objects, phrasings, cfg, seen))
    return items


def _one_item(
    rng: np.random.Generator,
    seed: int,
    level: int,
    split: Split,
    index: int,
    target: int,
    objects: list[str],
    phrasings: list[str],
    cfg: MathConfig,
    seen: set[str],
) -> Item:
    for _ in range(20_000):
        expr = random_expression(rng, level, target, cfg)
        obj = pick(rng, objects)
        symbolic = render(expr, "symbols")
        key = f"math|{symbolic}" if cfg.split_key == "expression" else f"math|{symbolic}|{obj}"
        if split_of(key, cfg.test_fraction) != split:
            continue
        pid = pick(rng, phrasings)
        style = pick(rng, cfg.styles)
        text = render(expr, style)
        noun = NOUNS_BY_NAME[obj]
        prompt = PHRASINGS[pid].format(P=noun.plural, E=text)
        if prompt in seen:
            continue
        seen.add(prompt)
        value = evaluate(expr)
        if value != target:  # construction guarantees this; a failure is a generator bug
            raise AssertionError(f"{symbolic} = {value}, expected {target}")
        return Item(
            id=f"math-l{level}-{split}-{index:04d}",
            task="math",
            subtask="math",
            level=level,
            split=split,
            prompt=prompt,
            expected=CountAnswer(count=target, object=obj),
            probe=Probe(question=PROBE_TEMPLATE.format(E=text), answer=str(target)),
            steps=(*steps(expr), f"answer: {target} {noun.form(target)}"),
            meta={
                "generator": GENERATOR,
                "version": GENERATOR_VERSION,
                "seed": seed,
                "phrasing": pid,
                "style": style,
                "expression": symbolic,
                "operators": operators(expr),
                "answer_range": list(cfg.answer_range(level)),
            },
        )
    raise ExhaustedError(
        f"cannot find a new level-{level} {split} item with answer {target}: the pool is exhausted "
        "(ask for fewer items, more objects or phrasings, or a larger max_operand)"
    )


def math_facts(level: int, config: MathConfig | None = None) -> list[Fact]:
    """Every single-operation step a level's items can contain, as written in `Item.steps`.

    Pretraining can teach these as facts; every step of every generated item is in this list.

    >>> any(f.text == "12 / 3 = 4" for f in math_facts(1))
    True
    """
    cfg = config or MathConfig()
    cfg.validate()
    ops = level_ops(level)
    lo, hi = cfg.answer_range(level)
    # Level 1 is one step on two literals with the answer as result; deeper levels chain intermediates.
    results = range(lo, hi + 1) if level == 1 else range(1, cfg.max_intermediate + 1)
    facts: dict[str, Fact] = {}
    for op in ops:
        for r in results:
            bound = cfg.max_operand if level == 1 else cfg.max_intermediate
            for a, b in _operand_choices(op, r, bound, cfg, level):
                unary = op in ("sqrt", "^2", "^3")
                text = _fact_text(op, a, None if unary else b, r)
                facts[text] = Fact(op, a, None if unary else b, r, text)
    return sorted(facts.values(), key=lambda f: (ops.index(f.op), f.a, f.b or 0))
