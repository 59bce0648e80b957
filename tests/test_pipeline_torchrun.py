"""`torchrun --nproc-per-node 2` (gloo, CPU) gives the same images and summary as one process."""

import json
import os
import subprocess
import sys

import pytest

from pipeline_testkit import run_cli, tree_digest
from unisandbox.tasks.base import write_items
from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "unisandbox",
        *args,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process(tmp_path):
    items = tmp_path / "items.jsonl"
    write_items(items, math_items(9, 1, 7) + mapping_items(9, 3, 4))
    common = ["--model", "fake:p_normal=0.4,p_think=0.9", "--items", str(items)]
    single, multi = tmp_path / "single", tmp_path / "multi"
    run_cli("generate", *common, "--out", str(single))
    _torchrun("generate", *common, "--out", str(multi))
    assert not list(multi.glob("*.rank*.jsonl"))  # rank 0 merged the rank files after the barrier
    assert tree_digest(multi) == tree_digest(single)
    assert (multi / "samples.jsonl").read_text() == (single / "samples.jsonl").read_text()
    assert (multi / "understanding.jsonl").read_text() == (single / "understanding.jsonl").read_text()
    for out in (single, multi):
        run_cli("judge", "--out", str(out), "--judge", "grid-test")
        run_cli("report", "--out", str(out))
    assert json.loads((multi / "summary.json").read_text()) == json.loads(
        (single / "summary.json").read_text()
    )
