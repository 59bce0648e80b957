import csv
import html
import json
import re
import signal
import subprocess
import time

import pytest

from pipeline_testkit import cli_command, run_cli, tree_digest
from unisandbox.runs.io import iter_jsonl
from unisandbox.tasks.base import write_items
from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items

FAKE = "fake:p_normal=0.3,p_think=0.8,p_understand=0.9"


@pytest.fixture(scope="module")
def items_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("items") / "items.jsonl"
    write_items(path, math_items(11, 1, 12) + math_items(11, 2, 12) + mapping_items(11, 1, 6))
    return path


@pytest.fixture(scope="module")
def whole(items_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    proc = run_cli(
        "run", "--model", FAKE, "--judge", "grid-test", "--items", str(items_file), "--out", str(out)
    )
    return out, proc


def _lines(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_run_prints_table_and_writes_every_output(whole):
    out, proc = whole
    assert "math" in proc.stdout and "mapping" in proc.stdout and "McNemar" in proc.stdout
    assert "Complete" in proc.stdout
    for name in (
        "manifest.json",
        "items.jsonl",
        "samples.jsonl",
        "understanding.jsonl",
        "verdicts.jsonl",
        "summary.json",
        "results.csv",
        "report.md",
        "report.html",
    ):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True
    row_keys = {"task", "level", "mode", "n", "correct", "accuracy", "ci_low", "ci_high", "errors", "missing"}
    assert all(row_keys <= set(r) for r in summary["rows"])
    assert all({"task", "level", "n", "accuracy"} <= set(r) for r in summary["understanding"])
    assert {(r["task"], r["level"], r["mode"]) for r in summary["rows"]} == {
        (t, lv, m) for t, lv in (("math", 1), ("math", 2), ("mapping", 1)) for m in ("normal", "think")
    }
    # 12 + 12 math items and 6 mapping pairs, two modes, one sample each: every sample exactly once.
    keys = [(r["item_id"], r["mode"], r["sample_index"]) for r in iter_jsonl(out / "samples.jsonl")]
    assert len(keys) == len(set(keys)) == (24 + 12) * 2
    mapping_row = next(r for r in summary["rows"] if r["task"] == "mapping" and r["mode"] == "normal")
    assert mapping_row["expected"] == 6  # counted per pair
    # results.csv carries each accuracy row's chance level: a mapping pair guessed between its two
    # objects is right 1 time in 4.
    rows = list(csv.DictReader(open(out / "results.csv")))
    chance = {(r["task"], r["metric"]): r["chance"] for r in rows if r["metric"] == "accuracy"}
    assert (
        float(chance[("mapping", "accuracy")]) == pytest.approx(mapping_row["chance"]) == pytest.approx(0.25)
    )


def test_judge_agrees_with_what_the_fake_meant_to_draw(whole):
    out, _ = whole
    meant = {
        (r["item_id"], r["mode"]): r["extra"]["intended_correct"] for r in iter_jsonl(out / "samples.jsonl")
    }
    judged = {
        (r["item_id"], r["mode"]): r["verdict"] == "correct" for r in iter_jsonl(out / "verdicts.jsonl")
    }
    assert meant == judged


def test_report_html_is_self_contained(whole):
    out, _ = whole
    page = (out / "report.html").read_text()
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert refs and all(r.startswith("data:") for r in refs)
    assert not re.search(r"https?://", page)  # no network resource of any kind
    assert "<link" not in page and "<script src" not in page and "<iframe" not in page
    assert page.count("data:image/png;base64,") >= (24 + 12) * 2  # every sample image, plus the plot
    assert "verdict:" in page and "caption:" in page and "Prompt:" in page  # think-mode text shown
    md = (out / "report.md").read_text()
    assert "| task |" in md and "McNemar" in md


def test_report_html_cards_explain_themselves(whole):
    from unisandbox.judges.match import answer_caption
    from unisandbox.tasks.base import read_items

    out, _ = whole
    page = (out / "report.html").read_text()
    items = read_items(out / "items.jsonl")
    cards = re.findall(
        r'<div class="cell (\w+)" data-task="([\w-]+)" data-level="(\d)" data-mode="(\w+)" '
        r'data-verdict="(\w+)">(.*?)</div>(?=<div class="cell|</div></details>)',
        page,
        re.S,
    )
    assert len(cards) == len(items) * 2
    verdicts = {(r["item_id"], r["mode"]): r for r in iter_jsonl(out / "verdicts.jsonl")}
    probes = {r["item_id"]: r for r in iter_jsonl(out / "understanding.jsonl")}
    by_id = {it.id: it for it in items}
    for cls, task, level, mode, verdict, body in cards:
        it = by_id[re.search(r"<b>([\w-]+)</b>", body).group(1)]
        assert cls == verdict == verdicts[(it.id, mode)]["verdict"] and (task, level) == (
            it.task,
            str(it.level),
        )
    for it in items:
        card = next(c for c in cards if f"<b>{it.id}</b> normal #0" in c[5])
        body = card[5]
        v = verdicts[(it.id, "normal")]
        assert html.escape(it.prompt) in body  # the prompt ...
        assert (
            f"expected:</span> {html.escape(answer_caption(it.expected))}" in body
        )  # ... the expected answer
        assert (
            f"caption:</span> {html.escape(v['caption'] or '-')}" in body and f"<b>{v['verdict']}</b>" in body
        )
        assert html.escape(probes[it.id]["answer"]) in body  # and the probe's answer beside it
    # Sections follow the table (math before mapping), open, with filters for task, level, mode, verdict.
    titles = re.findall(r"<details class='section' open><summary>(\w+) level (\d)", page)
    assert titles == [
        ("math", "1"),
        ("math", "1"),
        ("math", "2"),
        ("math", "2"),
        ("mapping", "1"),
        ("mapping", "1"),
    ]
    for name in ("task", "level", "mode", "verdict"):
        assert f'<select data-f="{name}">' in page
    assert '<img class="plot"' in page and ".plot{width:100%" in page


def test_rerun_redoes_nothing(whole, items_file):
    out, first = whole
    before = {n: _lines(out / n) for n in ("samples.jsonl", "verdicts.jsonl", "understanding.jsonl")}
    summary = (out / "summary.json").read_text()
    proc = run_cli("run", "--out", str(out))
    assert {n: _lines(out / n) for n in before} == before
    assert (out / "summary.json").read_text() == summary
    assert "0 images, 0 probes this call" in proc.stderr


def test_conflicting_options_are_refused(whole):
    out, _ = whole
    proc = run_cli("run", "--out", str(out), "--samples-per-item", "2", check=False)
    assert proc.returncode == 2
    assert "another configuration" in proc.stderr and "samples_per_item" in proc.stderr
    proc = run_cli("judge", "--out", str(out), "--judge", "sandbox", check=False)
    assert proc.returncode == 2


def test_bad_items_file_exits_2_naming_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = math_items(1, 1, 2)
    lines = [json.dumps(it.model_dump(mode="json")) for it in good]
    broken = json.loads(lines[1])
    broken["level"] = 7
    bad.write_text(lines[0] + "\n" + json.dumps(broken) + "\n")
    out = tmp_path / "run"
    proc = run_cli("run", "--model", "fake", "--items", str(bad), "--out", str(out), check=False)
    assert proc.returncode == 2
    assert f"{bad}:2" in proc.stderr and "level" in proc.stderr
    assert not out.exists()  # no partial output
    proc = run_cli("run", "--model", "nosuchmodel", "--items", str(bad), "--out", str(out), check=False)
    assert proc.returncode == 2


def test_incomplete_runs_withhold_accuracy_unless_allowed(items_file, tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        "run",
        "--model",
        "fake:p_no_image=0.2",
        "--judge",
        "grid-test",
        "--items",
        str(items_file),
        "--tasks",
        "math",
        "--levels",
        "1",
        "--out",
        str(out),
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["complete"] and summary["withheld"]
    assert all(r["accuracy"] is None for r in summary["rows"])
    # A model failure is an error with its reason (never missing, never wrong), shown in the terminal.
    failed = sum(1 for r in iter_jsonl(out / "samples.jsonl") if r["image"] is None)
    assert failed > 0 and sum(r["errors"] for r in summary["rows"]) == failed
    assert sum(r["missing"] for r in summary["rows"]) == 0
    assert "INCOMPLETE" in proc.stdout and "--allow-incomplete" in proc.stdout
    assert f"model: {failed} x injected failure (p_no_image)" in proc.stdout
    assert "injected failure (p_no_image)" in (out / "report.md").read_text()
    proc = run_cli("report", str(out), "--allow-incomplete", check=False)  # RUN_DIR as an argument
    assert proc.returncode == 3
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["complete"] and not summary["withheld"]
    assert all(r["accuracy"] is not None for r in summary["rows"])
    assert "INCOMPLETE" in proc.stdout
    # A rerun retries the failed samples by default (the fake fails the same seeds again: still 3).
    proc = run_cli("run", "--out", str(out), check=False)
    assert proc.returncode == 3
    assert f"{failed} images, 0 probes this call" in proc.stderr


def test_study_layout_folders_and_csv_columns(items_file, tmp_path):
    out = tmp_path / "study"
    run_cli(
        "run",
        "--model",
        FAKE,
        "--judge",
        "grid-test",
        "--items",
        str(items_file),
        "--layout",
        "study",
        "--limit",
        "3",
        "--out",
        str(out),
    )
    items = {r["id"]: r for r in iter_jsonl(out / "items.jsonl")}
    for mode in ("normal", "think"):
        for it in items.values():
            stem = {"math": f"math_{it['level']}", "mapping": f"mapping{it['level']}"}[it["task"]]
            assert (out / "test" / mode / stem / f"{it['id']}.png").exists()
        with open(out / "test" / mode / "math_1" / "evaluation_results.csv") as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == ["ID", "Question", "Answer", "Image_Path", "Result", "Score", "Analysis"]
        assert len(rows) == 3 and {r["Result"] for r in rows} <= {"YES", "NO"}
        with open(out / "test" / mode / "mapping1" / "evaluation_results.csv") as f:
            rows = list(csv.DictReader(f))
        # The header line of the study's mapping result files, as the study's evaluation script writes it.
        header = (
            "ID,Question_A,Answer_A,Image_A_Path,A_Result,A_Score,A_Analysis,"
            "Question_B,Answer_B,Image_B_Path,B_Result,B_Score,B_Analysis,Both_Correct,Final_Score"
        )
        assert list(rows[0]) == header.split(",")
        assert len(rows) == 3
        for r in rows:
            assert r["Final_Score"] == ("1" if r["A_Result"] == r["B_Result"] == "YES" else "0")
    summary = json.loads((out / "summary.json").read_text())
    csv_correct = sum(
        int(r["Score"]) for r in csv.DictReader(open(out / "test/normal/math_1/evaluation_results.csv"))
    )
    row = next(r for r in summary["rows"] if (r["task"], r["level"], r["mode"]) == ("math", 1, "normal"))
    assert row["correct"] == csv_correct


def test_shards_together_equal_the_whole(whole, items_file, tmp_path):
    out_whole, _ = whole
    out = tmp_path / "sharded"
    common = ("--model", FAKE, "--items", str(items_file), "--out", str(out))
    run_cli("generate", *common, "--shard", "0/2")
    assert list(out.glob("samples.shard0of2.jsonl"))
    run_cli("generate", *common, "--shard", "1/2")
    assert not list(out.glob("samples.*.jsonl"))  # the last shard to finish merged them
    run_cli("judge", "--out", str(out), "--judge", "grid-test")
    run_cli("report", "--out", str(out))
    assert tree_digest(out) == tree_digest(out_whole)
    assert json.loads((out / "summary.json").read_text()) == json.loads(
        (out_whole / "summary.json").read_text()
    )
    assert (out / "samples.jsonl").read_text() == (out_whole / "samples.jsonl").read_text()


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(items_file, tmp_path):
    out = tmp_path / "run"
    # The child gets Ctrl-C's default disposition, as from a terminal: a signal ignored by the test
    # process (some library in the same pytest session may set SIG_IGN) would be inherited across exec.
    proc = subprocess.Popen(
        cli_command(
            "run",
            "--model",
            "fake:delay_ms=40",
            "--judge",
            "grid-test",
            "--items",
            str(items_file),
            "--out",
            str(out),
            "--batch-size",
            "4",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while _lines(out / "samples.jsonl") < 8 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert f"Resume with: unisandbox run --out {out}" in err
    done = _lines(out / "samples.jsonl")
    assert 8 <= done < 72
    run_cli("run", "--out", str(out), "--model", "fake:delay_ms=0", check=False)  # another model: refused
    proc = run_cli("run", "--out", str(out))
    keys = [(r["item_id"], r["mode"]) for r in iter_jsonl(out / "samples.jsonl")]
    assert len(keys) == len(set(keys)) == 72


def test_study_format_items_keep_the_study_names(tmp_path):
    # Files as the study releases them: numeric ids, one file per task and level.
    math_file, mapping_file = tmp_path / "math_2.jsonl", tmp_path / "mapping3.jsonl"
    math_file.write_text(
        "".join(
            json.dumps(
                {
                    "Question": it.prompt,
                    "Answer": f"{it.expected.count} {it.expected.object}s",
                    "id": str(i + 1),
                }
            )
            + "\n"
            for i, it in enumerate(math_items(4, 2, 3))
        )
    )
    pairs = mapping_items(4, 3, 2)
    mapping_file.write_text(
        "".join(
            json.dumps(
                {"ID": str(i // 2 + 1), f"Question_{it.id[-1]}": it.prompt, "Answer": it.expected.object}
            )
            + "\n"
            for i, it in enumerate(pairs)
        )
    )
    out = tmp_path / "run"
    run_cli(
        "run",
        "--model",
        FAKE,
        "--judge",
        "grid-test",
        "--items",
        str(math_file),
        "--items",
        str(mapping_file),
        "--layout",
        "study",
        "--out",
        str(out),
    )
    for mode in ("normal", "think"):
        assert sorted(p.name for p in (out / "test" / mode / "math_2").glob("*.png")) == [
            "1.png",
            "2.png",
            "3.png",
        ]
        assert sorted(p.name for p in (out / "test" / mode / "mapping3").glob("*.png")) == [
            "1_A.png",
            "1_B.png",
            "2_A.png",
            "2_B.png",
        ]
        rows = list(csv.DictReader(open(out / "test" / mode / "mapping3" / "evaluation_results.csv")))
        assert [r["ID"] for r in rows] == ["1", "2"]
        assert rows[0]["Image_A_Path"] == f"test/{mode}/mapping3/1_A.png"
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["task"], r["level"]) for r in summary["rows"]} == {("math", 2), ("mapping", 3)}


def test_a_damaged_line_in_the_middle_is_quarantined_and_its_sample_redone(whole, items_file, tmp_path):
    out_whole, _ = whole
    out = tmp_path / "damaged"
    run_cli("run", "--model", FAKE, "--judge", "grid-test", "--items", str(items_file), "--out", str(out))
    lines = (out / "samples.jsonl").read_text().splitlines(keepends=True)
    damaged = lines[10][: len(lines[10]) // 2] + "\n"
    (out / "samples.jsonl").write_text("".join(lines[:10] + [damaged] + lines[11:]))
    proc = run_cli("run", "--out", str(out))
    assert "warning: 1 damaged line(s)" in proc.stderr and "samples.jsonl.damaged" in proc.stderr
    assert "1 images, 0 probes this call" in proc.stderr
    assert (out / "samples.jsonl.damaged").read_text() == damaged
    assert json.loads((out / "summary.json").read_text()) == json.loads(
        (out_whole / "summary.json").read_text()
    )
    assert tree_digest(out) == tree_digest(out_whole)


def test_knowledge_rows_split_forward_and_inverse(tmp_path):
    out = tmp_path / "knowledge"
    run_cli("run", "--model", FAKE, "--tasks", "knowledge", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    rows = {(r["task"], r["mode"]): r["expected"] for r in summary["rows"]}
    # The official split: 10 characters x 3 forward items, 5 pairs x 4 inverse items.
    assert rows == {
        ("knowledge-forward", "normal"): 30,
        ("knowledge-forward", "think"): 30,
        ("knowledge-inverse", "normal"): 20,
        ("knowledge-inverse", "think"): 20,
    }
    assert [c["task"] for c in summary["comparisons"]] == ["knowledge-forward", "knowledge-inverse"]
    assert "| knowledge-forward | 1 |" in (out / "report.md").read_text()
    assert {r["task"] for r in csv.DictReader(open(out / "results.csv"))} == {
        "knowledge-forward",
        "knowledge-inverse",
    }
