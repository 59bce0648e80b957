"""The benchmark item: one prompt, its structured expected answer and its understanding probe.

Items are validated on read and on write. `read_items` refuses bad input with an error that names the
file, the line and the field, and never returns a partial list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA_VERSION = 1

Task = Literal["math", "mapping", "knowledge"]
Split = Literal["train", "test"]

# Ids become file names: letters, digits, '.', '_' and '-' only, no leading dot, at most 128 chars.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


def check_safe_id(value: str) -> str:
    """Return `value` if it is safe as a file name, else raise ValueError saying why."""
    if not isinstance(value, str) or not _SAFE_ID.match(value) or ".." in value:
        raise ValueError(
            f"id {value!r} is not safe as a file name (allowed: letters, digits, '.', '_', '-'; "
            "no path separators, no '..', no control characters, 1-128 characters)"
        )
    return value


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CountAnswer(_Record):
    """Exactly `count` objects of one type (math)."""

    kind: Literal["count"] = "count"
    count: int = Field(ge=1, le=9)
    """How many objects the image must show."""
    object: str
    """Singular vocabulary key of the object, e.g. "cup"."""


class ObjectAnswer(_Record):
    """Objects of one given type, any count (symbolic mapping)."""

    kind: Literal["object"] = "object"
    object: str
    """Singular vocabulary key of the object."""


class PersonAnswer(_Record):
    """A portrait with these attributes (knowledge)."""

    kind: Literal["person"] = "person"
    gender: str
    age: str
    """Age group: kid, mid-age or old."""
    hair: str
    """Hair colour."""
    skin: str
    """Skin tone: light, medium or dark."""


class FruitAnswer(_Record):
    """A picture of one fruit (knowledge)."""

    kind: Literal["fruit"] = "fruit"
    fruit: str


class FlowerAnswer(_Record):
    """A picture of one flower (knowledge)."""

    kind: Literal["flower"] = "flower"
    flower: str


Answer = Annotated[
    CountAnswer | ObjectAnswer | PersonAnswer | FruitAnswer | FlowerAnswer, Field(discriminator="kind")
]


class Probe(_Record):
    """A text-only question that tests whether the model understands what the item asks for."""

    question: str
    answer: str
    """The exact expected answer, e.g. "2" or "chairs"; compared after normalisation."""


class Item(_Record):
    """One benchmark prompt with everything needed to judge it."""

    schema_version: int = SCHEMA_VERSION
    """Version of this record's schema."""
    id: str
    """Unique, file-name-safe id. Mapping items end in `_A` or `_B`."""
    task: Task
    subtask: str
    """Finer kind: "math", "mapping", "forward_portrait", "forward_fruit", "forward_flower", "inverse"."""
    level: int = Field(ge=1, le=3)
    """Difficulty level (knowledge items use 1)."""
    split: Split
    prompt: str = Field(min_length=1)
    """The generation prompt exactly as the model sees it."""
    expected: Answer
    """What a correct image shows, computed by code."""
    probe: Probe
    """The understanding probe asked on the same item."""
    steps: tuple[str, ...] = ()
    """A worked solution computed by code, one step per entry (reasoning-trace supervision)."""
    group: str | None = None
    """Items scored together: the A/B pair id of a mapping item, else None."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Generator details: expression, operators, phrasing id, rules, characters, generator version."""

    @field_validator("id")
    @classmethod
    def _safe_id(cls, v: str) -> str:
        return check_safe_id(v)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {v} (this version reads {SCHEMA_VERSION})")
        return v


class InputError(ValueError):
    """Bad input: the message names the file, the line and the field."""

    exit_code = 2


def _field_of(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<record>"
    return f"field '{loc}': {first['msg']}"


def read_json_records(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSONL file; InputError names file and line."""
    from unisandbox.runs.io import parse_jsonl

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    out: list[tuple[int, dict[str, Any]]] = []
    for lineno, raw, problem in parse_jsonl(text):
        if raw is None:
            raise InputError(f"{path}:{lineno}: {problem}")
        out.append((lineno, raw))
    return out


def read_items(path: str | Path) -> list[Item]:
    """Read and validate an items JSONL file; raise InputError naming file, line and field.

    >>> import unisandbox
    >>> items = read_items(Path(unisandbox.__file__).parent / "data" / "official" / "math_l1.jsonl")
    >>> len(items), items[0].task
    (100, 'math')
    """
    path = Path(path)
    items: list[Item] = []
    seen: dict[str, int] = {}
    for lineno, raw in read_json_records(path):
        try:
            item = Item.model_validate(raw)
        except ValidationError as e:
            raise InputError(f"{path}:{lineno}: {_field_of(e)}") from e
        if item.id in seen:
            raise InputError(
                f"{path}:{lineno}: field 'id': duplicate id {item.id!r} (first on line {seen[item.id]})"
            )
        seen[item.id] = lineno
        items.append(item)
    return items


def dump_items(items: Iterable[Item]) -> str:
    """Serialise items as JSONL text (stable key order, one item per line)."""
    return "".join(json.dumps(it.model_dump(mode="json"), ensure_ascii=False) + "\n" for it in items)


def write_items(path: str | Path, items: Sequence[Item]) -> None:
    """Validate then write items atomically (temp file + rename); refuses duplicate ids."""
    ids = [it.id for it in items]
    dupes = {i for i in ids if ids.count(i) > 1} if len(set(ids)) != len(ids) else set()
    if dupes:
        raise InputError(f"{path}: field 'id': duplicate ids {sorted(dupes)[:5]}")
    from unisandbox.runs.io import atomic_write_text

    atomic_write_text(Path(path), dump_items(items))
