"""--model-option KEY=VALUE reaches the adapter and is recorded in the run's configuration."""

import json
import subprocess
import sys


def _run(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "unisandbox", *args], capture_output=True, text=True, cwd=cwd
    )


def test_model_option_is_passed_and_recorded(tmp_path):
    out = tmp_path / "run"
    res = _run(
        [
            "generate",
            "--model",
            "fake",
            "--model-option",
            "p_think=1.0",
            "--model-option",
            "p_normal=0",
            "--tasks",
            "math",
            "--levels",
            "1",
            "--limit",
            "3",
            "--no-probes",
            "--out",
            str(out),
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["model_options"] == {"p_think": 1.0, "p_normal": 0}


def test_bad_model_option_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    res = _run(
        ["generate", "--model", "fake", "--model-option", "no_equals_sign", "--out", str(out)], tmp_path
    )
    assert res.returncode == 2
    assert "--model-option" in res.stderr
    assert not out.exists()


def test_generate_with_failed_samples_exits_3_naming_the_reason_and_rerun_retries(tmp_path):
    out = tmp_path / "run"
    args = [
        "generate",
        "--model",
        "fake:p_no_image=0.3",
        "--tasks",
        "math",
        "--levels",
        "1",
        "--limit",
        "10",
        "--out",
        str(out),
    ]
    res = _run(args, tmp_path)
    assert res.returncode == 3, res.stderr
    failed = sum(1 for line in (out / "samples.jsonl").read_text().splitlines() if '"image": null' in line)
    assert failed > 0
    assert f"model: {failed} x injected failure (p_no_image)" in res.stderr
    assert (
        res.stderr.strip().splitlines()[-1].startswith(f"stopped: {failed} of 20 images and 0 probes failed")
    )
    res = _run(["generate", "--out", str(out)], tmp_path)  # the same seeds fail again, but they are retried
    assert res.returncode == 3 and f"generate: {failed} images, 0 probes this call" in res.stderr
    res = _run(["generate", "--out", str(out), "--keep-errors"], tmp_path)
    assert res.returncode == 3 and "generate: 0 images, 0 probes this call" in res.stderr
