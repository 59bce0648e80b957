"""Independent reader of arithmetic in prompt text (symbols or words), and of vocabulary nouns.

It knows nothing about the generators: it reads what a prompt says, in our phrasings and in the study's
("Generate as many cups as the result of 8 / 4.", "11 / 4 equals then rounded down", "the square root of
16 minus 3, then add 2", "√(M² + 9) where M = 1"), so that the audit can re-derive every answer from the
text alone. Symbol-mapping rules are read by `tasks.mapping_lang`, English nouns compared by
`tasks.english`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from unisandbox.tasks.expr import EvalError, apply_binary, exact_sqrt
from unisandbox.world.vocab import canonical


class ParseError(ValueError):
    """The text could not be read."""


class Ambiguous(ParseError):
    """The text can be read more than one way (operator words outside the one expression, ...)."""


class IllPosed(ValueError):
    """The text reads fine but asks for something undefined (undefined symbol, irrational root, ...)."""


# ---------------------------------------------------------------------------------------------- math

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}

# Longest alternatives first; each maps to a normalised token.
_TOKEN_SPECS: list[tuple[str, str]] = [
    (
        r"(?:,\s*)?(?:(?:equals|is|gives)\s+)?(?:and\s+)?(?:then\s+)?(?:rounded|round(?:ed)?\s+it)\s+down"
        r"(?:\s+to\s+(?:the\s+nearest\s+)?(?:whole\s+number|integer))?",
        "floor",
    ),
    (r"(?:,\s*)?(?:and\s+)?then\s+add", "then+"),
    (r"(?:,\s*)?(?:and\s+)?then\s+(?:subtract|take\s+away)", "then-"),
    (r"(?:,\s*)?(?:and\s+)?then\s+multiply(?:\s+it)?\s+by", "then*"),
    (r"(?:,\s*)?(?:and\s+)?then\s+divide(?:\s+it)?\s+by", "then/"),
    (r"(?:the\s+)?square\s+root(?:\s+of)?", "sqrt"),
    (r"(?:the\s+)?remainder\s+(?:of|when)", "rem"),
    (r"(?:(?:is|are)\s+)?divided\s+by", "/"),
    (r"multiplied\s+by", "*"),
    (r"to\s+the\s+power\s+of", "^"),
    (r"squared", "^2"),
    (r"cubed", "^3"),
    (r"plus", "+"),
    (r"minus", "-"),
    (r"times", "*"),
    (r"modulo|mod", "%"),
    (r"\d+(?:\.\d+)?", "num"),
    (r"|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)), "numword"),
    (r"[+\-−–*×·/÷%^√()²³]", "sym"),
    (r"(?<=\d)\s*x\s*(?=\d)", "*"),
]
_TOKEN_RE = re.compile("|".join(f"(?P<t{i}>{p})" for i, (p, _) in enumerate(_TOKEN_SPECS)), re.IGNORECASE)
_SYM_MAP = {"−": "-", "–": "-", "×": "*", "·": "*", "÷": "/", "²": "^2", "³": "^3", "√": "sqrt"}


@dataclass(frozen=True)
class Token:
    kind: str
    """Normalised token: "num", + - * / % ^ ^2 ^3 sqrt rem floor ( )."""
    value: Fraction | None
    start: int
    end: int


def _tokens(text: str) -> list[Token]:
    out: list[Token] = []
    for m in _TOKEN_RE.finditer(text):
        if m.lastgroup is None:  # never: every alternative of the pattern is a named group
            continue
        i = int(m.lastgroup[1:])
        kind, raw = _TOKEN_SPECS[i][1], m.group(0)
        # Word operators must be whole words ("times" inside "sometimes" is not an operator).
        if raw[:1].isalpha() and (
            (m.start() > 0 and text[m.start() - 1].isalpha())
            or (m.end() < len(text) and text[m.end()].isalpha())
        ):
            continue
        if kind == "num":
            out.append(Token("num", Fraction(raw), m.start(), m.end()))
        elif kind == "numword":
            out.append(Token("num", Fraction(_NUMBER_WORDS[raw.lower()]), m.start(), m.end()))
        elif kind == "sym":
            out.append(Token(_SYM_MAP.get(raw, raw), None, m.start(), m.end()))
        else:
            out.append(Token(kind, None, m.start(), m.end()))
    return out


def _runs(text: str, tokens: list[Token]) -> list[list[Token]]:
    """Maximal groups of tokens separated only by spaces (or a comma before "rounded down")."""
    runs: list[list[Token]] = []
    for tok in tokens:
        if runs and re.fullmatch(r"\s*", text[runs[-1][-1].end : tok.start]):
            runs[-1].append(tok)
        else:
            runs.append([tok])
    return runs


@dataclass(frozen=True)
class Arithmetic:
    """An expression found in a text, with its exact value."""

    text: str
    """The expression exactly as written, e.g. "17 / 5, then rounded down"."""
    value: Fraction
    operators: tuple[str, ...]


class _Parser:
    def __init__(self, toks: list[Token]):
        self.toks, self.i = toks, 0
        self.ops: list[str] = []

    def peek(self) -> str | None:
        return self.toks[self.i].kind if self.i < len(self.toks) else None

    def take(self, kind: str) -> Token:
        if self.peek() != kind:
            raise ParseError(f"expected {kind!r}, found {self.peek()!r}")
        self.i += 1
        return self.toks[self.i - 1]

    def advance(self) -> Token:
        """Take the next token, whichever it is (callers peek at it first)."""
        if self.i >= len(self.toks):
            raise ParseError("unexpected end of the expression")
        self.i += 1
        return self.toks[self.i - 1]

    def expr(self) -> Fraction:
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.advance()
            w = self.term()
            self.ops.append(op.kind)
            v = v + w if op.kind == "+" else v - w
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.advance().kind
            w = self.unary()
            v = _binary(op, v, w)
            self.ops.append(op)
        return v

    def unary(self) -> Fraction:
        if self.peek() == "-":
            self.take("-")
            return -self.unary()
        return self.power()

    def power(self) -> Fraction:
        v = self.primary()
        while self.peek() in ("^", "^2", "^3"):
            k = self.advance().kind
            e = self.primary() if k == "^" else Fraction(int(k[1]))
            if e.denominator != 1 or not 0 <= e <= 10:
                raise IllPosed(f"unsupported exponent {e}")
            v = v ** int(e)
            self.ops.append(f"^{e}" if k == "^" else k)
        return v

    def primary(self) -> Fraction:
        k = self.peek()
        if k == "num":
            value = self.take("num").value
            if value is None:  # never: the tokenizer gives every number its value
                raise ParseError("a number without a value")
            return value
        if k == "(":
            self.take("(")
            v = self.expr()
            self.take(")")
            return v
        if k == "sqrt":
            self.take("sqrt")
            v = _sqrt(self.power_operand())
            self.ops.append("sqrt")
            return v
        if k == "rem":
            self.take("rem")
            a = self.power()
            if self.peek() not in ("/", "%"):
                raise ParseError("'remainder of' without 'divided by'")
            self.advance()
            b = self.power()
            self.ops.append("%")
            return _binary("%", a, b)
        raise ParseError(f"unexpected {k!r}")

    def power_operand(self) -> Fraction:
        # "√16" / "the square root of 16": the root applies to the next primary only.
        return self.primary()


def _binary(op: str, a: Fraction, b: Fraction) -> Fraction:
    try:
        return apply_binary(op, a, b)
    except EvalError as e:
        raise IllPosed(str(e)) from None


def _sqrt(x: Fraction) -> Fraction:
    try:
        return exact_sqrt(x)
    except EvalError as e:
        raise IllPosed(str(e)) from None


_THEN_OPS = {"then+": "+", "then-": "-", "then*": "*", "then/": "/"}


def _fold(op: str, a: Fraction, b: Fraction) -> Fraction:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return _binary(op, a, b)


def _eval_tokens(toks: list[Token], ops: list[str]) -> Fraction:
    p = _Parser(toks)
    value = p.expr()
    if p.i != len(toks):
        raise ParseError(f"unexpected {toks[p.i].kind!r} after the expression")
    ops += p.ops
    return value


def _parse_run(text: str, run: list[Token]) -> Arithmetic:
    toks = list(run)
    floor = bool(toks) and toks[-1].kind == "floor"
    if floor:
        toks = toks[:-1]
    if any(t.kind == "floor" for t in toks):
        raise ParseError("'rounded down' in the middle of an expression")
    # "..., then add 2" applies to everything before it: split there and fold left to right.
    ops: list[str] = []
    value: Fraction | None = None
    pending: str | None = None
    segment: list[Token] = []
    for tok in [*toks, Token("end", None, 0, 0)]:
        if tok.kind in _THEN_OPS or tok.kind == "end":
            if not segment:
                raise ParseError(f"'{tok.kind}' without a number before it")
            v = _eval_tokens(segment, ops)
            # A pending "then" always follows a segment, so `value` is set whenever `pending` is.
            value = v if pending is None or value is None else _fold(_THEN_OPS[pending], value, v)
            if pending is not None:
                ops.append(_THEN_OPS[pending])
            pending, segment = (tok.kind if tok.kind != "end" else None), []
        else:
            segment.append(tok)
    assert value is not None
    if floor:
        value = Fraction(math.floor(value))
        ops.append("floor")
    return Arithmetic(text[run[0].start : run[-1].end], value, tuple(ops))


_WHERE = re.compile(r"[,;]?\s*where\s+([A-Za-z])\s*=\s*(\d+(?:\.\d+)?)")


def _substitute(text: str) -> str:
    """ "√(M² + 9) where M = 1" -> "√(1² + 9)": a single-letter variable given a value in the text."""
    m = _WHERE.search(text)
    if not m:
        return text
    var, value = m.group(1), m.group(2)
    head = re.sub(rf"(?<![A-Za-z]){re.escape(var)}(?![A-Za-z])", value, text[: m.start()])
    return head + text[m.end() :]


def find_arithmetic(text: str) -> Arithmetic:
    """The one arithmetic expression a prompt asks about, evaluated exactly.

    Raises Ambiguous when operator words stand outside the one expression (it never guesses which
    reading is meant), ParseError when there is no expression or several different ones, IllPosed when
    the one found has no rational value (division by zero, irrational root).

    >>> find_arithmetic("Generate as many cups as the result of 17 / 5, then rounded down.").value
    Fraction(3, 1)
    >>> find_arithmetic("Draw the square root of (9 minus 5) times 3 apples.").value
    Fraction(6, 1)
    >>> find_arithmetic("Generate the outcome of the square root of 16 minus 3, then add 2.").value
    Fraction(3, 1)
    """
    text = _substitute(text)
    all_runs = _runs(text, _tokens(text))
    runs = [r for r in all_runs if any(t.kind == "num" for t in r)]
    stray = [r for r in all_runs if r not in runs and any(t.kind not in ("(", ")") for t in r)]
    if not runs:
        raise ParseError("no arithmetic expression in the text")
    found: list[Arithmetic] = []
    errors: list[Exception] = []
    for run in runs:
        try:
            found.append(_parse_run(text, run))
        except (ParseError, IllPosed) as e:
            errors.append(e)
    with_ops = [a for a in found if a.operators]
    chosen = with_ops or found
    if len(chosen) > 1:
        raise ParseError(f"several expressions: {', '.join(repr(a.text) for a in chosen)}")
    if stray and chosen:
        words = ", ".join(repr(text[r[0].start : r[-1].end].strip(" ,")) for r in stray)
        raise Ambiguous(f"operator words {words} stand outside the expression {chosen[0].text!r}")
    if not chosen:
        ill = [e for e in errors if isinstance(e, IllPosed)]
        raise ill[0] if ill else errors[0]
    if errors and not with_ops:
        # A bare number beside an expression we could not read: the expression is what counts.
        raise errors[0]
    return chosen[0]


_WORD_RE = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")


def find_nouns(text: str) -> list[str]:
    """Vocabulary nouns named in `text` (singular keys, in order, repeats removed)."""
    words = [m.group(0) for m in _WORD_RE.finditer(text)]
    out: list[str] = []
    i = 0
    while i < len(words):
        for width in (3, 2, 1):
            key = canonical(" ".join(words[i : i + width])) if i + width <= len(words) else None
            if key is not None:
                if key not in out:
                    out.append(key)
                i += width
                break
        else:
            i += 1
    return out
