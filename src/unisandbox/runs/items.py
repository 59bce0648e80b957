"""Choosing a run's items: the official test split or --items files (ours or the study's format)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
        meta = {
            **it.meta,
            "source_file": path.stem,
            "study_name": it.id,
            "study_id": it.group if it.group is not None else it.id,
        }
        update: dict[str, Any] = {"id": f"{path.stem}-{it.id}", "meta": meta}
        if it.group is not None:
            update["group"] = f"{path.stem}-{it.group}"
        out.append(it.model_copy(update=update))
    return out


def read_any_items(path: Path) -> list[Item]:
    """Read an items file in our format or the study's; errors name the file, line and field."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return read_study_items(path) if is_study_format(path) else read_items(path)


def _note(message: str) -> None:
    import sys

    print(f"note: {message}", file=sys.stderr)


def _ids(items: Sequence[Item] | Sequence[str], n: int = 8) -> str:
    ids = [it if isinstance(it, str) else it.id for it in items]
    return ", ".join(ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")


def choose_answers(items: Sequence[Item], source: str, notes: dict[str, Any] | None = None) -> list[Item]:
    """Score study-format items against their `source` answers ("stated" or "audited").

    Items the source leaves without a drawable answer (e.g. an undefined mapping under "audited", or a
    stated "N/A") are not run, and a note on stderr names them and says how many imported items have
    different stated and audited answers; items of our own format are kept as they are. The same
    counts go into `notes` (the run's manifest and reports show them).
    """
    from unisandbox.tasks.study_import import with_answers

    kept: list[Item] = []
    unscored: list[Item] = []
    imported = differ = 0
    for it in items:
        answers = it.meta.get("answers")
        if isinstance(answers, dict):
            imported += 1
            differ += answers.get("stated") != answers.get("audited")
        chosen = with_answers(it, source)
        if chosen is None:
            unscored.append(it)
        else:
            kept.append(chosen)
    # A mapping pair is scored only as a whole: one side without an answer takes its pair out.
    gone = {unit_of(it) for it in unscored}
    unscored += [it for it in kept if it.group is not None and unit_of(it) in gone]
    kept = [it for it in kept if unit_of(it) not in gone]
    if imported and notes is not None:
        notes.update(
            answers=source,
            study_items=imported,
            answers_differ=differ,
            no_answer=len(unscored),
            no_answer_ids=[it.id for it in unscored],
        )
    if imported:
        _note(
            f"scoring the {source} answers of {imported} study-format items; the stated and audited "
            f"answers differ on {differ} of them (`unisandbox data audit FILE` shows why)"
        )
    if unscored:
        _note(f"{len(unscored)} items have no {source} answer and are not run: {_ids(unscored)}")
    return kept


def _sandbox_can_draw(item: Item) -> bool:
    from unisandbox.world.vocab import NOUNS_BY_NAME

    obj = getattr(item.expected, "object", None)
    return obj is None or obj in NOUNS_BY_NAME


def decline_unsupported(
    items: Sequence[Item], model: str, judge: str, notes: dict[str, Any] | None = None
) -> list[Item]:
    """The sandbox model and judge know only their vocabulary: items whose objects lie outside it are
    declined item by item ("not supported by this model/judge"), named in a note on stderr and counted
    in `notes`, and never scored as wrong. Other models and judges take every item."""
    who = [
        name
        for name, spec in (("model", model), ("judge", judge))
        if spec.split(":", 1)[0].startswith("sandbox")
    ]
    if not who:
        return list(items)
    units = {unit_of(it) for it in items if not _sandbox_can_draw(it)}  # a pair is declined whole
    declined = [it for it in items if unit_of(it) in units]
    if declined:
        objects = sorted({str(getattr(it.expected, "object", "")) for it in declined})
        if notes is not None:
            notes.update(
                not_supported=len(declined),
                not_supported_by=" and ".join(who),
                not_supported_ids=[it.id for it in declined],
            )
        _note(
            f"{len(declined)} items not supported by this {' and '.join(who)} (objects outside the sandbox "
            f"vocabulary: {', '.join(objects[:10])}{' ...' if len(objects) > 10 else ''}): {_ids(declined)}"
        )
    return [it for it in items if unit_of(it) not in units]


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


def select_items(config: RunConfig, notes: dict[str, Any] | None = None) -> list[Item]:
    """The items a run plans, in a fixed order: file order, filtered by task and level, then --limit.

    `notes` (if given) receives what the selection left out and why (`selection_lines` words it).
    """
    if config.items_files:
        items = [it for f in config.items_files for it in read_any_items(Path(f))]
        tasks = config.tasks
        split_filter = None
    else:
        files = official_files()
        if not files:
            raise ConfigError(
                f"the official split is not installed ({OFFICIAL_DIR} holds no .jsonl); pass --items FILE"
            )
        items = [it for f in files for it in read_items(f)]
        tasks = config.tasks or DEFAULT_TASKS
        split_filter = "test"
    ids: dict[str, int] = {}
    for it in items:
        if it.id in ids:
            raise InputError(f"item id {it.id!r} appears in more than one items file")
        ids[it.id] = 1
    items = choose_answers(items, config.answers or "audited", notes)
    items = decline_unsupported(items, config.model, config.judge, notes)
    items = [
        it
        for it in items
        if (tasks is None or it.task in tasks)
        and (config.levels is None or it.level in config.levels)
        and (split_filter is None or it.split == split_filter)
    ]
    if config.limit is not None:
        items = _limit_units(items, config.limit)
    if not items:
        raise ConfigError("no items left after --tasks/--levels/--limit; nothing to run")
    return items


def selection_lines(notes: dict[str, Any] | None) -> list[str]:
    """The selection notes of a run's manifest as report sentences (none for the official split)."""
    if not notes:
        return []
    lines = []
    if "study_items" in notes:
        lines.append(
            f"Scored against the {notes['answers']} answers of {notes['study_items']} study-format "
            f"items; stated and audited answers differ on {notes['answers_differ']} of them "
            "(`unisandbox data audit FILE` shows why)."
        )
        if notes.get("no_answer"):
            lines.append(
                f"{notes['no_answer']} items have no {notes['answers']} answer and were not run: "
                f"{_ids(notes.get('no_answer_ids') or [])}."
            )
    if notes.get("not_supported"):
        lines.append(
            f"{notes['not_supported']} items not supported by this {notes['not_supported_by']} "
            f"(objects outside the sandbox vocabulary; not run, not counted as wrong): "
            f"{_ids(notes.get('not_supported_ids') or [])}."
        )
    return lines
