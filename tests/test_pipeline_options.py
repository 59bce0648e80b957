"""--model-option KEY=VALUE reaches the adapter and is recorded in the run's configuration."""

import json
import subprocess
import sys


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m", "unisandbox", *args], capture_output=True, text=True, cwd=cwd)


def test_model_option_is_passed_and_recorded(tmp_path):
    out = tmp_path / "run"
    res = _run(["generate", "--model", "fake", "--model-option", "p_think=1.0", "--model-option", "p_normal=0",
                "--tasks", "math", "--levels", "1", "--limit", "3", "--no-probes", "--out", str(out)], tmp_path)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["model_options"] == {"p_think": 1.0, "p_normal": 0}


def test_bad_model_option_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    res = _run(["generate", "--model", "fake", "--model-option", "no_equals_sign", "--out", str(out)], tmp_path)
    assert res.returncode == 2
    assert "--model-option" in res.stderr
    assert not out.exists()
