"""Prompt templates and parsers shared by the real-model adapters, plus option coercion.

The templates are ours and versioned: a run records `TEMPLATES_VERSION` in the model's `describe()`, and
any change to the wording below bumps it, because a different instruction is a different experiment.

Understanding: the question plus an instruction to end with a line `Answer: <answer>`.
Think mode: the generation request plus an instruction to reason first and end with a line
`Prompt: <the description to draw>`; the image is then drawn from that rewritten prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, overload

from unisandbox.tasks.base import InputError

TEMPLATES_VERSION = 1

UNDERSTAND_TEMPLATE = (
    "{question}\n\n"
    "Think step by step if needed, then give the final answer on the last line in the form "
    "'Answer: <answer>'."
)

THINK_TEMPLATE = (
    "You are about to draw an image for the request below. First reason step by step about exactly "
    "what the image must show: work out any calculation, follow any rule, recall any fact. Then, on "
    "the last line, write a short and explicit description of the image to draw, in the form "
    "'Prompt: <description>'. The description must name the objects and their number directly, "
    "without the calculation, rules or riddle.\n\n"
    "Request: {prompt}"
)

_ANSWER_RE = re.compile(r"^\s*(?:\*\*)?\s*(?:final\s+)?answer\s*(?:\*\*)?\s*[:：]\s*(.*)$", re.IGNORECASE)
_PROMPT_RE = re.compile(r"^\s*(?:\*\*)?\s*(?:image\s+)?prompt\s*(?:\*\*)?\s*[:：]\s*(.*)$", re.IGNORECASE)


def understand_prompt(question: str) -> str:
    """The text sent to a model for one understanding probe."""
    return UNDERSTAND_TEMPLATE.format(question=question)


def think_prompt(prompt: str) -> str:
    """The text sent to a model (or a rewriter) to reason about a generation prompt."""
    return THINK_TEMPLATE.format(prompt=prompt)


def _strip(value: str) -> str:
    return value.strip().strip("*").strip().strip("'\"`").strip()


def parse_answer(text: str) -> str:
    """The final answer in a model's reply: the value of the last `Answer:` line, else the last line.

    >>> parse_answer("3 + 1 = 4\\nAnswer: 4")
    '4'
    >>> parse_answer("chairs")
    'chairs'
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        m = _ANSWER_RE.match(line)
        if m and _strip(m.group(1)):
            return _strip(m.group(1))
    return _strip(lines[-1]) if lines else ""


@dataclass(frozen=True)
class Rewrite:
    """The outcome of parsing a think-mode reply."""

    prompt: str
    """The prompt to draw from: the parsed `Prompt:` line, else the whole reply (see `parsed`)."""
    parsed: bool
    """True when a non-empty `Prompt:` line was found; False when the whole reply is used instead."""


def parse_rewrite(text: str, fallback: str) -> Rewrite:
    """Extract the rewritten prompt from a think-mode reply.

    The last non-empty `Prompt:` line wins (text after it on following lines is appended, since some
    models wrap long descriptions). When there is none, the whole reply becomes the prompt, or
    `fallback` (the original prompt) when the reply is empty.

    >>> parse_rewrite("8 / 4 = 2\\nPrompt: 2 cups", "x")
    Rewrite(prompt='2 cups', parsed=True)
    """
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        m = _PROMPT_RE.match(lines[i])
        if m:
            tail = " ".join([m.group(1), *[ln.strip() for ln in lines[i + 1 :]]])
            value = _strip(" ".join(tail.split()))
            if value:
                return Rewrite(value, True)
    whole = " ".join(text.split())
    return Rewrite(whole if whole else fallback, False)


# ---- option coercion: options arrive from the command line as strings ----

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class OptionError(InputError):
    """A model option with a bad value; the message names the option (exit status 2)."""


def opt_bool(options: dict[str, Any], key: str, default: bool) -> bool:
    """Read a boolean option given as bool or string ("true"/"false"/"1"/"0")."""
    value = options.pop(key, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise OptionError(f"option {key!r}: expected true/false, got {value!r}")


def _given(options: dict[str, Any], key: str, default: Any) -> Any:
    """Pop an option's value; absent or null gives `default`."""
    value = options.pop(key, None)
    return default if value is None else value


@overload
def opt_int(options: dict[str, Any], key: str, default: int, *, minimum: int = 1) -> int: ...
@overload
def opt_int(options: dict[str, Any], key: str, default: None, *, minimum: int = 1) -> int | None: ...
def opt_int(options: dict[str, Any], key: str, default: int | None, *, minimum: int = 1) -> int | None:
    """Read an integer option (>= minimum); absent or null gives `default`."""
    value = _given(options, key, default)
    if value is None:
        return None
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise OptionError(f"option {key!r}: expected an integer, got {value!r}") from None
    if out < minimum:
        raise OptionError(f"option {key!r}: must be >= {minimum}, got {out}")
    return out


@overload
def opt_float(options: dict[str, Any], key: str, default: float) -> float: ...
@overload
def opt_float(options: dict[str, Any], key: str, default: None) -> float | None: ...
def opt_float(options: dict[str, Any], key: str, default: float | None) -> float | None:
    """Read a float option; absent or null gives `default`."""
    value = _given(options, key, default)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise OptionError(f"option {key!r}: expected a number, got {value!r}") from None


@overload
def opt_str(options: dict[str, Any], key: str, default: str) -> str: ...
@overload
def opt_str(options: dict[str, Any], key: str, default: None) -> str | None: ...
def opt_str(options: dict[str, Any], key: str, default: str | None) -> str | None:
    """Read a string option; an empty string counts as absent."""
    value = options.pop(key, None)
    if value is None or value == "":
        return default
    return str(value)


def refuse_unknown(kind: str, options: dict[str, Any]) -> None:
    """Raise OptionError naming any option left over after an adapter read the ones it knows."""
    if options:
        raise OptionError(f"{kind} model: unknown option(s) {', '.join(sorted(options))}")


def require_extra(module: str, extra: str) -> None:
    """Import `module` or raise ImportError telling the user which extra to install."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"this model needs the {module!r} package: pip install 'unisandbox[{extra}]' ({e})"
        ) from e
