"""`torchrun --nproc-per-node 2` (gloo, CPU) gives the same images and summary as one process."""

import json

import pytest

from pipeline_testkit import run_cli, run_torchrun, tree_digest
from unisandbox.tasks.base import write_items
from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process(tmp_path):
    items = tmp_path / "items.jsonl"
    write_items(items, math_items(9, 1, 7) + mapping_items(9, 3, 4))
    common = ["--model", "fake:p_normal=0.4,p_think=0.9", "--items", str(items)]
    single, multi = tmp_path / "single", tmp_path / "multi"
    run_cli("generate", *common, "--out", str(single))
    run_torchrun("generate", *common, "--out", str(multi))
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
