import json
import subprocess
import sys

import pytest

from unisandbox.metrics.agreement import agreement, cohen_kappa, read_verdicts
from unisandbox.tasks.base import InputError


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_kappa_known_values():
    assert cohen_kappa(["correct", "wrong", "correct"], ["correct", "wrong", "wrong"]) == pytest.approx(0.4)
    assert cohen_kappa(["correct", "wrong"] * 5, ["correct", "wrong"] * 5) == 1.0
    # Perfect disagreement on a balanced binary task: kappa -1.
    assert cohen_kappa(["correct", "wrong"] * 5, ["wrong", "correct"] * 5) == -1.0
    assert cohen_kappa(["correct"] * 4, ["correct"] * 4) is None  # chance agreement 1: undefined
    assert cohen_kappa([], []) is None


def test_pipeline_keys_last_line_wins_and_partial_overlap(tmp_path):
    a = _write(
        tmp_path / "a.jsonl",
        [
            {"item_id": "m1", "mode": "normal", "sample_index": 0, "verdict": "error"},
            {"item_id": "m1", "mode": "normal", "sample_index": 0, "verdict": "correct"},
            {"item_id": "m1", "mode": "think", "sample_index": 0, "verdict": "wrong"},
            {"item_id": "m2", "mode": "normal", "sample_index": 0, "verdict": "missing"},
        ],
    )
    b = _write(
        tmp_path / "b.jsonl",
        [
            {"item_id": "m1", "mode": "normal", "sample_index": 0, "verdict": "correct"},
            {"item_id": "m1", "mode": "think", "sample_index": 0, "verdict": "correct"},
            {"item_id": "m3", "mode": "normal", "sample_index": 0, "verdict": "wrong"},
        ],
    )
    va, vb = read_verdicts(a), read_verdicts(b)
    assert va[("m1", "normal", 0)] == "correct"
    res = agreement(va, vb)
    assert (res.n_common, res.only_a, res.only_b) == (2, 1, 1)
    assert res.agreement == 0.5 and res.n_decided == 2
    assert res.confusion["wrong"]["correct"] == 1 and res.confusion["correct"]["correct"] == 1


def test_bad_input_names_file_line_and_field(tmp_path):
    bad = _write(tmp_path / "bad.jsonl", [{"id": "x", "verdict": "correct"}, {"id": "y", "verdict": "maybe"}])
    with pytest.raises(InputError, match=r"bad.jsonl:2: field 'verdict'"):
        read_verdicts(bad)
    nokey = _write(tmp_path / "nokey.jsonl", [{"verdict": "correct"}])
    with pytest.raises(InputError, match=r"nokey.jsonl:1: field 'id'"):
        read_verdicts(nokey)
    (tmp_path / "mid.jsonl").write_text(
        '{"id": "x", "verd\n{"id": "y", "verdict": "wrong"}\n', encoding="utf-8"
    )
    with pytest.raises(InputError, match="mid.jsonl:1: malformed JSON"):
        read_verdicts(tmp_path / "mid.jsonl")
    # A torn last append (crash mid-write) is skipped, as the run readers do.
    (tmp_path / "torn.jsonl").write_text(
        '{"id": "y", "verdict": "wrong"}\n{"id": "x", "verdict": "corr', encoding="utf-8"
    )
    assert read_verdicts(tmp_path / "torn.jsonl") == {"y": "wrong"}


def test_cli_agreement_json_and_exit_code(tmp_path):
    a = _write(
        tmp_path / "a.jsonl", [{"id": str(i), "verdict": "correct" if i % 3 else "wrong"} for i in range(30)]
    )
    b = _write(
        tmp_path / "b.jsonl",
        [{"sample_id": str(i), "verdict": "correct" if i % 3 else "wrong"} for i in range(30)],
    )
    out = subprocess.run(
        [sys.executable, "-m", "unisandbox", "judge-agreement", str(a), str(b), "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["agreement"] == 1.0 and res["kappa"] == 1.0 and res["n_common"] == 30
    bad = _write(tmp_path / "bad.jsonl", [{"id": "1", "verdict": "yes"}])
    out = subprocess.run(
        [sys.executable, "-m", "unisandbox", "judge-agreement", str(a), str(bad)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "bad.jsonl:1" in out.stderr


def test_cli_calibrate_json_has_the_promised_keys():
    out = subprocess.run(
        [sys.executable, "-m", "unisandbox", "judge-calibrate", "--n", "40", "--seed", "9", "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    for k in (
        "n",
        "count_type_accuracy",
        "portrait_accuracy",
        "fruit_flower_accuracy",
        "negative_reject_rate",
    ):
        assert k in s
    assert s["n"] == 40
    assert all(0.0 <= s[k] <= 1.0 for k in s if k.endswith(("accuracy", "rate")))
