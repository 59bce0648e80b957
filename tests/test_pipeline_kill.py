"""SIGKILL `unisandbox run` at three random points in generation and judging; each rerun completes
and the final outputs equal those of an uninterrupted run."""

import io
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from pipeline_testkit import cli_command, run_cli, tree_digest
from unisandbox.tasks.base import write_items
from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items

MODEL = "fake:p_normal=0.3,p_think=0.8,delay_ms=15"
N_SAMPLES = (10 + 10 + 2 * 5) * 2


def _count(path):
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _kill_when(out, file, at, args):
    proc = subprocess.Popen(
        cli_command(*args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.time() + 120
    while _count(out / file) < at and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return proc.returncode


def _clean_jsonl(path):
    data = path.read_bytes()
    assert data.endswith(b"\n")
    rows = [json.loads(line) for line in data.decode().splitlines()]
    keys = [(r["item_id"], r.get("mode"), r.get("sample_index")) for r in rows]
    assert len(keys) == len(set(keys)), f"duplicate records in {path.name}"
    return rows


@pytest.mark.slow
def test_sigkill_at_three_random_points_then_resume(tmp_path):
    items = tmp_path / "items.jsonl"
    write_items(items, math_items(5, 1, 10) + math_items(5, 3, 10) + mapping_items(5, 2, 5))
    ref = tmp_path / "reference"
    run_cli("run", "--model", MODEL, "--judge", "grid-test", "--items", str(items), "--out", str(ref))

    out = tmp_path / "killed"
    args = [
        "run",
        "--model",
        MODEL,
        "--judge",
        "grid-test:8",
        "--items",
        str(items),
        "--out",
        str(out),
        "--batch-size",
        "4",
    ]
    rng = np.random.default_rng(20240607)
    gen_points = sorted(rng.integers(1, N_SAMPLES, size=2))
    judge_point = int(rng.integers(1, N_SAMPLES))
    assert _kill_when(out, "samples.jsonl", gen_points[0], args) == -signal.SIGKILL
    assert _kill_when(out, "samples.jsonl", gen_points[1], args) == -signal.SIGKILL
    assert _kill_when(out, "verdicts.jsonl", judge_point, args) == -signal.SIGKILL
    assert 0 < _count(out / "verdicts.jsonl") < N_SAMPLES  # the third kill landed while judging
    run_cli(*args)

    samples = _clean_jsonl(out / "samples.jsonl")
    verdicts = _clean_jsonl(out / "verdicts.jsonl")
    _clean_jsonl(out / "understanding.jsonl")
    assert len(samples) == len(verdicts) == N_SAMPLES
    assert not list(out.rglob("*.tmp"))
    for rel in tree_digest(out):
        with Image.open(out / rel) as im:
            im.load()  # a truncated PNG raises here
    assert tree_digest(out) == tree_digest(ref)
    assert json.loads((out / "summary.json").read_text()) == json.loads((ref / "summary.json").read_text())
    with Image.open(io.BytesIO((out / samples[0]["image"]).read_bytes())) as im:
        assert im.size == (48, 48)
