"""Scoring an understanding probe: the model's final answer against the probe's expected answer."""

from __future__ import annotations

import re

from unisandbox.world.vocab import canonical

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_INT = re.compile(r"[-+]?\d+(?:\.0+)?")


def _strip(text: str) -> str:
    text = text.strip().lower()
    text = re.sub(r"^(the\s+)?(final\s+)?answer\s*(is|:)\s*", "", text)
    return text.strip(" \t\n.!,;:\"'`*")


def as_int(text: str) -> int | None:
    """An integer written as digits ("3", "3.0") or a word ("three"), else None."""
    t = _strip(text)
    if _INT.fullmatch(t):
        return int(float(t))
    return _NUMBER_WORDS.get(t)


def as_noun(text: str) -> str | None:
    """The vocabulary key of a noun answer ("Chairs" -> "chair"), tolerating an article."""
    t = re.sub(r"^(a|an|the)\s+", "", _strip(text))
    return canonical(t)


def probe_correct(answer: str, expected: str) -> bool:
    """True if `answer` says what `expected` says: integers by value, nouns via the vocabulary.

    >>> probe_correct("The answer is 3.", "3"), probe_correct("Chairs", "chair"), probe_correct("4", "3")
    (True, True, False)
    """
    want_int = as_int(expected)
    if want_int is not None:
        return as_int(answer) == want_int
    want_noun = as_noun(expected)
    if want_noun is not None:
        return as_noun(answer) == want_noun
    return _strip(answer) == _strip(expected)
