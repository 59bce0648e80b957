"""Audit: re-derive every answer from the prompt text alone and compare it with the stated answer.

Reads our item files and the study's three test formats. Per item the verdict is one of
- `ok`;
- `wrong_answer`: the prompt is well posed but the stated answer differs (detail has the derived value);
- `ill_posed`: undefined or conflicting symbol, cycle, non-integer or out-of-range result, or an answer
  that names no object;
- `unparseable`: the prompt could not be read.

Math and mapping answers are derived from the text (`tasks.parse`), never from `meta`. Knowledge answers
are facts about invented people and cannot be derived from a prompt; for them the audit checks that the
answer is a well-formed member of the closed attribute sets and agrees with the item's own probe.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from unisandbox.tasks.base import (
    CountAnswer,
    FlowerAnswer,
    FruitAnswer,
    Item,
    ObjectAnswer,
    PersonAnswer,
    read_items,
)
from unisandbox.tasks.parse import (
    IllPosed,
    ParseError,
    find_arithmetic,
    find_nouns,
    parse_count_answer,
    parse_mapping,
    resolve,
)
from unisandbox.tasks.study_format import (
    OURS,
    STUDY_KNOWLEDGE,
    STUDY_MAPPING,
    STUDY_MATH,
    TRAINING_FORMATS,
    file_format,
    parse_person,
    person_text,
    read_records,
)
from unisandbox.world.vocab import (
    AGE_GROUPS,
    FLOWERS,
    FRUITS,
    GENDERS,
    HAIR_COLOURS,
    NOUNS_BY_NAME,
    SKIN_TONES,
    canonical,
)

KINDS = ("ok", "wrong_answer", "ill_posed", "unparseable")
DEFAULT_MAX_COUNT = 9


@dataclass(frozen=True)
class Finding:
    """The audit verdict for one item."""

    id: str
    kind: str
    """One of KINDS."""
    detail: str
    """Why (empty when ok); for wrong_answer it names the derived value."""
    derived: str | None = None
    """The answer derived from the prompt, when one could be derived."""


def _count_text(n: int, obj: str) -> str:
    return f"{n} {NOUNS_BY_NAME[obj].form(n)}" if obj in NOUNS_BY_NAME else f"{n} {obj}"


def derive_math(prompt: str, max_count: int = DEFAULT_MAX_COUNT) -> tuple[int, str | None]:
    """(count, object key or None) asked for by a math prompt; raises ParseError or IllPosed."""
    arith = find_arithmetic(prompt)
    v = arith.value
    if v.denominator != 1:
        raise IllPosed(f"non-integer result {v} of {arith.text!r}")
    if not 1 <= v <= max_count:
        raise IllPosed(f"result {v} of {arith.text!r} is out of range 1..{max_count}")
    nouns = find_nouns(prompt)
    if len(nouns) > 1:
        raise ParseError(f"several objects named: {', '.join(nouns)}")
    return int(v), (nouns[0] if nouns else None)


def _word_in(prompt: str, word: str) -> bool:
    forms = {word.lower(), word.lower().rstrip("s"), word.lower() + "s"}
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", prompt)}
    return bool(forms & words)


def audit_math(
    item_id: str,
    prompt: str,
    answer_text: str,
    claims: dict[str, str] | None = None,
    max_count: int = DEFAULT_MAX_COUNT,
) -> Finding:
    """Audit one math item: `answer_text` like "3 cups"; `claims` are further stated strings that must
    equal derived ones (name -> stated, e.g. {"probe answer": "3"}) and are checked as "<count>"."""
    try:
        count, obj = derive_math(prompt, max_count)
    except IllPosed as e:
        return Finding(item_id, "ill_posed", str(e))
    except ParseError as e:
        return Finding(item_id, "unparseable", str(e))
    derived = _count_text(count, obj) if obj else str(count)
    try:
        stated_n, stated_obj, stated_word = parse_count_answer(answer_text)
    except ParseError as e:
        return Finding(item_id, "ill_posed", f"no object named in the answer: {e}", derived)
    if stated_n != count:
        return Finding(item_id, "wrong_answer", f"derived {derived}, stated {answer_text!r}", derived)
    if obj is not None and stated_obj != obj:
        return Finding(item_id, "wrong_answer", f"derived object {obj}, stated {answer_text!r}", derived)
    if obj is None and not _word_in(prompt, stated_word):
        return Finding(
            item_id, "wrong_answer", f"answer object {stated_word!r} is not named in the prompt", derived
        )
    for name, stated in (claims or {}).items():
        if stated != _expected_claim(name, count, obj or stated_word):
            return Finding(item_id, "wrong_answer", f"derived {derived}, {name} says {stated!r}", derived)
    return Finding(item_id, "ok", "", derived)


def _expected_claim(name: str, count: int, obj: str) -> str:
    if name == "final step":
        return f"answer: {_count_text(count, obj)}"
    return str(count)


def audit_mapping(
    item_id: str, prompt: str, answer_text: str, claims: dict[str, str] | None = None
) -> Finding:
    """Audit one mapping question: the stated answer must be the object the queried symbol resolves to."""
    try:
        obj, _ = resolve(parse_mapping(prompt))
    except IllPosed as e:
        return Finding(item_id, "ill_posed", str(e))
    except ParseError as e:
        return Finding(item_id, "unparseable", str(e))
    stated = canonical(answer_text.strip().rstrip("."))
    if stated is None:
        return Finding(item_id, "ill_posed", f"no object named in the answer {answer_text!r}", obj)
    if stated != obj:
        return Finding(item_id, "wrong_answer", f"derived {obj}, stated {answer_text!r}", obj)
    for name, value in (claims or {}).items():
        want = f"answer: {obj}" if name == "final step" else obj
        if value != want:
            return Finding(item_id, "wrong_answer", f"derived {obj}, {name} says {value!r}", obj)
    return Finding(item_id, "ok", "", obj)


_FRUIT_KEYS = {f.singular for f in FRUITS}
_FLOWER_KEYS = {f.singular for f in FLOWERS}


def _person_ok(p: PersonAnswer) -> str | None:
    for field, allowed in (
        ("gender", GENDERS),
        ("age", AGE_GROUPS),
        ("hair", HAIR_COLOURS),
        ("skin", SKIN_TONES),
    ):
        if getattr(p, field) not in allowed:
            return f"{field} {getattr(p, field)!r} is not one of {', '.join(allowed)}"
    return None


def audit_knowledge_item(item: Item) -> Finding:
    """Check a knowledge item's answer is well formed, fits its prompt's kind, and agrees with its probe."""
    e = item.expected
    if isinstance(e, PersonAnswer):
        problem = _person_ok(e)
        if problem:
            return Finding(item.id, "ill_posed", f"no valid person in the answer: {problem}")
        if item.probe.answer not in (person_text(e),) and item.subtask != "inverse":
            return Finding(
                item.id, "wrong_answer", f"answer {person_text(e)!r}, probe says {item.probe.answer!r}"
            )
        if item.subtask == "inverse" and not find_nouns(item.prompt):
            return Finding(item.id, "unparseable", "inverse prompt names no fruit or flower")
        return Finding(item.id, "ok", "", person_text(e))
    if isinstance(e, FruitAnswer | FlowerAnswer):
        value = e.fruit if isinstance(e, FruitAnswer) else e.flower
        keys = _FRUIT_KEYS if isinstance(e, FruitAnswer) else _FLOWER_KEYS
        if value not in keys:
            return Finding(item.id, "ill_posed", f"no {e.kind} named in the answer ({value!r})")
        if item.probe.answer != value:
            return Finding(item.id, "wrong_answer", f"answer {value!r}, probe says {item.probe.answer!r}")
        return Finding(item.id, "ok", "", value)
    return Finding(item.id, "ill_posed", f"a knowledge item cannot have a {e.kind} answer")


def audit_knowledge_text(item_id: str, prompt: str, answer_text: str) -> Finding:
    """Check a study-format knowledge answer names a fruit, a flower or a full person description."""
    person = parse_person(answer_text)
    if person is not None:
        return Finding(item_id, "ok", "", person_text(person))
    key = canonical(answer_text.strip().rstrip("."))
    if key in _FRUIT_KEYS or key in _FLOWER_KEYS:
        return Finding(item_id, "ok", "", key)
    return Finding(item_id, "ill_posed", f"no fruit, flower or person named in the answer {answer_text!r}")


def audit_item(item: Item, max_count: int = DEFAULT_MAX_COUNT) -> Finding:
    """Audit one of our items: expected answer, probe answer and final step against the prompt."""
    e = item.expected
    final = {"final step": item.steps[-1]} if item.steps else {}
    if item.task == "math":
        if not isinstance(e, CountAnswer):
            return Finding(item.id, "ill_posed", f"a math item needs a count answer, has {e.kind}")
        answer = _count_text(e.count, e.object)
        return audit_math(
            item.id, item.prompt, answer, {"probe answer": item.probe.answer, **final}, max_count
        )
    if item.task == "mapping":
        if not isinstance(e, ObjectAnswer):
            return Finding(item.id, "ill_posed", f"a mapping item needs an object answer, has {e.kind}")
        return audit_mapping(item.id, item.prompt, e.object, {"probe answer": item.probe.answer, **final})
    return audit_knowledge_item(item)


def audit_file(path: str | Path, max_count: int = DEFAULT_MAX_COUNT) -> list[Finding]:
    """Audit every item of one file (our format or one of the study's three test formats).

    Training corpora (ours or the study's conversations) hold no test items: they yield no findings.

    Raises InputError (exit code 2) on malformed input, before auditing anything.
    """
    fmt = file_format(path)
    if fmt in TRAINING_FORMATS:
        return []
    if fmt == OURS:
        return [audit_item(it, max_count) for it in read_items(path)]
    fmt, records = read_records(path)
    if fmt == STUDY_MATH:
        return [audit_math(r.id, r.question, r.answer, None, max_count) for r in records]
    if fmt == STUDY_MAPPING:
        return [audit_mapping(r.id, r.question, r.answer) for r in records]
    if fmt == STUDY_KNOWLEDGE:
        return [audit_knowledge_text(r.id, r.question, r.answer) for r in records]
    raise AssertionError(fmt)


def summarize(findings: list[Finding]) -> dict[str, object]:
    """The `--json` report: {"items", "problems", "by_kind", "problems_list": [{"id", "kind", "detail"}]}."""
    by_kind = Counter(f.kind for f in findings)
    problems = [f for f in findings if f.kind != "ok"]
    return {
        "items": len(findings),
        "problems": len(problems),
        "by_kind": {k: by_kind.get(k, 0) for k in KINDS},
        "problems_list": [{"id": f.id, "kind": f.kind, "detail": f.detail} for f in problems],
    }
