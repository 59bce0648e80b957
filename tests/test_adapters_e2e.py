"""End to end through the CLI (`unisandbox run`: generate, judge, report) with each real-model adapter.

The models are tiny and random, so the sandbox judge mostly says wrong or error: these tests check that
the pipeline runs, records every sample with a verdict, and keeps secrets off disk, not accuracy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters_fake_openai import FakeOpenAI
from adapters_tiny import build_tiny_janus, build_tiny_pipeline, make_item
from unisandbox.judges.base import VERDICTS
from unisandbox.tasks.base import write_items

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pil_command.py"
SECRET = "sk-e2e-secret-789"


@pytest.fixture(scope="module")
def items_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("items") / "items.jsonl"
    write_items(
        path,
        [
            make_item(1, "Generate as many cups as the result of 8 / 4.", 2, "What is 8 / 4?"),
            make_item(2, "Draw as many cups as 1 + 2.", 3, "What is 1 + 2?"),
        ],
    )
    return path


def run_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "unisandbox", *args], capture_output=True, text=True, env=full_env, timeout=600
    )


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_run(out: Path, modes: tuple[str, ...], n_items: int = 2, probes: bool = False) -> list[dict]:
    """Every planned sample has a record, an image file or an error, and exactly one verdict."""
    samples = records(out / "samples.jsonl")
    assert sorted((s["item_id"], s["mode"]) for s in samples) == sorted(
        (f"math-l1-{i:04d}", m) for i in range(1, n_items + 1) for m in modes
    )
    for s in samples:
        assert (s["image"] is not None and (out / s["image"]).is_file()) or s["error"]
    verdicts = records(out / "verdicts.jsonl")
    assert len(verdicts) == len(samples)
    assert all(v["verdict"] in VERDICTS for v in verdicts)
    assert (out / "summary.json").is_file() and (out / "report.md").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["describe"]["templates_version"] == 1
    if probes:
        assert len(records(out / "understanding.jsonl")) == n_items
    return samples


def no_secret_on_disk(root: Path, secret: str) -> None:
    for f in root.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f"secret leaked into {f}"


def test_janus_end_to_end(tmp_path, items_file):
    build_tiny_janus(tmp_path / "janus")
    out = tmp_path / "run"
    # One item: the adapter's default budgets (256 answer tokens, 512 think tokens) are the slow part.
    proc = run_cli(
        [
            "run",
            "--model",
            f"janus:{tmp_path / 'janus'}",
            "--judge",
            "sandbox",
            "--items",
            str(items_file),
            "--limit",
            "1",
            "--out",
            str(out),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = check_run(out, ("normal", "think"), n_items=1, probes=True)
    think = [s for s in samples if s["mode"] == "think"]
    assert all(s["rewritten_prompt"] for s in think)
    assert json.loads((out / "manifest.json").read_text())["model"]["describe"]["kind"] == "janus"


def test_diffusers_end_to_end_with_decoupled_think(tmp_path, items_file):
    build_tiny_pipeline(tmp_path)
    pipe = tmp_path / "pipe"
    out = tmp_path / "run"
    with FakeOpenAI() as server:
        env = {
            "UNISANDBOX_REWRITER_BASE_URL": server.base_url,
            "UNISANDBOX_REWRITER_MODEL": "rewriter-test",
            "UNISANDBOX_REWRITER_API_KEY": SECRET,
        }
        proc = run_cli(
            [
                "run",
                "--model",
                f"diffusers:{pipe}",
                "--judge",
                "sandbox",
                "--items",
                str(items_file),
                "--no-probes",
                "--out",
                str(out),
            ],
            env,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in server.requests)
    samples = check_run(out, ("normal", "think"))
    assert {s["rewritten_prompt"] for s in samples if s["mode"] == "think"} == {"2 cups"}
    describe = json.loads((out / "manifest.json").read_text())["model"]["describe"]
    assert describe["decoupled_think"] is True and describe["rewriter"]["model"] == "rewriter-test"
    no_secret_on_disk(out, SECRET)


def test_diffusers_think_without_rewriter_is_refused_before_work(tmp_path, items_file):
    build_tiny_pipeline(tmp_path)
    out = tmp_path / "run"
    env = {k: "" for k in ("UNISANDBOX_REWRITER_MODEL", "OPENAI_MODEL")}
    proc = run_cli(
        [
            "run",
            "--model",
            f"diffusers:{tmp_path / 'pipe'}",
            "--items",
            str(items_file),
            "--no-probes",
            "--out",
            str(out),
        ],
        env,
    )
    assert proc.returncode == 2
    assert "think mode" in proc.stderr
    assert not (out / "samples.jsonl").exists() or not records(out / "samples.jsonl")


def test_command_end_to_end(tmp_path, items_file):
    out = tmp_path / "run"
    proc = run_cli(
        [
            "run",
            "--model",
            f"command:{EXAMPLE}",
            "--judge",
            "sandbox",
            "--items",
            str(items_file),
            "--no-probes",
            "--out",
            str(out),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = check_run(out, ("normal", "think"))
    assert {s["rewritten_prompt"] for s in samples if s["mode"] == "think"} == {"2 dots", "3 dots"}


def test_openai_end_to_end(tmp_path, items_file):
    out = tmp_path / "run"
    with FakeOpenAI() as server:
        env = {"UNISANDBOX_MODEL_BASE_URL": server.base_url, "UNISANDBOX_MODEL_API_KEY": SECRET}
        proc = run_cli(
            [
                "run",
                "--model",
                "openai:unified-test",
                "--judge",
                "sandbox",
                "--items",
                str(items_file),
                "--out",
                str(out),
            ],
            env,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    check_run(out, ("normal", "think"), probes=True)
    probes = records(out / "understanding.jsonl")
    assert all(p["answer"] == "2" for p in probes)  # the fake server always answers 2
    no_secret_on_disk(out, SECRET)
