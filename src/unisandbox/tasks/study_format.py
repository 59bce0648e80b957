"""The study's JSONL formats: detection, strict reading, import into Items, export from Items.

Formats (one JSON object per line):
- math: `{"Question", "Answer", "id"}`, Answer like "2 cups";
- mapping: `{"ID", "Question_A" | "Question_B", "Answer"}`, two lines per pair, Answer an object noun;
- knowledge: `{"ID", "Question", "Answer"}`, Answer a fruit, a flower or "female, kid, red hair, dark skin";
- knowledge training: `{"id", "conversations": [{"from": "human" | "gpt", "value"}, ...]}`.

Reading refuses malformed JSON, missing or unknown fields, duplicate ids and ids unsafe as file names,
with an InputError naming file, line and field, and returns nothing in that case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unisandbox.tasks.base import (
    CountAnswer,
    FlowerAnswer,
    FruitAnswer,
    InputError,
    Item,
    ObjectAnswer,
    PersonAnswer,
    check_safe_id,
    read_json_records,
)
from unisandbox.world.vocab import (
    AGE_GROUPS,
    FLOWERS,
    FRUITS,
    GENDERS,
    HAIR_COLOURS,
    NOUNS_BY_NAME,
    OBJECTS,
    SKIN_TONES,
)

OURS = "ours"
STUDY_MATH = "study_math"
STUDY_MAPPING = "study_mapping"
STUDY_KNOWLEDGE = "study_knowledge"
STUDY_CONVERSATIONS = "study_conversations"
OURS_CORPUS = "ours_corpus"
TRAINING_FORMATS = (OURS_CORPUS, STUDY_CONVERSATIONS)
_CORPUS_FIELDS = {"id", "character", "kind", "language", "question", "answer"}

_FIELDS = {
    STUDY_MATH: ("Question", "Answer", "id"),
    STUDY_KNOWLEDGE: ("ID", "Question", "Answer"),
    STUDY_CONVERSATIONS: ("id", "conversations"),
}
_FRUIT_KEYS = {f.singular for f in FRUITS}
_FLOWER_KEYS = {f.singular for f in FLOWERS}
_OBJECT_KEYS = {o.singular for o in OBJECTS}


@dataclass(frozen=True)
class StudyRecord:
    """One validated line of a study-format test file."""

    line: int
    """1-based line number in its file."""
    id: str
    """Item id: the record's id; for mapping `<ID>_A` / `<ID>_B`."""
    group: str | None
    """Mapping pair id (the record's ID), else None."""
    question: str
    answer: str


@dataclass(frozen=True)
class Conversation:
    """One validated record of the study's training conversation format."""

    line: int
    id: str
    turns: tuple[tuple[str, str], ...]
    """(from, value) pairs, from being "human" or "gpt"."""


def detect_format(record: dict[str, Any]) -> str | None:
    """Which format a JSON record is in, from its fields; None if none fits."""
    keys = set(record)
    if "schema_version" in keys or {"task", "expected"} <= keys:
        return OURS
    if keys == _CORPUS_FIELDS:
        return OURS_CORPUS
    if "conversations" in keys:
        return STUDY_CONVERSATIONS
    if "Question_A" in keys or "Question_B" in keys:
        return STUDY_MAPPING
    if "ID" in keys:
        return STUDY_KNOWLEDGE
    if "id" in keys and "Question" in keys:
        return STUDY_MATH
    return None


def _load_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    out = read_json_records(path)
    if not out:
        raise InputError(f"{path}: no records")
    return out


def file_format(path: str | Path) -> str:
    """The format of a JSONL file (every line must agree); raises InputError otherwise."""
    path = Path(path)
    fmt: str | None = None
    for lineno, raw in _load_lines(path):
        this = detect_format(raw)
        if this is None:
            raise InputError(
                f"{path}:{lineno}: field '<record>': unknown record format with fields {sorted(raw)} "
                "(expected our items or the study's Question/Answer/id, ID/Question_A|B/Answer, "
                "ID/Question/Answer or id/conversations)"
            )
        if fmt is not None and this != fmt:
            raise InputError(f"{path}:{lineno}: field '<record>': {this} record in a {fmt} file")
        fmt = this
    if fmt is None:  # never: _load_lines refuses a file without records
        raise InputError(f"{path}: no records")
    return fmt


