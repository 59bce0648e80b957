"""Property tests: an evaluator independent of the generator and of the audit parser agrees with every
stated answer; every mapping query resolves to exactly one object."""

from __future__ import annotations

import ast
import math
import re
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items


def _eval_node(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return Fraction(node.value)
    if isinstance(node, ast.BinOp):
        a, b = _eval_node(node.left), _eval_node(node.right)
        ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
        if type(node.op) in ops:
            return ops[type(node.op)]
        if isinstance(node.op, ast.Div):
            return a / b
        if isinstance(node.op, ast.Mod):
            assert a.denominator == 1 and b.denominator == 1
            return a % b
        if isinstance(node.op, ast.Pow):
            return a ** int(b)
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "sqrt":
        x = _eval_node(node.args[0])
        r = Fraction(math.isqrt(x.numerator), math.isqrt(x.denominator))
        assert r * r == x, f"irrational sqrt({x})"
        return r
    raise AssertionError(f"unexpected syntax {ast.dump(node)}")


def python_value(symbolic: str) -> Fraction:
    """Evaluate our symbolic rendering with Python's own grammar (√x -> sqrt(x), ^ -> **)."""
    floor = symbolic.endswith(", then rounded down")
    text = symbolic.removesuffix(", then rounded down").replace("^", "**")
    # √ binds to the number or parenthesised group right after it.
    text = re.sub(r"√(\d+)", r"sqrt(\1)", text)
    text = text.replace("√(", "sqrt(")
    value = _eval_node(ast.parse(text, mode="eval").body)
    return Fraction(math.floor(value)) if floor else value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), level=st.sampled_from([1, 2, 3]), split=st.sampled_from(["train", "test"]))
def test_every_expression_equals_its_answer(seed, level, split):
    for it in math_items(seed, level, 12, split):
        assert python_value(it.meta["expression"]) == it.expected.count, it.meta["expression"]
        # The prompt shows the expression in the item's style; the probe asks exactly that text.
        assert it.probe.question.removeprefix("What is ").removesuffix("? Answer with a number.") in it.prompt


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), level=st.sampled_from([1, 2, 3]), split=st.sampled_from(["train", "test"]))
def test_every_mapping_query_resolves_uniquely(seed, level, split):
    items = mapping_items(seed, level, 6, split)
    for it in items:
        rules = it.meta["rules"]
        targets: dict[str, set[str]] = {}
        for src, dst in rules:
            targets.setdefault(src, set()).add(dst)
        cur, seen = it.meta["query"], set()
        while len(cur) == 1:  # symbols are one character, objects are words
            assert cur not in seen, "cycle"
            seen.add(cur)
            assert len(targets.get(cur, ())) == 1, f"symbol {cur} has {targets.get(cur)}"
            (cur,) = targets[cur]
        assert cur == it.expected.object
        assert len(seen) == level
