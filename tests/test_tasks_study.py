"""Study-format import/export round trips; bad input is refused with file, line and field; exit 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from unisandbox.cli import app
from unisandbox.tasks.base import dump_items, read_items, write_items
from unisandbox.tasks.knowledge import knowledge_world
from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items
from unisandbox.tasks.study_format import (
    conversations_jsonl,
    read_conversations,
    read_study_file,
    study_jsonl,
)

runner = CliRunner()
KEEP = ("id", "task", "subtask", "level", "split", "prompt", "expected", "group")


@pytest.mark.parametrize(
    "make",
    [
        lambda: math_items(3, 2, 30),
        lambda: mapping_items(3, 3, 15),
        lambda: list(knowledge_world(3).items),
    ],
)
def test_round_trip(tmp_path, make):
    items = make()
    text = study_jsonl(items)
    path = tmp_path / "study.jsonl"
    path.write_text(text, encoding="utf-8")
    back = read_study_file(path)
    assert study_jsonl(back) == text
    assert [it.model_dump(include=set(KEEP)) for it in back] == [
        it.model_dump(include=set(KEEP)) for it in items
    ]


def test_conversations_round_trip(tmp_path):
    w = knowledge_world(4)
    path = tmp_path / "conv.jsonl"
    path.write_text(w.conversations_jsonl(), encoding="utf-8")
    assert conversations_jsonl(read_conversations(path)) == w.conversations_jsonl()


def test_cli_export_then_import(tmp_path):
    ours = tmp_path / "math_l1.jsonl"
    write_items(ours, math_items(5, 1, 12))
    assert runner.invoke(app, ["data", "export", str(ours), "--out", str(tmp_path / "study")]).exit_code == 0
    first = json.loads((tmp_path / "study" / "math_l1.jsonl").read_text().splitlines()[0])
    assert set(first) == {"Question", "Answer", "id"}
    res = runner.invoke(
        app, ["data", "import", str(tmp_path / "study" / "math_l1.jsonl"), "--out", str(tmp_path / "back")]
    )
    assert res.exit_code == 0, res.output
    back = read_items(tmp_path / "back" / "math_l1.jsonl")
    assert [b.expected for b in back] == [a.expected for a in read_items(ours)]


GOOD_MATH = {"Question": "Generate as many cups as the result of 8 / 4.", "Answer": "2 cups", "id": "a1"}
GOOD_OURS = json.loads(dump_items(math_items(1, 1, 1)).splitlines()[0])


BAD_ROWS = [
    (['{"Question": "x", "Answer": '], "malformed JSON"),
    ([{"Question": "Draw 2 cups.", "id": "a1"}], "field 'Answer': missing"),
    ([{**GOOD_MATH, "Extra": 1}], "field 'Extra': unknown field"),
    ([GOOD_MATH, GOOD_MATH], "duplicate id"),
    ([{**GOOD_MATH, "id": "../evil"}], "field 'id'"),
    ([{**GOOD_MATH, "id": "a/b"}], "field 'id'"),
    ([{**GOOD_MATH, "id": "bad\u0001id"}], "field 'id'"),
]
OURS_BAD_ROWS = [
    ([{**GOOD_OURS, "id": "x/../y"}], "field 'id'"),
    ([{**GOOD_OURS, "bogus": 1}], "field 'bogus'"),
    ([GOOD_OURS, GOOD_OURS], "duplicate id"),
]


def _src(tmp_path, lines):
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines), encoding="utf-8"
    )
    return src


@pytest.mark.parametrize(("lines", "field"), BAD_ROWS + OURS_BAD_ROWS)
def test_stats_refuses_bad_input(tmp_path, lines, field):
    src = _src(tmp_path, lines)
    res = runner.invoke(app, ["data", "stats", str(src)])
    assert res.exit_code == 2, res.output
    message = res.stderr if hasattr(res, "stderr") else res.output
    line = len(lines) if "duplicate" in field or len(lines) == 1 else 1
    assert (
        f"{src}:{line}:" in message and field.replace("duplicate id", "field 'id': duplicate id") in message
    )


@pytest.mark.parametrize(("lines", "field"), BAD_ROWS + OURS_BAD_ROWS)
def test_audit_reports_a_bad_row_and_audits_the_rest(tmp_path, lines, field):
    ours = isinstance(lines[0], dict) and "task" in lines[0]
    other = {**(GOOD_OURS if ours else GOOD_MATH), "id": "z9"}  # a good row in the same format
    src = _src(tmp_path, [*lines, other])
    res = runner.invoke(app, ["data", "audit", str(src)])
    assert res.exit_code == 1, res.output
    assert f"{src}:{len(lines)}: malformed" in res.output and field in res.output
    assert "1 problems" in res.output


@pytest.mark.parametrize(("lines", "field"), BAD_ROWS)
def test_import_skips_a_bad_row_and_keeps_the_rest(tmp_path, lines, field):
    src = _src(tmp_path, [*lines, {**GOOD_MATH, "id": "z9"}])
    out = tmp_path / "out"
    res = runner.invoke(app, ["data", "import", str(src), "--out", str(out)])
    assert res.exit_code == 1, res.output
    message = res.stderr if hasattr(res, "stderr") else res.output
    assert f"{src}:{len(lines)}: skipped row" in message and field in message
    kept = read_items(out / "in.jsonl")
    assert "z9" in [it.id for it in kept]


def test_import_of_an_unusable_file_exits_2_and_writes_nothing(tmp_path):
    for lines in (['{"Question": "x", "Answer": '], [{"Question": "Draw 2 cups.", "id": "a1"}]):
        src = _src(tmp_path, lines)
        out = tmp_path / "out"
        res = runner.invoke(app, ["data", "import", str(src), "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert not out.exists()


def test_generate_refuses_bad_options_and_writes_nothing(tmp_path):
    out = tmp_path / "gen"
    for bad in (
        ["--tasks", "math,poetry"],
        ["--split", "dev"],
        ["--holdout-objects", "unicorn"],
        ["--levels", "4"],
    ):
        res = runner.invoke(app, ["data", "generate", "--out", str(out), "--size", "3", *bad])
        assert res.exit_code == 2, (bad, res.output)
        assert not out.exists()


STUDY_STYLE_MAPPING = [
    {
        "ID": "1",
        "Question_A": "Rule 1: 'K' maps to 7. Rule 2: 7 means a teddy bear. Rule 3: 'L' maps to 8. Rule 4: 8 "
        "means a kite. Please generate the toy represented by the letter 'K'.",
        "Answer": "teddy bear",
    },
    {
        "ID": "1",
        "Question_B": "Rule 1: 'K' maps to 7. Rule 2: 7 means a teddy bear. Rule 3: 'L' maps to 8. Rule 4: 8 "
        "means a kite. Please generate the toy represented by the letter 'L'.",
        "Answer": "kites",
    },
    {
        "ID": "2",
        "Question_A": "Rule 1: % stands for radio. Rule 2: Letter F maps to !. Please generate the object "
        "represented by the letter 'F'.",
        "Answer": "N/A",
    },
    {
        "ID": "2",
        "Question_B": "Rule 1: % stands for radio. Rule 2: Letter F maps to !. Please generate the object "
        "represented by the symbol '%'.",
        "Answer": "radio",
    },
]


def test_import_keeps_every_item_with_stated_and_audited_answers(tmp_path):
    from unisandbox.tasks.study_import import import_study_file, with_answers

    src = tmp_path / "mapping3.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in STUDY_STYLE_MAPPING) + "{broken\n", encoding="utf-8")
    result = import_study_file(src, level=3)
    items = {it.id: it for it in result.items}
    assert list(items) == ["1_A", "1_B", "2_A", "2_B"] and [f.line for f in result.skipped] == [5]
    a = items["1_A"]
    assert a.expected.object == "teddy bear" and a.group == "1" and a.level == 3  # kept as text
    assert a.meta["answers"] == {
        "stated": {"kind": "object", "object": "teddy bear"},
        "audited": {"kind": "object", "object": "teddy bear"},
    }
    assert a.meta["audit"]["derivation"] == "K -> 7 -> teddy bear" and a.meta["stated_answer"] == "teddy bear"
    undefined = items["2_A"]
    assert undefined.meta["audit"]["kind"] == "undefined"
    assert undefined.meta["answers"] == {"stated": None, "audited": None}
    assert with_answers(undefined, "audited") is None and with_answers(undefined, "stated") is None
    assert with_answers(items["1_B"], "stated").expected.object == "kite"
    # The CLI writes the same items, names the skipped row and exits 1.
    out = tmp_path / "out"
    res = runner.invoke(app, ["data", "import", str(src), "--out", str(out)])
    assert res.exit_code == 1
    back = read_items(out / "mapping3.jsonl")
    assert [it.id for it in back] == ["1_A", "1_B", "2_A", "2_B"]
    assert back[2].meta["audit"]["derivation"] == (
        "F -> ! -> ? (no rule says what ! stands for); rules read: % -> radio, F -> !"
    )
