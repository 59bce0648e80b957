"""Audit: clean data passes; planted errors are flagged exactly, in our format and the study's."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from unisandbox.cli import app
from unisandbox.tasks.audit import KINDS, audit_file, audit_item, audit_math
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
    {
        "Question": "Generate as many apples as the result of 17 / 5, then rounded down.",
        "Answer": "3 apples",
        "id": "3",
    },
    {
        "Question": "Generate as many hats as the result of 7 / 2.",
        "Answer": "3 hats",
        "id": "4",
    },  # non-integer
    {"Question": "Generate as many keys as the square root of 16 minus 2.", "Answer": "2 keys", "id": "5"},
    {"Question": "Generate as many bells as 3 squared minus 9.", "Answer": "0 bells", "id": "6"},  # zero
    {
        "Question": "Generate as many kites as the remainder of 7 divided by 4.",
        "Answer": "3",
        "id": "7",
    },  # no object
    {"Question": "Generate a lovely picture of some stars.", "Answer": "2 stars", "id": "8"},  # no arithmetic
    {"Question": "Show √(9 - 5) * 3 / 2 drums.", "Answer": "3 drums", "id": "9"},
    {"Question": "Generate as many cups as 2 × 2.", "Answer": "4 chairs", "id": "10"},  # wrong object
    # Right items in the study's English that an audit must not flag.
    {
        "Question": "Create the same quantity of scarves as 9 / 4 equals then rounded down.",
        "Answer": "2 scarves",
        "id": "11",
    },
    {"Question": "Provide the number of polar bears equal to 3^2 / 9.", "Answer": "1 polar bear", "id": "12"},
    {
        "Question": "Produce as many pairs of gloves as (8 - 2) / 3 + 1.",
        "Answer": "3 pairs of gloves",
        "id": "13",
    },
    {"Question": "Make as many mice as √9 - 1.", "Answer": "2 mice", "id": "14"},
    {"Question": "Produce a number of geese equal to 10 / √25.", "Answer": "2 goose", "id": "15"},
    # Wrong ones in the same English.
    {
        "Question": "Produce as many pairs of gloves as 2 + 2.",
        "Answer": "4 gloves",
        "id": "16",
    },  # a pair is the unit
    {"Question": "Show the outcome of (6 % 4) * 1 + 1.", "Answer": "3 toys", "id": "17"},  # names no object
    {
        "Question": "Generate the outcome of the square root of 9 minus 2, then add 3.",
        "Answer": "4 items",
        "id": "18",
    },  # = 4, but no object
    {
        "Question": "Create the same quantity of vases as √(K² + 8) where K = 2.",
        "Answer": "3 vases",
        "id": "19",
    },
    {
        "Question": "Produce the result of (5 - 3) where all terms are cubed, then take square root twice.",
        "Answer": "2 balls",
        "id": "20",
    },  # several readings
]
EXPECTED_MATH = {
    "2": "wrong_answer",
    "4": "non_integer",
    "6": "out_of_range",
    "7": "no_object",
    "8": "unreadable",
    "10": "wrong_answer",
    "16": "wrong_answer",
    "17": "no_object",
    "18": "no_object",
    "19": "non_integer",
    "20": "ambiguous",
}
STUDY_MAPPING = [
    {
        "ID": "1",
        "Question_A": "The symbol A represents chairs. The letter B means symbol A. Draw what B represents.",
        "Answer": "chairs",
    },
    {
        "ID": "1",
        "Question_B": "The symbol C represents cups. The letter D means symbol C. Draw what D represents.",
        "Answer": "cup",
    },
    {
        "ID": "2",
        "Question_A": "The symbol A represents cups. The letter C means symbol D. Draw what C represents.",
        "Answer": "undefined",
    },  # undefined symbol
    {
        "ID": "2",
        "Question_B": "The symbol A represents cups. The letter C means symbol D. Draw what A represents.",
        "Answer": "cups",
    },
    {
        "ID": "3",
        "Question_A": "The symbol # stands for keys. The letter K is represented by the symbol @. "
        "Draw what @ represents.",
        "Answer": "keys",
    },  # @ -> K, K undefined
    {
        "ID": "3",
        "Question_B": "The symbol # stands for keys. The symbol # represents balls. Draw what # represents.",
        "Answer": "keys",
    },  # conflicting rules
    {
        "ID": "4",
        "Question_A": "The digit 7 refers to trees. Draw what 7 represents.",
        "Answer": "moons",
    },  # wrong
    {
        "ID": "4",
        "Question_B": "The digit 7 refers to trees. Please be creative.",
        "Answer": "trees",
    },  # no query
    {
        "ID": "5",
        "Question_A": "The letter A means symbol B. The letter B means symbol A. Draw what A represents.",
        "Answer": "cups",
    },  # cycle
    {
        "ID": "5",
        "Question_B": "Cups are represented by the symbol %. Draw what % represents.",
        "Answer": "cups",
    },
    # Study style: A and B resolve to the same object; answers swapped; a well-posed pair.
    {
        "ID": "6",
        "Question_A": "Rule 1: 'C' maps to 'B'. Rule 2: 'B' maps to '%'. Rule 3: The symbol '%' represents "
        "owl. Rule 4: The symbol '^' represents hen. Please generate the bird represented by the symbol 'C'.",
        "Answer": "owl",
    },
    {
        "ID": "6",
        "Question_B": "Rule 1: 'C' maps to 'B'. Rule 2: 'B' maps to '%'. Rule 3: The symbol '%' represents "
        "owl. Rule 4: The symbol '^' represents hen. Please generate the bird represented by the symbol 'B'.",
        "Answer": "hen",
    },
    {
        "ID": "7",
        "Question_A": "Rule 1: The digit 4 represents rakes. Rule 2: 'E' maps to 4. Rule 3: '#' maps to 3. "
        "Rule 4: The digit 3 represents hoes. Please generate the tool represented by the letter 'E'.",
        "Answer": "hoes",
    },
    {
        "ID": "7",
        "Question_B": "Rule 1: The digit 4 represents rakes. Rule 2: 'E' maps to 4. Rule 3: '#' maps to 3. "
        "Rule 4: The digit 3 represents hoes. Please generate the tool represented by the letter '#'.",
        "Answer": "rakes",
    },
    {
        "ID": "8",
        "Question_A": "Rule 1: 'AA' refers to '&'. Rule 2: '&' means a teddy bear. Please generate the toy "
        "represented by the letter 'AA'.",
        "Answer": "teddy bear",
    },
    {
        "ID": "8",
        "Question_B": "Rule 1: 'BB' refers to 9. Rule 2: 9 means a rocking horse. Please generate the toy "
        "represented by the letter 'BB'.",
        "Answer": "rocking horses",
    },
]
EXPECTED_MAPPING = {
    "2_A": "undefined",
    "3_A": "undefined",
    "3_B": "ambiguous",
    "4_A": "wrong_answer",
    "4_B": "undefined",
    "5_A": "unresolved",
    "6_A": "same_answer",
    "6_B": "wrong_answer",
    "7_A": "wrong_answer",
    "7_B": "wrong_answer",
}


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_study_math_fixture_flags_exactly_the_planted_items(tmp_path):
    found = {f.id: f for f in audit_file(_write(tmp_path / "math.jsonl", STUDY_MATH))}
    problems = {i: f.kind for i, f in found.items() if f.kind != "ok"}
    assert problems == EXPECTED_MATH
    assert "derived 6 eggs" in found["2"].detail and found["2"].derivation == "12 / 2 = 6"
    assert found["11"].derivation == "9 / 4 equals then rounded down = 2"
    assert found["13"].answer == {"kind": "count", "count": 3, "object": "pair of gloves"}
    assert found["18"].derivation == "the square root of 9 minus 2, then add 3 = 4"
    assert found["16"].detail == "the prompt asks for pairs of gloves, the answer says 'gloves'"
    assert found["12"].derived == "1 polar bear"


def test_study_mapping_fixture_flags_exactly_the_planted_items(tmp_path):
    found = {f.id: f for f in audit_file(_write(tmp_path / "map.jsonl", STUDY_MAPPING))}
    problems = {i: f.kind for i, f in found.items() if f.kind != "ok"}
    assert problems == EXPECTED_MAPPING
    assert found["6_A"].derivation == "C -> B -> % -> owl" and "both resolve to owl" in found["6_A"].detail
    assert "swapped" in found["7_A"].detail
    assert found["8_A"].answer == {"kind": "object", "object": "teddy bear"}
    assert found["3_A"].derivation == (
        "@ -> K -> ? (no rule says what K stands for); rules read: # -> keys, @ -> K"
    )


def test_a_malformed_row_is_one_problem_and_the_rest_is_audited(tmp_path):
    lines = [json.dumps(r) for r in STUDY_MAPPING[:4]]
    lines.insert(2, '{"ID": "9", "Question_A": "Draw')  # broken JSON
    lines.append(
        json.dumps(
            {
                "ID": "1",
                "Question_A": "The digit 7 refers to trees. Draw what 7 represents.",
                "Answer": "trees",
            }
        )
    )  # duplicate id
    lines.append(json.dumps({"ID": "10", "Question_A": "x", "Question_B": "y", "Answer": "z"}))  # both sides
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = audit_file(path)
    assert [(f.id, f.kind, f.line) for f in found if f.kind == "malformed"] == [
        ("line 3", "malformed", 3),
        ("1_A", "malformed", 6),
        ("10", "malformed", 7),
    ]
    assert "duplicate id '1_A' (first on line 1)" in found[5].detail
    assert {f.id: f.kind for f in found if f.line in (1, 2, 4, 5)} == {
        "1_A": "ok",
        "1_B": "ok",
        "2_A": "undefined",
        "2_B": "ok",
    }
    res = runner.invoke(app, ["data", "audit", str(path)])
    assert res.exit_code == 1
    assert f"{path}:3: malformed" in res.output and f"{path}:4: undefined" in res.output


def test_unusable_files_exit_2(tmp_path):
    for name, text in (("empty.jsonl", "\n"), ("junk.jsonl", "not json\n{\n"), ("other.jsonl", '{"a": 1}\n')):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        res = runner.invoke(app, ["data", "audit", str(path)])
        assert res.exit_code == 2, (name, res.output)
        assert str(path) in res.output
    res = runner.invoke(app, ["data", "audit", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 2


def test_report_lists_every_flagged_item_with_its_derivation(tmp_path):
    path = _write(tmp_path / "map.jsonl", STUDY_MAPPING)
    report = tmp_path / "audit.md"
    res = runner.invoke(app, ["data", "audit", str(path), "--report", str(report)])
    assert res.exit_code == 1
    text = report.read_text()
    assert f"Produced by `unisandbox data audit {path} --report {report}`." in text
    assert "| map.jsonl | 16 | 6 | 10 |" in text
    for item_id in EXPECTED_MAPPING:
        assert f"- `{item_id}` (line " in text
    assert "Derivation: `C -> B -> % -> owl`." in text


def test_study_knowledge_fixture(tmp_path):
    recs = [
        {"ID": "k1", "Question": "Draw Zhubira's favourite fruit.", "Answer": "grapes"},
        {
            "ID": "k2",
            "Question": "Generate a portrait of Zhubira.",
            "Answer": "female, kid, red hair, dark skin",
        },
        {"ID": "k3", "Question": "Draw Zhubira's favourite flower.", "Answer": "undefined"},
    ]
    problems = {f.id: f.kind for f in audit_file(_write(tmp_path / "k.jsonl", recs)) if f.kind != "ok"}
    assert problems == {"k3": "no_object"}


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
    mapping = _plant(
        mapping, 11, prompt="The letter Q means the symbol #. Draw what the letter Q represents."
    )
    write_items(tmp_path / "math.jsonl", math)
    write_items(tmp_path / "mapping.jsonl", mapping)
    found = audit_file(tmp_path / "math.jsonl") + audit_file(tmp_path / "mapping.jsonl")
    problems = {f.id: f.kind for f in found if f.kind != "ok"}
    assert problems == {
        math[4].id: "wrong_answer",
        math[9].id: "non_integer",
        math[14].id: "out_of_range",
        math[19].id: "unreadable",
        mapping[6].id: "wrong_answer",
        q.id: "undefined",
    }


def test_cli_audit_json_and_exit_codes(tmp_path):
    clean = tmp_path / "clean.jsonl"
    write_items(clean, math_items(1, 1, 10))
    res = runner.invoke(app, ["data", "audit", str(clean), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["items"] == 10 and out["problems"] == 0 and out["problems_list"] == []
    assert out["by_kind"] == {k: (10 if k == "ok" else 0) for k in KINDS}
    bad = _write(tmp_path / "study_math.jsonl", STUDY_MATH)
    res = runner.invoke(app, ["data", "audit", str(bad), str(clean), "--json"])
    assert res.exit_code == 1
    out = json.loads(res.output)
    assert out["items"] == len(STUDY_MATH) + 10 and out["problems"] == len(EXPECTED_MATH)
    assert {p["id"]: p["kind"] for p in out["problems_list"]} == EXPECTED_MATH
    assert set(out["problems_list"][0]) == {
        "id",
        "kind",
        "detail",
        "file",
        "line",
        "stated",
        "derived",
        "derivation",
    }


@pytest.mark.parametrize(
    "question,answer,kind",
    [
        ("Show a quantity of toy cars equal to 6 / 2.", "3 toy cars", "ok"),
        (
            "Show a quantity of toy cars equal to 6 / 2.",
            "3 cars",
            "wrong_answer",
        ),  # a compound names one thing
        ("Create as many pairs of shoes as 2 * 2.", "8 shoes", "wrong_answer"),
        ("Generate as many geese as the result of 9 / 3.", "3 goose", "ok"),
        ("Produce a number of kittens equal to 5 - 3.", "two kittens", "ok"),
        ("Make as many candles as 7 / 2 then round it down.", "3 candles", "ok"),
        ("Draw 3 + 1 balloons.", "4 balloons", "ok"),
        ("Draw as many butterflies as the square root of 9.", "3 moths", "wrong_answer"),
        ("Generate the number of stars equal to 10 / 0.", "1 star", "undefined"),
        ("Generate as many pencils as 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1.", "10 pencils", "out_of_range"),
        ("Create as many bowls as the remainder when 9 is divided by 4.", "1 bowl", "ok"),
        ("Produce a number of mugs equal to 2 to the power of 3 divided by 4.", "2 mugs", "ok"),
        ("Generate as many spoons as the result of 15 / 4, rounded down.", "3 spoons", "ok"),
        ("Produce a number of ducks equal to 2³ - 5.", "3 ducks", "ok"),
    ],
)
def test_math_paraphrases(question, answer, kind):
    assert audit_math("x", question, answer).kind == kind