def _check_fields(path: Path, lineno: int, raw: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for name in allowed:
        if name not in raw:
            raise InputError(f"{path}:{lineno}: field '{name}': missing")
    for name in raw:
        if name not in allowed:
            raise InputError(
                f"{path}:{lineno}: field '{name}': unknown field (expected {', '.join(allowed)})"
            )


def _text(path: Path, lineno: int, raw: dict[str, Any], name: str, allow_int: bool = False) -> str:
    value = raw[name]
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{path}:{lineno}: field '{name}': expected a non-empty string, got {value!r}")
    return value


def _safe(path: Path, lineno: int, name: str, value: str) -> str:
    try:
        return check_safe_id(value)
    except ValueError as e:
        raise InputError(f"{path}:{lineno}: field '{name}': {e}") from e


def _require_test_file(path: Path, fmt: str) -> None:
    """InputError unless `fmt` is a study test-file format."""
    if fmt == OURS:
        raise InputError(f"{path}: this is our item format, not a study format (use read_items)")
    if fmt in TRAINING_FORMATS:
        raise InputError(f"{path}: this is a training corpus ({fmt}), not a test file")


def read_records(path: str | Path) -> tuple[str, list[StudyRecord]]:
    """Read and validate a study-format test file: (format, records)."""
    path = Path(path)
    fmt = file_format(path)
    _require_test_file(path, fmt)
    records: list[StudyRecord] = []
    seen: dict[str, int] = {}
    for lineno, raw in _load_lines(path):
        if fmt == STUDY_MAPPING:
            sides = [k for k in ("Question_A", "Question_B") if k in raw]
            if len(sides) != 1:
                raise InputError(
                    f"{path}:{lineno}: field 'Question_A': need exactly one of Question_A, Question_B"
                )
            qfield = sides[0]
            _check_fields(path, lineno, raw, ("ID", qfield, "Answer"))
            group = _safe(path, lineno, "ID", _text(path, lineno, raw, "ID", allow_int=True))
            rid = _safe(path, lineno, "ID", f"{group}_{qfield[-1]}")
            rec = StudyRecord(
                lineno, rid, group, _text(path, lineno, raw, qfield), _text(path, lineno, raw, "Answer")
            )
        else:
            _check_fields(path, lineno, raw, _FIELDS[fmt])
            id_field = "id" if fmt == STUDY_MATH else "ID"
            rid = _safe(path, lineno, id_field, _text(path, lineno, raw, id_field, allow_int=True))
            rec = StudyRecord(
                lineno, rid, None, _text(path, lineno, raw, "Question"), _text(path, lineno, raw, "Answer")
            )
        if rec.id in seen:
            field = "ID" if fmt != STUDY_MATH else "id"
            raise InputError(
                f"{path}:{lineno}: field '{field}': duplicate id {rec.id!r} (first on line {seen[rec.id]})"
            )
        seen[rec.id] = lineno
        records.append(rec)
    if fmt == STUDY_MAPPING:
        groups: dict[str, list[StudyRecord]] = {}
        for r in records:
            groups.setdefault(r.group or "", []).append(r)
        for g, rs in groups.items():
            if len(rs) != 2:
                raise InputError(
                    f"{path}:{rs[0].line}: field 'ID': pair {g!r} has only one question (needs A and B)"
                )
    return fmt, records


# ------------------------------------------------------------------------------- tolerant reading


@dataclass(frozen=True)
class StudyRow:
    """One line of a study-format test file, read tolerantly: a bad line is a row with a `problem`."""

    line: int
    id: str
    """Item id as in `StudyRecord`, or "line N" when the line gives none that can be used."""
    group: str | None
    question: str | None
    answer: str | None
    problem: str | None = None
    """Why this row cannot be used (malformed JSON, missing or extra field, duplicate id, ...)."""


def read_lines(path: str | Path) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object or None, problem or None) for each non-blank line; InputError only when the
    file cannot be read at all or holds no line."""
    from unisandbox.runs.io import parse_jsonl

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    out = parse_jsonl(text)
    if not out:
        raise InputError(f"{path}: no records")
    return out


def sniff_format(path: str | Path) -> str:
    """The format most readable lines of a file are in (ties: the first seen); InputError when no line
    is in any known format, so the file is unusable as a whole."""
    path = Path(path)
    counts: dict[str, int] = {}
    for _, raw, _ in read_lines(path):
        fmt = detect_format(raw) if raw is not None else None
        if fmt is not None:
            counts[fmt] = counts.get(fmt, 0) + 1
    if not counts:
        raise InputError(
            f"{path}:1: field '<record>': no line is in a known format (expected our items or the study's "
            "Question/Answer/id, ID/Question_A|B/Answer, ID/Question/Answer or id/conversations)"
        )
    return max(counts, key=lambda k: counts[k])


def _row_problem(fmt: str, raw: dict[str, Any]) -> tuple[str, str | None, str | None, str | None, str | None]:
    """(problem or "", id, group, question, answer) of one record in a study test format."""
    this = detect_format(raw)
    if this != fmt:
        return f"a {this or 'unknown'} record in a {fmt} file (fields {sorted(raw)})", None, None, None, None
    if fmt == STUDY_MAPPING:
        sides = [k for k in ("Question_A", "Question_B") if k in raw]
        allowed: tuple[str, ...] = ("ID", *sides, "Answer")
        id_field = "ID"
    else:
        sides = []
        allowed = _FIELDS[fmt]
        id_field = "id" if fmt == STUDY_MATH else "ID"
    raw_id = raw.get(id_field)
    rid = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    missing = [n for n in allowed if n not in raw]
    extra = [n for n in raw if n not in allowed]
    texts = {n: raw.get(n) for n in (*sides, "Question", "Answer") if n in raw}
    if fmt == STUDY_MAPPING and len(sides) != 1:
        what = "neither Question_A nor Question_B" if not sides else "both Question_A and Question_B"
        return f"field 'Question_A': the row has {what} (one per row)", rid, rid, None, None
    if missing:
        return f"field '{missing[0]}': missing", rid, None, None, None
    if extra:
        return f"field '{extra[0]}': unknown field (expected {', '.join(allowed)})", rid, None, None, None
    bad = [n for n, v in texts.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        return f"field '{bad[0]}': expected a non-empty string, got {texts[bad[0]]!r}", rid, None, None, None
    if rid is None or not rid.strip():
        return f"field '{id_field}': expected a non-empty string, got {raw_id!r}", None, None, None, None
    try:
        check_safe_id(rid)
    except ValueError as e:
        return f"field '{id_field}': {e}", None, None, None, None
    if fmt == STUDY_MAPPING:
        return "", f"{rid}_{sides[0][-1]}", rid, raw[sides[0]], raw["Answer"]
    return "", rid, None, raw["Question"], raw["Answer"]


def read_rows(path: str | Path) -> tuple[str, list[StudyRow]]:
    """Read a study-format test file row by row, never rejecting the file for a bad row.

    Every non-blank line gives one StudyRow; a row that cannot be used carries its `problem` (and the
    rest of the file is still read). Duplicate ids: the first row keeps the id, later ones are problems.
    InputError (exit 2) only when the file as a whole is unusable: unreadable, empty, in no known
    format, or in our format or a training format.
    """
    path = Path(path)
    fmt = sniff_format(path)
    _require_test_file(path, fmt)
    rows: list[StudyRow] = []
    seen: dict[str, int] = {}
    for lineno, raw, problem in read_lines(path):
        if raw is None:
            rows.append(StudyRow(lineno, f"line {lineno}", None, None, None, problem))
            continue
        problem, rid, group, question, answer = _row_problem(fmt, raw)
        shown = rid or f"line {lineno}"
        if not problem and rid in seen:
            problem = f"duplicate id {rid!r} (first on line {seen[rid]})"
        if problem or rid is None:  # a row without a problem has an id (_row_problem reports a missing one)
            rows.append(StudyRow(lineno, shown, group, None, None, problem or "field 'id': missing"))
            continue
        seen[rid] = lineno
        rows.append(StudyRow(lineno, rid, group, question, answer))
    return fmt, rows


def read_conversations(path: str | Path) -> list[Conversation]:
    """Read and validate a training file in the study's conversation format."""
    path = Path(path)
    fmt = file_format(path)
    if fmt != STUDY_CONVERSATIONS:
        raise InputError(f"{path}: not a conversation file (detected {fmt})")
    out: list[Conversation] = []
    seen: dict[str, int] = {}
    for lineno, raw in _load_lines(path):
        _check_fields(path, lineno, raw, _FIELDS[STUDY_CONVERSATIONS])
        rid = _safe(path, lineno, "id", _text(path, lineno, raw, "id", allow_int=True))
        if rid in seen:
            raise InputError(f"{path}:{lineno}: field 'id': duplicate id {rid!r} (first on line {seen[rid]})")
        seen[rid] = lineno
        conv = raw["conversations"]
        if not isinstance(conv, list) or not conv:
            raise InputError(f"{path}:{lineno}: field 'conversations': expected a non-empty list")
        turns = []
        for k, turn in enumerate(conv):
            where = f"{path}:{lineno}: field 'conversations.{k}"
            if not isinstance(turn, dict) or set(turn) != {"from", "value"}:
                raise InputError(f"{where}': expected an object with exactly 'from' and 'value'")
            if turn["from"] not in ("human", "gpt"):
                raise InputError(f"{where}.from': expected 'human' or 'gpt', got {turn['from']!r}")
            if not isinstance(turn["value"], str):
                raise InputError(f"{where}.value': expected a string")
            turns.append((turn["from"], turn["value"]))
        out.append(Conversation(lineno, rid, tuple(turns)))
    return out


