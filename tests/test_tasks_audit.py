"""Audit: clean data passes; planted errors are flagged exactly, in our format and the study's."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from unisandbox.cli import app
from unisandbox.tasks.audit import audit_file, audit_item
from unisandbox.tasks.base import CountAnswer, ObjectAnswer, write_items
from unisandbox.tasks.knowledge import knowledge_world
from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items

runner = CliRunner()


@pytest.mark.parametrize("seed", range(10))
def test_generated_data_has_no_problems(seed):
    items = []
    for level in (1, 2, 3):
        items += math_items(seed, level, 20, "test") + math_items(seed, level, 10, "train")
        items += mapping_items(seed, level, 8, "test") + mapping_items(seed, level, 4, "train")
    items += list(knowledge_world(seed).items)
    bad = [(f, it.prompt) for it in items if (f := audit_item(it)).kind != "ok"]
    assert not bad


STUDY_MATH = [
    {"Question": "Generate as many cups as the result of 8 / 4.", "Answer": "2 cups", "id": "1"},
    {"Question": "Draw a number of eggs equal to 12 / 2.", "Answer": "3 eggs", "id": "2"},  # 6 labelled 3
    {"Question": "Generate as many apples as the result of 17 / 5, then rounded down.", "Answer": "3 apples", "id": "3"},
    {"Question": "Generate as many hats as the result of 7 / 2.", "Answer": "3 hats", "id": "4"},  # non-integer
    {"Question": "Generate as many keys as the square root of 16 minus 2.", "Answer": "2 keys", "id": "5"},
    {"Question": "Generate as many bells as 3 squared minus 9.", "Answer": "0 bells", "id": "6"},  # out of range
    {"Question": "Generate as many kites as the remainder of 7 divided by 4.", "Answer": "3", "id": "7"},  # no object
    {"Question": "Generate a lovely picture of some stars.", "Answer": "2 stars", "id": "8"},  # unparseable
    {"Question": "Show √(9 - 5) * 3 / 2 drums.", "Answer": "3 drums", "id": "9"},
    {"Question": "Generate as many cups as 2 × 2.", "Answer": "4 chairs", "id": "10"},  # wrong object
]
EXPECTED_MATH = {
    "2": "wrong_answer", "4": "ill_posed", "6": "ill_posed", "7": "ill_posed", "8": "unparseable", "10": "wrong_answer",
}
STUDY_MAPPING = [
    {"ID": "1", "Question_A": "The symbol A represents chairs. The letter B means symbol A. Draw what B represents.",
     "Answer": "chairs"},
    {"ID": "1", "Question_B": "The symbol A represents chairs. The letter B means symbol A. Draw what A represents.",
     "Answer": "chair"},
    {"ID": "2", "Question_A": "The symbol A represents cups. The letter C means symbol D. Draw what C represents.",
     "Answer": "undefined"},  # undefined symbol
    {"ID": "2", "Question_B": "The symbol A represents cups. The letter C means symbol D. Draw what A represents.",
     "Answer": "cups"},
    {"ID": "3", "Question_A": "The symbol # stands for keys. The letter K is represented by the symbol @. "
     "Draw what @ represents.", "Answer": "keys"},  # @ -> K, K undefined
    {"ID": "3", "Question_B": "The symbol # stands for keys. The symbol # represents balls. Draw what # represents.",
     "Answer": "keys"},  # conflicting rules
    {"ID": "4", "Question_A": "The digit 7 refers to trees. Draw what 7 represents.", "Answer": "moons"},  # wrong
    {"ID": "4", "Question_B": "The digit 7 refers to trees. Please be creative.", "Answer": "trees"},  # no query
    {"ID": "5", "Question_A": "The letter A means symbol B. The letter B means symbol A. Draw what A represents.",
     "Answer": "cups"},  # cycle
    {"ID": "5", "Question_B": "Cups are represented by the symbol %. Draw what % represents.", "Answer": "cups"},
]
EXPECTED_MAPPING = {
    "2_A": "ill_posed", "3_A": "ill_posed", "3_B": "ill_posed", "4_A": "wrong_answer", "4_B": "unparseable",
    "5_A": "ill_posed",
}


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_study_math_fixture_flags_exactly_the_planted_items(tmp_path):
    found = {f.id: f for f in audit_file(_write(tmp_path / "math.jsonl", STUDY_MATH))}
    problems = {i: f.kind for i, f in found.items() if f.kind != "ok"}
    assert problems == EXPECTED_MATH
    assert "derived 6 eggs" in found["2"].detail


def test_study_mapping_fixture_flags_exactly_the_planted_items(tmp_path):
    found = audit_file(_write(tmp_path / "map.jsonl", STUDY_MAPPING))
    problems = {f.id: f.kind for f in found if f.kind != "ok"}
    assert problems == EXPECTED_MAPPING


def test_study_knowledge_fixture(tmp_path):
    recs = [
        {"ID": "k1", "Question": "Draw Zhubira's favourite fruit.", "Answer": "grapes"},
        {"ID": "k2", "Question": "Generate a portrait of Zhubira.", "Answer": "female, kid, red hair, dark skin"},
        {"ID": "k3", "Question": "Draw Zhubira's favourite flower.", "Answer": "undefined"},
    ]
    problems = {f.id: f.kind for f in audit_file(_write(tmp_path / "k.jsonl", recs)) if f.kind != "ok"}
    assert problems == {"k3": "ill_posed"}


def _plant(items, index, **update):
    items = list(items)
    items[index] = items[index].model_copy(update=update)
    return items


def test_planted_errors_in_our_format(tmp_path):
    math = math_items(31, 2, 30)
    m = math[4]
    wrong = CountAnswer(count=m.expected.count % 4 + 1, object=m.expected.object)
    math = _plant(math, 4, expected=wrong)
    math = _plant(math, 9, prompt=f"Generate as many {'cups'} as the result of 7 / 2.")
    math = _plant(math, 14, prompt="Generate as many cups as the result of 9 - 9.")
    math = _plant(math, 19, prompt="Draw some cups, as many as you like.")
    mapping = mapping_items(31, 2, 10)
    a = mapping[6]
    other = next(o for o in ("chair", "cup") if o != a.expected.object)
    mapping = _plant(mapping, 6, expected=ObjectAnswer(object=other))
    q = mapping[11]
    mapping = _plant(mapping, 11, prompt="The letter Q means the symbol #. Draw what the letter Q represents.")
    write_items(tmp_path / "math.jsonl", math)
    write_items(tmp_path / "mapping.jsonl", mapping)
    found = audit_file(tmp_path / "math.jsonl") + audit_file(tmp_path / "mapping.jsonl")
    problems = {f.id: f.kind for f in found if f.kind != "ok"}
    assert problems == {
        math[4].id: "wrong_answer",
        math[9].id: "ill_posed",
        math[14].id: "ill_posed",
        math[19].id: "unparseable",
        mapping[6].id: "wrong_answer",
        q.id: "ill_posed",
    }


def test_cli_audit_json_and_exit_codes(tmp_path):
    clean = tmp_path / "clean.jsonl"
    write_items(clean, math_items(1, 1, 10))
    res = runner.invoke(app, ["data", "audit", str(clean), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {
        "items": 10, "problems": 0,
        "by_kind": {"ok": 10, "wrong_answer": 0, "ill_posed": 0, "unparseable": 0}, "problems_list": [],
    }
    bad = _write(tmp_path / "study_math.jsonl", STUDY_MATH)
    res = runner.invoke(app, ["data", "audit", str(bad), str(clean), "--json"])
    assert res.exit_code == 1
    out = json.loads(res.output)
    assert out["items"] == 20 and out["problems"] == len(EXPECTED_MATH)
    assert {p["id"]: p["kind"] for p in out["problems_list"]} == EXPECTED_MATH
    assert set(out["problems_list"][0]) == {"id", "kind", "detail"}
