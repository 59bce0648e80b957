"""Every bad input of issue 16, run as a user would: a subprocess of `unisandbox`.

Each case must exit 2 with exactly one line on stderr, `error: ...` naming what is wrong (and where),
no traceback, and must write nothing: no run directory, and nothing else new in the working folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from unisandbox.judges.fake_server import _free_port
from unisandbox.models.sandbox.checkpoint import WEIGHTS_SHA256, file_sha256, shipped_dir

SMALL = ("--tasks", "math", "--levels", "1", "--limit", "2")
_JUDGE_ENV = (
    "UNISANDBOX_JUDGE_MODEL",
    "OPENAI_MODEL",
    "UNISANDBOX_JUDGE_BASE_URL",
    "OPENAI_BASE_URL",
    "UNISANDBOX_JUDGE_API_KEY",
    "OPENAI_API_KEY",
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _JUDGE_ENV}
    return {**env, "OMP_NUM_THREADS": "1"}


def _cli(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unisandbox", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_env(),
        timeout=300,
        **kw,
    )


def _snapshot(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime) for p in sorted(root.rglob("*"))}


def _checkpoint(tmp: Path, name: str) -> Path:
    dst = tmp / name
    shutil.copytree(shipped_dir("shared"), dst)
    return dst


def _truncated(tmp: Path) -> Path:
    d = _checkpoint(tmp, "truncated")
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    return d


def _zero_bytes(tmp: Path) -> Path:
    d = _checkpoint(tmp, "zero")
    (d / "model.safetensors").write_bytes(b"")
    return d


def _bad_config(tmp: Path) -> Path:
    d = _checkpoint(tmp, "badconfig")
    (d / "config.json").write_text('{"format_version": 1, "arch": "shared", ')
    return d


def _flipped_bits(tmp: Path) -> Path:
    # The hash recorded in config.json, then one flipped bit in the tensor data (the header stays valid).
    d = _checkpoint(tmp, "flipped")
    cfg = json.loads((d / "config.json").read_text())
    cfg[WEIGHTS_SHA256] = file_sha256(d / "model.safetensors")
    (d / "config.json").write_text(json.dumps(cfg))
    data = bytearray((d / "model.safetensors").read_bytes())
    data[-100] ^= 0x01
    (d / "model.safetensors").write_bytes(bytes(data))
    return d


def _command_script(tmp: Path) -> Path:
    script = tmp / "gen.py"
    script.write_text("import sys\n")
    return script


# (case id, argv builder given the work folder, words the one error line must contain)
CASES = [
    ("model-missing-dir", lambda t: ["--model", "sandbox:/nonexistent"], ["/nonexistent"]),
    (
        "model-truncated",
        lambda t: ["--model", f"sandbox:{_truncated(t)}"],
        ["truncated", "model.safetensors"],
    ),
    (
        "model-zero-bytes",
        lambda t: ["--model", f"sandbox:{_zero_bytes(t)}"],
        ["truncated", "model.safetensors"],
    ),
    (
        "model-bad-config",
        lambda t: ["--model", f"sandbox:{_bad_config(t)}"],
        ["malformed JSON", "config.json"],
    ),
    (
        "model-flipped-bits",
        lambda t: ["--model", f"sandbox:{_flipped_bits(t)}"],
        ["sha256", "model.safetensors"],
    ),
    ("model-unknown-kind", lambda t: ["--model", "nosuchmodel"], ["unknown model", "nosuchmodel"]),
    ("model-bad-option", lambda t: ["--model", "fake:p_normal=2"], ["p_normal"]),
    ("command-model-without-probes", lambda t: ["--model", f"command:{_command_script(t)}"], ["understand"]),
    ("batch-size-0", lambda t: ["--model", "fake", "--batch-size", "0"], ["--batch-size"]),
    (
        "judge-unknown",
        lambda t: ["--model", "fake", "--judge", "nosuchjudge"],
        ["unknown judge", "nosuchjudge"],
    ),
    (
        "judge-vlm-no-model",
        lambda t: ["--model", "fake", "--judge", "vlm"],
        ["no judge model", "--judge-option model="],
    ),
    (
        "judge-timeout-negative",
        lambda t: [
            "--model",
            "fake",
            "--judge",
            "vlm",
            "--judge-option",
            "model=m",
            "--judge-option",
            "timeout=-5",
        ],
        ["timeout=-5"],
    ),
    (
        "judge-unreachable",
        lambda t: [
            "--model",
            "fake",
            "--judge",
            "vlm",
            "--judge-option",
            "model=m",
            "--judge-option",
            f"base_url=http://127.0.0.1:{_free_port()}/v1",
        ],
        ["does not answer", "127.0.0.1"],
    ),
    ("tasks-unknown", lambda t: ["--model", "fake", "--tasks", "maths"], ["unknown task", "maths"]),
    ("levels-unknown", lambda t: ["--model", "fake", "--levels", "7"], ["level 7"]),
    ("items-missing", lambda t: ["--model", "fake", "--items", str(t / "nope.jsonl")], ["nope.jsonl"]),
]


def _check_one_line_error(proc: subprocess.CompletedProcess, words: list[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.mark.parametrize("case,argv,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, case, argv, words):
    args = argv(tmp_path)
    out = tmp_path / "run"
    before = _snapshot(tmp_path)
    proc = _cli(["run", *SMALL, *args, "--out", str(out)], cwd=tmp_path)
    _check_one_line_error(proc, words)
    assert not out.exists()
    assert _snapshot(tmp_path) == before


def test_out_naming_an_existing_file(tmp_path):
    out = tmp_path / "results.txt"
    out.write_text("keep me")
    before = _snapshot(tmp_path)
    proc = _cli(["run", *SMALL, "--model", "fake", "--out", str(out)], cwd=tmp_path)
    _check_one_line_error(proc, ["existing file", str(out)])
    assert out.read_text() == "keep me" and _snapshot(tmp_path) == before
    proc = _cli(["run", *SMALL, "--model", "fake", "--out", str(out / "sub")], cwd=tmp_path)
    _check_one_line_error(proc, ["is a file"])
    assert _snapshot(tmp_path) == before


def _make_read_only(path: Path) -> bool:
    """chmod 555, and for root (who writes anyway) the immutable attribute; False if impossible."""
    path.chmod(0o555)
    if os.geteuid() != 0:
        return True
    return shutil.which("chattr") is not None and subprocess.run(["chattr", "+i", str(path)]).returncode == 0


def test_read_only_output_directory(tmp_path):
    ro = tmp_path / "readonly"
    ro.mkdir()
    if not _make_read_only(ro):
        pytest.skip("cannot make a directory read-only for root here (no chattr +i)")
    try:
        before = _snapshot(tmp_path)
        proc = _cli(["run", *SMALL, "--model", "fake", "--out", str(ro / "run")], cwd=tmp_path)
        _check_one_line_error(proc, ["not writable", str(ro)])
        assert _snapshot(tmp_path) == before
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(ro)])
        ro.chmod(0o755)


def test_unexpected_failure_is_a_bug_report_not_a_bad_input(tmp_path):
    # A real bug keeps its traceback and asks to be reported (exit 70), distinct from exit 2.
    code = (
        "from unisandbox.cli import app\n"
        "@app.command('boom')\n"
        "def boom():\n    raise ZeroDivisionError('x')\n"
        "from unisandbox.cli import main\nimport sys; sys.argv=['unisandbox','boom']; main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=_env()
    )
    assert proc.returncode == 70
    assert "Traceback" in proc.stderr and "Please report it" in proc.stderr
