"""Audit: re-derive every answer from the prompt text alone and compare it with the stated answer.

Reads our item files and the study's three test formats, row by row: a malformed row is one problem in
the list and the rest of the file is still audited. Per item the verdict (`Finding.kind`) is one of

- `ok`;
- `wrong_answer`: the prompt is well posed but the stated answer differs (`derived` has the right one);
- `undefined`: the prompt asks for something no rule or number defines (a symbol without a rule, a
  division by zero, a prompt that asks for nothing);
- `ambiguous`: the text can be read more than one way (conflicting rules, operator words outside the
  expression); the audit says so and never picks a reading;
- `same_answer`: both questions of a mapping pair resolve to the same object (A = B);
- `unresolved`: a rule chain that never reaches an object (a cycle);
- `non_integer`: the arithmetic has no whole-number value (7 / 3, the square root of 10);
- `out_of_range`: a whole number that cannot be drawn as a count (0, negative, above `max_count`);
- `no_object`: the prompt or the answer names no object to draw;
- `unreadable`: the prompt could not be read;
- `malformed`: the row itself is broken (bad JSON, a missing or extra field, a duplicate id, half a pair).

Every finding carries the derivation ("E -> # -> 3 -> banana", "√16 - 3 + 2 = 3"). Math and mapping
answers are derived from the text (`tasks.parse`, `tasks.mapping_lang`, `tasks.english`), never from
`meta`. Knowledge answers are facts about invented people and cannot be derived from a prompt: for them
the audit checks that the answer is a well-formed member of the closed attribute sets and agrees with
the item's own probe.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from unisandbox.tasks.base import (
    CountAnswer,
    FlowerAnswer,
    FruitAnswer,
    InputError,
    Item,
    ObjectAnswer,
    PersonAnswer,
)
from unisandbox.tasks.english import same_noun, singular, singular_phrase, split_count, strip_determiners
from unisandbox.tasks.mapping_lang import read_mapping, resolve
from unisandbox.tasks.parse import Ambiguous, IllPosed, ParseError, find_arithmetic, find_nouns
from unisandbox.tasks.study_format import (
    OURS,
    STUDY_KNOWLEDGE,
    STUDY_MAPPING,
    STUDY_MATH,
    TRAINING_FORMATS,
    StudyRow,
    parse_person,
    person_text,
    read_lines,
    read_rows,
    sniff_format,
)
from unisandbox.world.vocab import FLOWERS, FRUITS, NOUNS_BY_NAME, PERSON_ATTRIBUTES, canonical

KINDS = (
    "ok",
    "wrong_answer",
    "undefined",
    "ambiguous",
    "same_answer",
    "unresolved",
    "non_integer",
    "out_of_range",
    "no_object",
    "unreadable",
    "malformed",
)
DEFAULT_MAX_COUNT = 9


@dataclass(frozen=True)
class Finding:
    """The audit verdict for one item (or one malformed row)."""

    id: str
    kind: str
    """One of KINDS: the first problem found, or "ok"."""
    detail: str
    """Why (empty when ok): every problem found, separated by "; "."""
    derived: str | None = None
    """The answer derived from the prompt, when one could be derived ("3 cups", "banana")."""
    stated: str | None = None
    """The answer the file states."""
    derivation: str = ""
    """How the answer follows from the text: "E -> # -> 3 -> banana", "√16 - 3 + 2 = 3"."""
    line: int | None = None
    """1-based line of the item in its file, when read from a file."""
    file: str | None = None
    problems: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """Every (kind, detail) found, in order."""
    answer: dict[str, object] | None = None
    """The derived answer as an `Answer` record's fields ({"kind": "count", "count": 3, "object":
    "teddy bear"}), objects as vocabulary keys when listed, else as singular text; None if underived."""


def _finding(item_id: str, problems: list[tuple[str, str]], **kw: Any) -> Finding:
    if not problems:
        return Finding(item_id, "ok", "", **kw)
    return Finding(item_id, problems[0][0], "; ".join(d for _, d in problems), problems=tuple(problems), **kw)


def _count_text(n: int, obj: str) -> str:
    if obj in NOUNS_BY_NAME:
        return f"{n} {NOUNS_BY_NAME[obj].form(n)}"
    return f"{n} {obj}"


def object_key(phrase: str) -> str:
    """The object of an answer record: the vocabulary key when the phrase is listed ("mugs" -> "cup"),
    else the phrase in the singular ("teddy bears" -> "teddy bear", "pairs of socks" -> "pair of socks")."""
    return canonical(phrase) or canonical(singular_phrase(phrase)) or singular_phrase(phrase)


def _num(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


# ------------------------------------------------------------------------------------------------ math

_OBJECT_FRAME = re.compile(
    r"\b(?:as\s+many|number\s+of|quantity\s+of|amount\s+of|count\s+of|group\s+of|picture\s+of|image\s+of"
    r"|that\s+many|some)\s+(?:the\s+)?(?P<obj>[A-Za-z][A-Za-z -]*?)"
    r"(?=\s+(?:as|equal|equals|that|which|to|matching|equivalent|is|are|calculated|whose|exactly)\b|[.,;:])",
)
_WORDS = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")
_NOT_OBJECTS = {"number", "quantity", "amount", "result", "outcome", "count", "n", "them", "it", "that"}
_UNITS = {
    "pair",
    "box",
    "bag",
    "bunch",
    "bundle",
    "stack",
    "pack",
    "packet",
    "crate",
    "bottle",
    "jar",
    "slice",
    "piece",
    "sheet",
    "roll",
    "loaf",
    "bar",
    "set",
    "plate",
    "bowl",
    "basket",
    "cup",
    "glass",
}
"""Nouns that count something else in "<unit> of <noun>": "4 pairs of socks" counts pairs, not socks."""


def named_in(prompt: str, noun: str) -> str | None:
    """The words of `prompt` that name `noun` (English singular/plural, compounds, "pairs of"), or None.

    >>> named_in("Provide the number of teddy bears equal to 2^4 / 8.", "teddy bears")
    'teddy bears'
    """
    words = _WORDS.findall(prompt)
    width = len(strip_determiners(noun).split())
    if width == 0:
        return None
    for w in (width, width + 1):
        for i in range(len(words) - w + 1):
            window = " ".join(words[i : i + w])
            inside_unit = i >= 2 and words[i - 1].lower() == "of" and singular(words[i - 2]) in _UNITS
            if same_noun(window, noun) and not inside_unit:
                return window
    return None


def prompt_object(prompt: str) -> str | None:
    """The object a math prompt asks to draw, as written ("teddy bears"), or None when it names none."""
    for m in _OBJECT_FRAME.finditer(prompt):
        obj = strip_determiners(m.group("obj"))
        if obj and obj.split()[0] not in _NOT_OBJECTS:
            return obj
    nouns = find_nouns(prompt)
    return NOUNS_BY_NAME[nouns[0]].plural if len(nouns) == 1 else None


def _ill_kind(e: IllPosed) -> str:
    msg = str(e)
    return "non_integer" if "rational" in msg or "non-integer" in msg else "undefined"


def _arithmetic(prompt: str, max_count: int, problems: list[tuple[str, str]]) -> tuple[int | None, str]:
    try:
        arith = find_arithmetic(prompt)
    except Ambiguous as e:
        problems.append(("ambiguous", str(e)))
        return None, ""
    except IllPosed as e:
        problems.append((_ill_kind(e), str(e)))
        return None, ""
    except ParseError as e:
        problems.append(("unreadable", str(e)))
        return None, ""
    v = arith.value
    derivation = f"{arith.text} = {_num(v)}"
    if v.denominator != 1:
        problems.append(("non_integer", f"{arith.text} = {_num(v)} is not a whole number"))
        return None, derivation
    if not 1 <= v <= max_count:
        problems.append(("out_of_range", f"{arith.text} = {_num(v)}: not a count of 1..{max_count} objects"))
        return None, derivation
    return int(v), derivation


def audit_math(
    item_id: str,
    prompt: str,
    answer_text: str,
    claims: dict[str, str] | None = None,
    max_count: int = DEFAULT_MAX_COUNT,
) -> Finding:
    """Audit one math item: `answer_text` like "3 cups"; `claims` are further stated strings that must
    equal derived ones (name -> stated, e.g. {"probe answer": "3"}) and are checked as "<count>"."""
    problems: list[tuple[str, str]] = []
    count, derivation = _arithmetic(prompt, max_count, problems)
    stated = split_count(answer_text)
    stated_noun = stated[1] if stated else None
    if stated is None:
        problems.append(("no_object", f"the answer {answer_text!r} is not '<count> <object>'"))
    framed = prompt_object(prompt)
    if stated_noun and framed:
        # The prompt's own object phrase decides: "3 cars" is not "toy cars", "8 socks" not "pairs of socks".
        in_prompt = framed if same_noun(framed, stated_noun) else None
    else:
        in_prompt = named_in(prompt, stated_noun) if stated_noun else None
    obj = in_prompt or framed
    if stated_noun and in_prompt is None:
        if obj is None:
            problems.append(
                ("no_object", f"the prompt names no object to draw (the answer says {stated_noun!r})")
            )
        else:
            problems.append(("wrong_answer", f"the prompt asks for {obj}, the answer says {stated_noun!r}"))
    derived = None
    answer = None
    if count is not None and obj:
        answer = {"kind": "count", "count": count, "object": object_key(obj)}
    if count is not None:
        key = canonical(obj) if obj else None
        shown = (singular_phrase(obj) if count == 1 else obj) if obj else None
        derived = _count_text(count, key) if key else (f"{count} {shown}" if shown else str(count))
        if stated is not None and stated[0] != count:
            problems.append(("wrong_answer", f"derived {derived}, stated {answer_text!r}"))
        for name, value in (claims or {}).items():
            if not _claim_ok(name, value, count, obj or stated_noun or ""):
                problems.append(("wrong_answer", f"derived {derived}, {name} says {value!r}"))
    return _finding(
        item_id, problems, derived=derived, stated=answer_text, derivation=derivation, answer=answer
    )


def _claim_ok(name: str, value: str, count: int, obj: str) -> bool:
    if name != "final step":
        return value == str(count)
    if not value.startswith("answer: "):
        return False
    got = split_count(value.removeprefix("answer: "))
    return got is not None and got[0] == count and same_noun(got[1], obj)


# --------------------------------------------------------------------------------------------- mapping

NO_ANSWER = re.compile(r"^\s*(?:undefined|n/?a|none|null|unknown|nothing|-+|\?+)\s*\.?\s*$", re.IGNORECASE)


def audit_mapping(
    item_id: str, prompt: str, answer_text: str, claims: dict[str, str] | None = None
) -> Finding:
    """Audit one mapping question: the stated answer must be the object the queried symbol resolves to."""
    read = read_mapping(prompt)
    res = resolve(read)
    derivation = res.derivation()
    if res.status != "ok" and read.rules:
        # Show every rule read, so an undefined or conflicting chain can be checked by eye.
        derivation += "; rules read: " + ", ".join(f"{r.source} -> {r.target.text}" for r in read.rules)
    problems: list[tuple[str, str]] = []
    if res.status != "ok":
        problems.append((res.status, f"{res.detail} (stated {answer_text!r})"))
    else:
        obj = res.object or ""
        if NO_ANSWER.match(answer_text):
            problems.append(("wrong_answer", f"derived {obj}, stated {answer_text!r}"))
        elif not same_noun(obj, answer_text.strip().rstrip(".")):
            problems.append(("wrong_answer", f"derived {obj}, stated {answer_text!r}"))
        for name, value in (claims or {}).items():
            if not same_noun(obj, value.removeprefix("answer: ")):
                problems.append(("wrong_answer", f"derived {obj}, {name} says {value!r}"))
    answer = {"kind": "object", "object": object_key(res.object)} if res.object else None
    return _finding(
        item_id, problems, derived=res.object, stated=answer_text, derivation=derivation, answer=answer
    )


def check_pairs(findings: list[Finding], groups: dict[int, str]) -> list[Finding]:
    """Pair checks on mapping findings (`groups`: index in `findings` -> pair id of each readable
    question): A = B, swapped answers, half pairs."""
    by_group: dict[str, list[int]] = {}
    for i, g in sorted(groups.items()):
        by_group.setdefault(g, []).append(i)
    out = list(findings)
    for g, idx in by_group.items():
        if len(idx) != 2:
            for i in idx:
                out[i] = _add(out[i], "malformed", f"pair {g} has {len(idx)} readable question(s), not 2")
            continue
        a, b = out[idx[0]], out[idx[1]]
        if a.derived and b.derived and same_noun(a.derived, b.derived):
            note = f"A and B of pair {g} both resolve to {a.derived}"
            out[idx[0]], out[idx[1]] = _add(a, "same_answer", note), _add(b, "same_answer", note)
        elif (
            a.derived
            and b.derived
            and a.stated
            and b.stated
            and same_noun(a.derived, b.stated)
            and same_noun(b.derived, a.stated)
        ):
            note = f"the answers of A and B are swapped (A is {a.derived}, B is {b.derived})"
            out[idx[0]], out[idx[1]] = _add(a, "wrong_answer", note), _add(b, "wrong_answer", note)
    return out


def _add(f: Finding, kind: str, detail: str) -> Finding:
    problems = [*f.problems, (kind, detail)]
    kw = {k: v for k, v in asdict(f).items() if k not in ("id", "kind", "detail", "problems")}
    return _finding(f.id, problems, **kw)


# ------------------------------------------------------------------------------------------- knowledge

_FRUIT_KEYS = {f.singular for f in FRUITS}
_FLOWER_KEYS = {f.singular for f in FLOWERS}


def _person_ok(p: PersonAnswer) -> str | None:
    for name, allowed in PERSON_ATTRIBUTES.items():
        if getattr(p, name) not in allowed:
            return f"{name} {getattr(p, name)!r} is not one of {', '.join(allowed)}"
    return None


def audit_knowledge_item(item: Item) -> Finding:
    """Check a knowledge item's answer is well formed, fits its prompt's kind, and agrees with its probe."""
    e = item.expected
    if isinstance(e, PersonAnswer):
        problem = _person_ok(e)
        if problem:
            return _finding(item.id, [("no_object", f"no valid person in the answer: {problem}")])
        if item.probe.answer != person_text(e) and item.subtask != "inverse":
            return _finding(
                item.id, [("wrong_answer", f"answer {person_text(e)!r}, probe says {item.probe.answer!r}")]
            )
        if item.subtask == "inverse" and not find_nouns(item.prompt):
            return _finding(item.id, [("unreadable", "inverse prompt names no fruit or flower")])
        return _finding(item.id, [], derived=person_text(e))
    if isinstance(e, FruitAnswer | FlowerAnswer):
        value = e.fruit if isinstance(e, FruitAnswer) else e.flower
        keys = _FRUIT_KEYS if isinstance(e, FruitAnswer) else _FLOWER_KEYS
        if value not in keys:
            return _finding(item.id, [("no_object", f"no {e.kind} named in the answer ({value!r})")])
        if item.probe.answer != value:
            return _finding(
                item.id, [("wrong_answer", f"answer {value!r}, probe says {item.probe.answer!r}")]
            )
        return _finding(item.id, [], derived=value)
    return _finding(item.id, [("no_object", f"a knowledge item cannot have a {e.kind} answer")])


def audit_knowledge_text(item_id: str, prompt: str, answer_text: str) -> Finding:
    """Check a study-format knowledge answer names a fruit, a flower or a full person description."""
    person = parse_person(answer_text)
    if person is not None:
        return _finding(item_id, [], derived=person_text(person), stated=answer_text)
    key = canonical(answer_text.strip().rstrip("."))
    if key in _FRUIT_KEYS or key in _FLOWER_KEYS:
        return _finding(item_id, [], derived=key, stated=answer_text)
    return _finding(
        item_id,
        [("no_object", f"no fruit, flower or person named in the answer {answer_text!r}")],
        stated=answer_text,
    )


# ------------------------------------------------------------------------------------------- our items


def audit_item(item: Item, max_count: int = DEFAULT_MAX_COUNT) -> Finding:
    """Audit one of our items: expected answer, probe answer and final step against the prompt."""
    e = item.expected
    final = {"final step": item.steps[-1]} if item.steps else {}
    if item.task == "math":
        if not isinstance(e, CountAnswer):
            return _finding(item.id, [("no_object", f"a math item needs a count answer, has {e.kind}")])
        answer = _count_text(e.count, e.object)
        return audit_math(
            item.id, item.prompt, answer, {"probe answer": item.probe.answer, **final}, max_count
        )
    if item.task == "mapping":
        if not isinstance(e, ObjectAnswer):
            return _finding(item.id, [("no_object", f"a mapping item needs an object answer, has {e.kind}")])
        return audit_mapping(item.id, item.prompt, e.object, {"probe answer": item.probe.answer, **final})
    return audit_knowledge_item(item)


def _audit_ours(path: Path, max_count: int) -> list[Finding]:
    out: list[Finding] = []
    groups: dict[int, str] = {}
    seen: dict[str, int] = {}
    for lineno, raw, problem in read_lines(path):
        rid = str(raw.get("id")) if raw and "id" in raw else f"line {lineno}"
        if raw is not None and problem is None:
            try:
                item = Item.model_validate(raw)
            except ValidationError as e:
                first = e.errors()[0]
                loc = ".".join(str(p) for p in first["loc"]) or "<record>"
                problem = f"field '{loc}': {first['msg']}"
            else:
                if item.id in seen:
                    problem = f"duplicate id {item.id!r} (first on line {seen[item.id]})"
        if problem:
            out.append(_finding(rid, [("malformed", problem)], line=lineno))
            continue
        seen[item.id] = lineno
        f = audit_item(item, max_count)
        out.append(Finding(**{**asdict(f), "line": lineno}))
        if item.task == "mapping" and item.group:
            groups[len(out) - 1] = item.group
    return check_pairs(out, groups)


def audit_file(path: str | Path, max_count: int = DEFAULT_MAX_COUNT) -> list[Finding]:
    """Audit every item of one file (our format or one of the study's three test formats), per item.

    A malformed row is one `malformed` finding; the rest of the file is still audited. Training corpora
    (ours or the study's conversations) hold no test items: they yield no findings.

    Raises InputError (exit code 2) only when the file as a whole is unusable.
    """
    path = Path(path)
    fmt = sniff_format(path)
    if fmt in TRAINING_FORMATS:
        return []
    if fmt == OURS:
        found = _audit_ours(path, max_count)
    else:
        found = _audit_study(path, max_count)
    return [Finding(**{**asdict(f), "file": str(path)}) for f in found]


def _audit_study(path: Path, max_count: int) -> list[Finding]:
    fmt, rows = read_rows(path)
    out: list[Finding] = []
    groups: dict[int, str] = {}
    for r in rows:
        if fmt == STUDY_MAPPING and readable(r):
            groups[len(out)] = r.group or r.id
        out.append(audit_row(path, fmt, r, max_count))
    return check_pairs(out, groups)


def readable(r: StudyRow) -> bool:
    """True when a study row has a question and an answer and no problem of its own."""
    return r.problem is None and r.question is not None and r.answer is not None


def audit_row(path: Path, fmt: str, r: StudyRow, max_count: int = DEFAULT_MAX_COUNT) -> Finding:
    """The audit of one row of a study test file in format `fmt`, with its line (a malformed row's
    finding is "malformed")."""
    if not readable(r) or r.question is None or r.answer is None:
        return _finding(r.id, [("malformed", r.problem or "no question")], line=r.line)
    if fmt == STUDY_MATH:
        f = audit_math(r.id, r.question, r.answer, None, max_count)
    elif fmt == STUDY_MAPPING:
        f = audit_mapping(r.id, r.question, r.answer)
    elif fmt == STUDY_KNOWLEDGE:
        f = audit_knowledge_text(r.id, r.question, r.answer)
    else:
        raise InputError(f"{path}: cannot audit a {fmt} file")
    return replace(f, line=r.line)


def summarize(findings: list[Finding]) -> dict[str, object]:
    """The `--json` report: {"items", "problems", "by_kind", "problems_list": [{"id", "kind", "detail",
    "file", "line", "stated", "derived", "derivation"}]}."""
    by_kind = Counter(f.kind for f in findings)
    problems = [f for f in findings if f.kind != "ok"]
    keys = ("id", "kind", "detail", "file", "line", "stated", "derived", "derivation")
    return {
        "items": len(findings),
        "problems": len(problems),
        "by_kind": {k: by_kind.get(k, 0) for k in KINDS},
        "problems_list": [{k: getattr(f, k) for k in keys} for f in problems],
    }


def findings_jsonl(findings: list[Finding]) -> str:
    """One JSON object per finding (every field), for `data audit --findings FILE`."""
    return "".join(json.dumps(asdict(f), ensure_ascii=False) + "\n" for f in findings)


__all__ = [
    "DEFAULT_MAX_COUNT",
    "KINDS",
    "Finding",
    "audit_file",
    "audit_item",
    "audit_mapping",
    "audit_math",
    "check_pairs",
    "named_in",
    "object_key",
    "prompt_object",
    "render_report",
    "summarize",
]


def render_report(findings: list[Finding], command: str) -> str:
    """A Markdown report: one table row per file (counts by kind), then every flagged item with its
    stated answer, derived answer and derivation. `command` is printed as the command that made it."""
    files: dict[str, list[Finding]] = {}
    for f in findings:
        files.setdefault(f.file or "-", []).append(f)
    used = [k for k in KINDS[1:] if any(f.kind == k for f in findings)]
    lines = [
        "<!-- generated; do not edit by hand -->",
        f"Produced by `{command}`.",
        "",
        "| file | items | ok | flagged | flagged pairs | " + " | ".join(used) + " |",
        "| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in used) + " |",
    ]
    for name, fs in files.items():
        counts = Counter(f.kind for f in fs)
        pairs = {f.id.rsplit("_", 1)[0] for f in fs if f.kind != "ok" and re.search(r"_[AB]$|^\d+$", f.id)}
        paired = any(re.search(r"_[AB]$", f.id) for f in fs)
        cells = [
            Path(name).name,
            str(len(fs)),
            str(counts.get("ok", 0)),
            str(len(fs) - counts.get("ok", 0)),
            str(len(pairs)) if paired else "-",
        ]
        lines.append("| " + " | ".join(cells + [str(counts.get(k, 0)) for k in used]) + " |")
    for name, fs in files.items():
        flagged = [f for f in fs if f.kind != "ok"]
        lines += ["", f"## {Path(name).name}: {len(flagged)} flagged of {len(fs)}", ""]
        for f in flagged:
            where = f"line {f.line}" if f.line else ""
            parts = [f"- `{f.id}` ({where}) **{f.kind}**: {f.detail}."]
            if f.stated is not None:
                parts.append(f"Stated: `{f.stated}`.")
            if f.derived is not None:
                parts.append(f"Derived: `{f.derived}`.")
            if f.derivation:
                parts.append(f"Derivation: `{f.derivation}`.")
            lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"
