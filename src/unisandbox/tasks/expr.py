"""Arithmetic expressions of the math task: a small tree, exact evaluation, two renderings, worked steps.

Operators: `+ - * /` (exact division), `%` (remainder), `sqrt`, `^` (exponent 2 or 3) and `//` (divide,
then round down; only at the top of an expression, written "..., then rounded down"). Values are
`fractions.Fraction`, so a non-integer intermediate is seen, never rounded away.

Both renderings follow one grammar (binding from loosest to tightest): `+ -`, then `* / %`, then `^`
(postfix "squared"/"cubed" in words), then `√` / "the square root of" and, in words only, "the remainder
of X divided by Y", whose operands are single factors. Parentheses are written where the tree needs them.

>>> e = BinOp("/", BinOp("*", Sqrt(BinOp("-", Num(9), Num(5))), Num(3)), Num(2))
>>> render(e, "symbols"), render(e, "words")
('√(9 - 5) * 3 / 2', 'the square root of (9 minus 5) times 3 divided by 2')
>>> steps(e)
['9 - 5 = 4', 'the square root of 4 = 2', '2 * 3 = 6', '6 / 2 = 3']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Style = Literal["symbols", "words"]
STYLES: tuple[Style, ...] = ("symbols", "words")

BASIC_OPS = ("+", "-", "*", "/")
SPECIAL_OPS = ("sqrt", "^2", "^3", "%")
FLOOR_OP = "//"

_WORD = {"+": "plus", "-": "minus", "*": "times", "/": "divided by"}
# Binding strength used to decide parentheses; higher binds tighter.
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2, "//": 0}


@dataclass(frozen=True)
class Num:
    """A literal non-negative integer."""

    value: int


@dataclass(frozen=True)
class BinOp:
    """`left op right` for op in + - * / % //."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Sqrt:
    """The square root of `arg`."""

    arg: Expr


@dataclass(frozen=True)
class Pow:
    """`base` raised to `exponent` (2 or 3)."""

    base: Expr
    exponent: int


Expr = Num | BinOp | Sqrt | Pow


class EvalError(ValueError):
    """The expression has no exact value (division by zero, irrational root)."""


def evaluate(e: Expr) -> Fraction:
    """The exact value of `e`; raises EvalError when it is undefined or irrational."""
    if isinstance(e, Num):
        return Fraction(e.value)
    if isinstance(e, Sqrt):
        return exact_sqrt(evaluate(e.arg))
    if isinstance(e, Pow):
        return evaluate(e.base) ** e.exponent
    a, b = evaluate(e.left), evaluate(e.right)
    return apply_binary(e.op, a, b)


def apply_binary(op: str, a: Fraction, b: Fraction) -> Fraction:
    """`a op b` exactly; `%` and `//` need integers, `/` and `%` a non-zero divisor."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0 and op in ("/", "%", "//"):
        raise EvalError("division by zero")
    if op == "/":
        return a / b
    if op == "//":
        return Fraction(math.floor(a / b))
    if op == "%":
        if a.denominator != 1 or b.denominator != 1:
            raise EvalError("remainder of a non-integer")
        return Fraction(int(a) % int(b))
    raise ValueError(f"unknown operator {op!r}")


def exact_sqrt(x: Fraction) -> Fraction:
    """The square root of `x` when it is rational; EvalError otherwise."""
    if x < 0:
        raise EvalError(f"square root of negative {x}")
    num, den = math.isqrt(x.numerator), math.isqrt(x.denominator)
    if num * num != x.numerator or den * den != x.denominator:
        raise EvalError(f"square root of {x} is not rational")
    return Fraction(num, den)


def _prec(e: Expr) -> int:
    if isinstance(e, BinOp):
        return _PREC[e.op]
    if isinstance(e, Pow):
        return 3
    return 4  # Num and Sqrt are atoms


def _wrap(text: str) -> str:
    return f"({text})"


def render(e: Expr, style: Style) -> str:
    """The expression as text, with symbols (`√16 - 2`) or in words (`the square root of 16 minus 2`)."""
    if isinstance(e, Num):
        return str(e.value)
    if isinstance(e, Sqrt):
        inner = render(e.arg, style)
        inner = inner if isinstance(e.arg, Num) else _wrap(inner)
        return f"√{inner}" if style == "symbols" else f"the square root of {inner}"
    if isinstance(e, Pow):
        base = render(e.base, style)
        base = base if _prec(e.base) >= 4 else _wrap(base)
        if style == "symbols":
            return f"{base}^{e.exponent}"
        return f"{base} {'squared' if e.exponent == 2 else 'cubed'}"
    if e.op == FLOOR_OP:
        inner = render(BinOp("/", e.left, e.right), style)
        return f"{inner}, then rounded down"
    if e.op == "%" and style == "words":
        # Worded remainder takes single factors, so any binary operand needs parentheses.
        left, right = (render(x, style) for x in (e.left, e.right))
        left = left if _prec(e.left) >= 3 else _wrap(left)
        right = right if _prec(e.right) >= 3 else _wrap(right)
        return f"the remainder of {left} divided by {right}"
    p = _PREC[e.op]
    left, right = render(e.left, style), render(e.right, style)
    if _prec(e.left) < p:
        left = _wrap(left)
    if _prec(e.right) <= p:
        right = _wrap(right)
    word = e.op if style == "symbols" else _WORD[e.op]
    return f"{left} {word} {right}"


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def steps(e: Expr) -> list[str]:
    """One step per operation, in evaluation order: `["9 - 5 = 4", "the square root of 4 = 2"]`."""
    out: list[str] = []
    _steps(e, out)
    return out


def _steps(e: Expr, out: list[str]) -> Fraction:
    if isinstance(e, Num):
        return Fraction(e.value)
    if isinstance(e, Sqrt):
        a = _steps(e.arg, out)
        r = exact_sqrt(a)
        out.append(f"the square root of {_fmt(a)} = {_fmt(r)}")
        return r
    if isinstance(e, Pow):
        a = _steps(e.base, out)
        r = a**e.exponent
        out.append(f"{_fmt(a)} {'squared' if e.exponent == 2 else 'cubed'} = {_fmt(r)}")
        return r
    a, b = _steps(e.left, out), _steps(e.right, out)
    r = apply_binary(e.op, a, b)
    if e.op == "%":
        out.append(f"the remainder of {_fmt(a)} divided by {_fmt(b)} = {_fmt(r)}")
    elif e.op == FLOOR_OP:
        out.append(f"{_fmt(a)} / {_fmt(b)} rounded down = {_fmt(r)}")
    else:
        out.append(f"{_fmt(a)} {e.op} {_fmt(b)} = {_fmt(r)}")
    return r


def operators(e: Expr) -> list[str]:
    """Operator names in evaluation order: "+", "-", "*", "/", "%", "//", "sqrt", "^2", "^3"."""
    if isinstance(e, Num):
        return []
    if isinstance(e, Sqrt):
        return operators(e.arg) + ["sqrt"]
    if isinstance(e, Pow):
        return operators(e.base) + [f"^{e.exponent}"]
    return operators(e.left) + operators(e.right) + [e.op]