def conversations_jsonl(conversations: list[Conversation]) -> str:
    """Write conversations back in the study's format (the exact inverse of read_conversations)."""
    return "".join(
        json.dumps(
            {"id": c.id, "conversations": [{"from": f, "value": v} for f, v in c.turns]}, ensure_ascii=False
        )
        + "\n"
        for c in conversations
    )


# ------------------------------------------------------------------------------------------- export


def person_text(p: PersonAnswer) -> str:
    """ "female, kid, red hair, dark skin"."""
    return f"{p.gender}, {p.age}, {p.hair} hair, {p.skin} skin"


def to_study_record(item: Item) -> dict[str, str]:
    """The study-format record of one of our items."""
    e = item.expected
    if item.task == "math" and isinstance(e, CountAnswer):
        return {
            "Question": item.prompt,
            "Answer": f"{e.count} {NOUNS_BY_NAME[e.object].form(e.count)}",
            "id": item.id,
        }
    if item.task == "mapping" and isinstance(e, ObjectAnswer):
        group, side = item.id.rsplit("_", 1)
        return {"ID": item.group or group, f"Question_{side}": item.prompt, "Answer": e.object}
    if isinstance(e, PersonAnswer):
        answer = person_text(e)
    elif isinstance(e, FruitAnswer):
        answer = e.fruit
    elif isinstance(e, FlowerAnswer):
        answer = e.flower
    else:
        raise ValueError(f"item {item.id}: cannot export a {item.task} item with a {e.kind} answer")
    return {"ID": item.id, "Question": item.prompt, "Answer": answer}


