"""Reading option values given as text: comma lists (`--levels 1,2`) and repeatable `KEY=VALUE` pairs.

A value that cannot be read is a UsageProblem: one line naming the option, exit 2.

>>> comma_list("1, 2", "levels", int), key_values(["batch_size=4", "device=cpu"], "--model-option")
((1, 2), {'batch_size': 4, 'device': 'cpu'})
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from unisandbox.cli.errors import UsageProblem


def comma_list(value: str, what: str, cast: Callable[[str], Any] = str) -> tuple[Any, ...]:
    """The non-empty parts of `value` split at commas, each read with `cast`; `what` names the option."""
    try:
        parts = tuple(cast(v.strip()) for v in value.split(",") if v.strip())
    except ValueError as e:
        raise UsageProblem(f"--{what}: cannot read {value!r} ({e})") from e
    if not parts:
        raise UsageProblem(f"--{what}: empty list")
    return parts


def key_values(pairs: list[str] | None, flag: str) -> dict[str, Any] | None:
    """Repeatable `KEY=VALUE` flags as a dict (values are JSON when they parse: numbers, booleans; else
    text); None when none was given."""
    if not pairs:
        return None
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageProblem(f"{flag}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
