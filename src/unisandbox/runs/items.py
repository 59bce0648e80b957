"""Choosing a run's items: the official test split or --items files (ours or the study's format)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from unisandbox.runs.config import DEFAULT_TASKS, ConfigError, RunConfig
from unisandbox.tasks.base import InputError, Item, read_items

OFFICIAL_DIR = Path(__file__).resolve().parent.parent / "data" / "official"

def is_study_format(path: Path) -> bool:
    """True if `path` holds one of the study's formats (InputError if it holds no known format)."""
    from unisandbox.tasks import study_format

    return study_format.sniff_format(path) != study_format.OURS


def read_study_items(path: Path) -> list[Item]:
    """Import one of the study's test files through the tasks package's importer.

    Every readable item is kept with its stated and audited answers (`tasks.study_import`); a malformed
    row is skipped with a note on stderr naming file and line, never silently, and never rejects the file.
    The study numbers items per file (math_1 and math_2 both hold id "1"), so ids are prefixed with the
    file stem ("math_2-1", pair "mapping1-7"); the original id stays in meta for the study's layout.
    """
    import sys

    from unisandbox.tasks.study_import import import_study_file

    m = re.search(r"(\d)$", path.stem)
    level = int(m.group(1)) if m and m.group(1) in "123" else None
    result = import_study_file(path, level=level)
    for f in result.skipped:
        print(f"note: {path}:{f.line}: row {f.id} skipped: {f.detail}", file=sys.stderr)
    if not result.items:
        raise InputError(f"{path}: no row could be imported ({len(result.skipped)} malformed)")
    out = []
    for it in result.items:
        meta = {**it.meta, "source_file": path.stem, "study_name": it.id,
                "study_id": it.group if it.group is not None else it.id}
        update: dict = {"id": f"{path.stem}-{it.id}", "meta": meta}
        if it.group is not None:
            update["group"] = f"{path.stem}-{it.group}"
        out.append(it.model_copy(update=update))
    return out


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