def study_jsonl(items: list[Item]) -> str:
    """Items of one task as study-format JSONL text."""
    tasks = {it.task for it in items}
    if len(tasks) > 1:
        raise ValueError(f"a study file holds one task, got {sorted(tasks)}")
    return "".join(json.dumps(to_study_record(it), ensure_ascii=False) + "\n" for it in items)


# ------------------------------------------------------------------------------------------- import


def parse_person(text: str) -> PersonAnswer | None:
    """Read "female, kid, red hair, dark skin" (any order); None when an attribute is missing."""
    found: dict[str, str] = {}
    for part in (p.strip().lower() for p in text.split(",")):
        words = part.split()
        if part in GENDERS:
            found["gender"] = part
        elif part in AGE_GROUPS:
            found["age"] = part
        elif len(words) == 2 and words[1] == "hair" and words[0] in HAIR_COLOURS:
            found["hair"] = words[0]
        elif len(words) == 2 and words[1] == "skin" and words[0] in SKIN_TONES:
            found["skin"] = words[0]
        else:
            return None
    if len(found) != 4:
        return None
    return PersonAnswer(gender=found["gender"], age=found["age"], hair=found["hair"], skin=found["skin"])


def read_study_file(path: str | Path, level: int | None = None) -> list[Item]:
    """Import a study-format test file as our items (level from our id pattern, else `level`, else 1),
    strictly: the first malformed row raises InputError naming file, line and field. Each item keeps
    the stated and the audited answer (`tasks.study_import`); objects outside our vocabulary are text.
    For a tolerant import that skips bad rows use `study_import.import_study_file`.

    Steps are left empty: the study's files carry no worked solutions.
    """
    from unisandbox.tasks.study_import import import_study_file

    path = Path(path)
    read_records(path)  # strict validation first: a bad row rejects the file here
    return import_study_file(path, level).items
