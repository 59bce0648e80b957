"""`unisandbox run --items` on study-format files written in the study's style (our own wording):
a VLM judge behind the fake OpenAI-compatible server, a fake model, `--answers stated|audited`, bad rows
skipped with a note, and the sandbox judge declining objects outside its vocabulary item by item."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from unisandbox.judges.fake_server import FakeVLM

MATH = [
    {"Question": "Generate as many cups as the result of 8 / 4.", "Answer": "2 cups.", "id": "1"},
    {"Question": "Provide as many keys as 10 % 3 + 1.", "Answer": "4 keys", "id": "2"},  # really 2
    {"Question": "Show the number of bells that equals √49 / 3.", "Answer": "2 bells", "id": "3"},  # 7/3
    {
        "Question": "Create the same quantity of hats as 9 / 4 equals then rounded down.",
        "Answer": "2 hats",
        "id": "4",
    },
]
RULES = (
    "Rule 1: The number 3 represents a kite. Rule 2: The symbol '%' maps to the number 4. Rule 3: The number "
    "4 represents a drum. Rule 4: The letter 'E' refers to the symbol '#'. Rule 5: The symbol '#' maps to the "
    "number 3. Rule 6: The letter 'F' refers to the symbol '%'."
)
MAPPING = [
    {
        "ID": "1",
        "Question_A": f"{RULES} Please generate the toy represented by the letter 'E'.",
        "Answer": "kite",
    },
    {
        "ID": "1",
        "Question_B": f"{RULES} Please generate the instrument represented by the letter 'F'.",
        "Answer": "drum",
    },
    {
        "ID": "2",
        "Question_A": "Rule 1: 'A' maps to 7. Rule 2: 7 means lamp. Please generate the item represented "
        "by the letter 'A'.",
        "Answer": "lamp",
    },
    {
        "ID": "2",
        "Question_B": "Rule 1: 'A' maps to 7. Rule 2: 7 means lamp. Please generate the item represented "
        "by the letter 'B'.",
        "Answer": "clock",
    },  # B has no rule
]


def _write(path: Path, records: list, extra: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + extra, encoding="utf-8")
    return path


def _run(out: Path, files: list[Path], *extra: str) -> subprocess.CompletedProcess:
    items = [a for f in files for a in ("--items", str(f))]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "UNISANDBOX_JUDGE_CACHE": str(out.parent / f"cache-{out.name}"),
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "unisandbox",
            "run",
            "--model",
            "fake:p_normal=1,p_think=1",
            "--modes",
            "normal",
            "--no-probes",
            *items,
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _items(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (out / "items.jsonl").read_text().splitlines())}


def test_vlm_judged_run_on_study_files_with_stated_or_audited_answers(tmp_path):
    math = _write(tmp_path / "math_2.jsonl", MATH, extra='{"Question": "broken\n')
    mapping = _write(tmp_path / "mapping3.jsonl", MAPPING)
    with FakeVLM() as server:
        prompt = Path(__file__).resolve().parent.parent / "docs" / "prompts" / "caption_open_v1.txt"
        vlm = (
            "--judge",
            f"vlm:{prompt}",
            "--judge-option",
            "model=fake-vlm",
            "--judge-option",
            f"base_url={server.base_url}",
        )
        audited = _run(tmp_path / "audited", [math, mapping], *vlm)
        stated = _run(tmp_path / "stated", [math, mapping], *vlm, "--answers", "stated")
    assert audited.returncode == 0, audited.stderr
    assert stated.returncode == 0, stated.stderr
    for proc in (audited, stated):
        assert f"{math}:5: row line 5 skipped: malformed JSON" in proc.stderr
    a, s = _items(tmp_path / "audited"), _items(tmp_path / "stated")
    # Audited: 10 % 3 + 1 = 2 keys; 7/3 bells and the undefined pair 2 are not run, and the note says so.
    assert a["math_2-2"]["expected"] == {"kind": "count", "count": 2, "object": "key"}
    assert "math_2-3" not in a and "mapping3-2_A" not in a and "mapping3-2_B" not in a
    assert (
        "3 items have no audited answer and are not run: math_2-3, mapping3-2_B, mapping3-2_A"
        in audited.stderr
    )
    assert "the stated and audited answers differ on 3 of them" in audited.stderr
    # Stated: the file's answers, as written, for every item that has one.
    assert s["math_2-2"]["expected"] == {"kind": "count", "count": 4, "object": "key"}
    assert s["math_2-3"]["expected"] == {"kind": "count", "count": 2, "object": "bell"}
    assert s["mapping3-2_B"]["expected"] == {"kind": "object", "object": "clock"}
    assert s["math_2-4"]["meta"]["audit"]["derivation"] == "9 / 4 equals then rounded down = 2"
    summary = json.loads((tmp_path / "audited" / "summary.json").read_text())
    assert {(r["task"], r["level"]) for r in summary["rows"]} == {("math", 2), ("mapping", 3)}
    # The reports say the same as stderr: which answers were scored, how many differ, what was not run.
    assert summary["selection"]["answers"] == "audited"
    assert summary["selection"]["answers_differ"] == 3 and summary["selection"]["no_answer"] == 3
    report = (tmp_path / "audited" / "report.md").read_text()
    assert "stated and audited answers differ on 3 of them" in report
    assert "3 items have no audited answer and were not run: math_2-3, mapping3-2_B, mapping3-2_A" in report
    assert "differ on 3 of them" in (tmp_path / "audited" / "report.html").read_text()
    assert json.loads((tmp_path / "stated" / "summary.json").read_text())["selection"]["answers"] == "stated"
    # The fake model draws every expected answer right, so every audited item the judge saw is correct.
    verdicts = [
        json.loads(x)["verdict"] for x in (tmp_path / "audited" / "verdicts.jsonl").read_text().splitlines()
    ]
    assert verdicts and set(verdicts) == {"correct"}


def test_sandbox_judge_declines_objects_outside_its_vocabulary(tmp_path):
    records = [
        *MATH[:1],
        {
            "Question": "Provide the number of teddy bears equal to 2^4 / 8.",
            "Answer": "2 teddy bears",
            "id": "2",
        },
    ]
    math = _write(tmp_path / "math_2.jsonl", records)
    proc = _run(tmp_path / "run", [math], "--judge", "sandbox")
    assert proc.returncode == 0, proc.stderr
    assert (
        "1 items not supported by this judge (objects outside the sandbox vocabulary: teddy bear): math_2-2"
        in proc.stderr
    )
    assert list(_items(tmp_path / "run")) == ["math_2-1"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["selection"]["not_supported"] == 1 and summary["selection"]["not_supported_ids"] == [
        "math_2-2"
    ]
    assert (
        "1 items not supported by this judge (objects outside the sandbox vocabulary; not run, not counted "
        "as wrong): math_2-2." in (tmp_path / "run" / "report.md").read_text()
    )


def test_open_caption_prompt_for_objects_outside_the_vocabulary_renders():
    from unisandbox.judges.vlm import load_prompt, render_caption_prompt

    root = Path(__file__).resolve().parent.parent
    name, template = load_prompt(str(root / "docs" / "prompts" / "caption_open_v1.txt"))
    text = render_caption_prompt(template)
    assert name == "caption_open_v1" and "2 teddy bears" in text and "apple" in text and "{" not in text
