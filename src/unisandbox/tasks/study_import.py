"""Import of the study's test files as they were released: every readable item, with its stated answer
and, beside it, the audit's derived answer and verdict.

Nothing is rejected for one bad row: a row that cannot be read is returned as a `malformed` finding and
the rest of the file is imported. Objects outside our vocabulary are kept as text ("teddy bear",
"pair of socks", "phone"); the VLM judge and real-model adapters handle them, and the sandbox model and
judge decline them per item.

Each imported item's `meta` holds
- `stated_answer`: the file's Answer string, as written;
- `answers`: {"stated": <answer record or None>, "audited": <answer record or None>}, the two scorings
  `run --answers stated|audited` chooses between (None: that source gives no drawable answer);
- `audit`: {"kind", "detail", "derived", "derivation"} from `tasks.audit`.
`expected` is the audited answer when there is one, else the stated one, else (neither drawable, e.g.
"undefined") the stated text as an object, so the item is still listed and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from unisandbox.tasks.audit import (
    DEFAULT_MAX_COUNT,
    NO_ANSWER,
    Finding,
    audit_row,
    check_pairs,
    object_key,
    readable,
)
from unisandbox.tasks.base import (
    CountAnswer,
    FlowerAnswer,
    FruitAnswer,
    Item,
    ObjectAnswer,
    PersonAnswer,
    Probe,
    Split,
)
from unisandbox.tasks.english import split_count
from unisandbox.tasks.parse import find_arithmetic
from unisandbox.tasks.study_format import (
    STUDY_KNOWLEDGE,
    STUDY_MAPPING,
    STUDY_MATH,
    StudyRow,
    parse_person,
    person_text,
    read_rows,
)
from unisandbox.world.vocab import FLOWERS, FRUITS, canonical

_LEVEL_RE = re.compile(r"-l([123])-")
_SPLIT_RE = re.compile(r"-(train|test)-")
_FRUIT_KEYS = {f.singular for f in FRUITS}
_FLOWER_KEYS = {f.singular for f in FLOWERS}
ANSWER_SOURCES = ("stated", "audited")


@dataclass(frozen=True)
class ImportResult:
    """What `import_study_file` read from one file."""

    format: str
    items: list[Item]
    findings: list[Finding]
    """The audit finding of every row, imported or not."""
    skipped: list[Finding]
    """The rows that could not be imported (malformed: bad JSON, missing field, duplicate id, ...)."""


def _level_split(rid: str, level: int | None) -> tuple[int, Split]:
    m = _LEVEL_RE.search(rid)
    s = _SPLIT_RE.search(rid)
    split: Split = "train" if s and s.group(1) == "train" else "test"
    return (int(m.group(1)) if m else (level or 1)), split


def _stated_count(text: str) -> dict[str, Any] | None:
    got = split_count(text)
    if got is None or not 1 <= got[0] <= 9 or not re.search(r"[A-Za-z]", got[1]):
        return None
    return {"kind": "count", "count": got[0], "object": object_key(got[1])}


def _stated_object(text: str) -> dict[str, Any] | None:
    t = text.strip().rstrip(".")
    if NO_ANSWER.match(t) or not re.fullmatch(r"[A-Za-z][A-Za-z' -]*", t):
        return None
    return {"kind": "object", "object": object_key(t)}


def _record(d: dict[str, Any]) -> CountAnswer | ObjectAnswer:
    return CountAnswer(**d) if d["kind"] == "count" else ObjectAnswer(**d)


def answer_record(
    d: dict[str, Any],
) -> CountAnswer | ObjectAnswer | PersonAnswer | FruitAnswer | FlowerAnswer:
    """An answer record from its stored fields (`meta["answers"][source]`)."""
    kinds: dict[str, type[CountAnswer | ObjectAnswer | PersonAnswer | FruitAnswer | FlowerAnswer]] = {
        "count": CountAnswer,
        "object": ObjectAnswer,
        "person": PersonAnswer,
        "fruit": FruitAnswer,
        "flower": FlowerAnswer,
    }
    return kinds[d["kind"]](**d)


def _meta(
    path: Path, row: StudyRow, f: Finding, stated: dict[str, Any] | None, audited: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "imported_from": path.name,
        "stated_answer": row.answer,
        "answers": {"stated": stated, "audited": audited},
        "audit": {"kind": f.kind, "detail": f.detail, "derived": f.derived, "derivation": f.derivation},
    }


def _math_item(path: Path, row: StudyRow, f: Finding, level: int | None) -> Item:
    stated = _stated_count(row.answer or "")
    audited = f.answer
    chosen = audited or stated
    expected = _record(chosen) if chosen else ObjectAnswer(object=(row.answer or "").strip())
    try:
        question = f"What is {find_arithmetic(row.question or '').text}? Answer with a number."
    except ValueError:
        question = f"{row.question} How many objects should the image show? Answer with a number."
    lvl, split = _level_split(row.id, level)
    probe_answer = str(expected.count) if isinstance(expected, CountAnswer) else expected.object
    return Item(
        id=row.id,
        task="math",
        subtask="math",
        level=lvl,
        split=split,
        prompt=row.question or "",
        expected=expected,
        probe=Probe(question=question, answer=probe_answer),
        meta=_meta(path, row, f, stated, audited),
    )


def _mapping_item(path: Path, row: StudyRow, f: Finding, level: int | None) -> Item:
    stated = _stated_object(row.answer or "")
    audited = f.answer
    chosen = audited or stated
    expected = _record(chosen) if chosen else ObjectAnswer(object=(row.answer or "").strip())
    lvl, split = _level_split(row.id, level)
    obj = expected.object
    return Item(
        id=row.id,
        task="mapping",
        subtask="mapping",
        level=lvl,
        split=split,
        prompt=row.question or "",
        expected=expected,
        group=row.group,
        probe=Probe(question=f"{row.question} Which object is meant? Answer with one word.", answer=obj),
        meta=_meta(path, row, f, stated, audited),
    )


def _knowledge_item(path: Path, row: StudyRow, f: Finding) -> Item | None:
    text = row.answer or ""
    person = parse_person(text)
    key = canonical(text.strip().rstrip("."))
    expected: PersonAnswer | FruitAnswer | FlowerAnswer
    if person is not None:
        expected, probe_answer = person, person_text(person)
        subtask = "inverse" if "-inv-" in row.id or row.id.startswith("inv") else "forward_portrait"
    elif key in _FRUIT_KEYS:
        expected, subtask, probe_answer = FruitAnswer(fruit=key), "forward_fruit", key
    elif key in _FLOWER_KEYS:
        expected, subtask, probe_answer = FlowerAnswer(flower=key), "forward_flower", key
    else:
        return None
    record = expected.model_dump()
    _, split = _level_split(row.id, 1)
    return Item(
        id=row.id,
        task="knowledge",
        subtask=subtask,
        level=1,
        split=split,
        prompt=row.question or "",
        expected=expected,
        probe=Probe(
            question=f"{row.question} What should the image show? Answer briefly.", answer=probe_answer
        ),
        meta=_meta(path, row, f, record, record),
    )


def import_study_file(
    path: str | Path, level: int | None = None, max_count: int = DEFAULT_MAX_COUNT
) -> ImportResult:
    """Import every readable item of a study-format test file, with its audit (see the module docstring).

    Levels come from our id pattern ("-l2-"), else `level`, else the file name's final digit, else 1.

    Raises InputError only when the file as a whole is unusable (`study_format.read_rows`).
    """
    path = Path(path)
    if level is None and path.stem[-1:] in ("1", "2", "3"):
        level = int(path.stem[-1])  # the study names its files math_2.jsonl, mapping3.jsonl
    fmt, rows = read_rows(path)
    findings: list[Finding] = []
    skipped: list[Finding] = []
    groups: dict[int, str] = {}
    by_id: dict[str, StudyRow] = {}
    for r in rows:
        f = replace(audit_row(path, fmt, r, max_count), file=str(path))
        findings.append(f)
        if not readable(r):
            skipped.append(f)
            continue
        if fmt == STUDY_MAPPING:
            groups[len(findings) - 1] = r.group or r.id
        by_id[r.id] = r
    findings = check_pairs(findings, groups)
    items: list[Item] = []
    for f in findings:
        row = by_id.get(f.id)
        if row is None or f.line != row.line:
            continue
        if fmt == STUDY_MATH:
            items.append(_math_item(path, row, f, level))
        elif fmt == STUDY_MAPPING:
            items.append(_mapping_item(path, row, f, level))
        elif fmt == STUDY_KNOWLEDGE:
            item = _knowledge_item(path, row, f)
            if item is not None:
                items.append(item)
    return ImportResult(fmt, items, findings, skipped)


def with_answers(item: Item, source: str) -> Item | None:
    """The item scored against the `source` answers ("stated" or "audited"); None when that source has
    no drawable answer for it (e.g. an undefined mapping under "audited"). Items that were not imported
    from a study file are returned unchanged."""
    if source not in ANSWER_SOURCES:
        raise ValueError(f"answers must be one of {', '.join(ANSWER_SOURCES)}, got {source!r}")
    answers = item.meta.get("answers")
    if not isinstance(answers, dict):
        return item
    chosen = answers.get(source)
    if chosen is None:
        return None
    expected = answer_record(chosen)
    probe = item.probe
    if isinstance(expected, CountAnswer):
        probe = probe.model_copy(update={"answer": str(expected.count)})
    elif isinstance(expected, ObjectAnswer):
        probe = probe.model_copy(update={"answer": expected.object})
    return item.model_copy(
        update={"expected": expected, "probe": probe, "meta": {**item.meta, "scored_against": source}}
    )
