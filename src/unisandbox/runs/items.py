"""Choosing a run's items: the official test split or --items files (ours or the study's format)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from unisandbox.runs.config import DEFAULT_TASKS, ConfigError, RunConfig
from unisandbox.tasks.base import InputError, Item, read_items

OFFICIAL_DIR = Path(__file__).resolve().parent.parent / "data" / "official"

# Keys that mark a line of the study's released test files (math, mapping, knowledge).
_STUDY_KEYS = {"Question", "Question_A", "Question_B"}


def is_study_format(path: Path) -> bool:
    """True if the first non-empty line of `path` looks like the study's JSONL (Question/Answer keys)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    raw = json.loads(line)
                    return isinstance(raw, dict) and bool(_STUDY_KEYS & set(raw)) and "prompt" not in raw
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return False


def read_study_items(path: Path) -> list[Item]:
    """Import one of the study's test files through the tasks package's importer."""
    try:
        from unisandbox.tasks import study_format
    except ImportError as e:
        raise InputError(f"{path}: reading the study's format needs unisandbox.tasks.study_format ({e})") from e
    items = list(study_format.read_study_file(path))
    # The study's layout names folders after the source file; remember it on each item.
    return [it if "source_file" in it.meta else
            it.model_copy(update={"meta": {**it.meta, "source_file": path.stem}}) for it in items]


def read_any_items(path: Path) -> list[Item]:
    """Read an items file in our format or the study's; errors name the file, line and field."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return read_study_items(path) if is_study_format(path) else read_items(path)


def official_files() -> list[Path]:
    """The official split's JSONL files, sorted by name."""
    return sorted(OFFICIAL_DIR.glob("*.jsonl"))


def unit_of(item: Item) -> str:
    """The scoring unit of an item: its pair id for mapping, else its own id."""
    return item.group or item.id


def _limit_units(items: Sequence[Item], limit: int) -> list[Item]:
    kept: list[Item] = []
    units: dict[tuple[str, int], list[str]] = {}
    for it in items:
        seen = units.setdefault((it.task, it.level), [])
        unit = unit_of(it)
        if unit not in seen:
            if len(seen) >= limit:
                continue
            seen.append(unit)
        kept.append(it)
    return kept


def select_items(config: RunConfig) -> list[Item]:
    """The items a run plans, in a fixed order: file order, filtered by task and level, then --limit."""
    if config.items_files:
        items = [it for f in config.items_files for it in read_any_items(Path(f))]
        tasks = config.tasks
        split_filter = None
    else:
        files = official_files()
        if not files:
            raise ConfigError(f"the official split is not installed ({OFFICIAL_DIR} holds no .jsonl); "
                              "pass --items FILE")
        items = [it for f in files for it in read_items(f)]
        tasks = config.tasks or DEFAULT_TASKS
        split_filter = "test"
    ids: dict[str, int] = {}
    for it in items:
        if it.id in ids:
            raise InputError(f"item id {it.id!r} appears in more than one items file")
        ids[it.id] = 1
    items = [it for it in items
             if (tasks is None or it.task in tasks)
             and (config.levels is None or it.level in config.levels)
             and (split_filter is None or it.split == split_filter)]
    if config.limit is not None:
        items = _limit_units(items, config.limit)
    if not items:
        raise ConfigError("no items left after --tasks/--levels/--limit; nothing to run")
    return items
