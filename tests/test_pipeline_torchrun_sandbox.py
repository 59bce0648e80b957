"""The shipped sandbox model under torchrun (2 ranks, gloo, CPU) and --shard gives the same images, records
and summary as one process: seeds come from (item, mode, sample index), never from rank or batch."""

import json

import pytest

from pipeline_testkit import run_cli, run_torchrun, tree_digest
from unisandbox.tasks.base import write_items
from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items


@pytest.mark.slow
def test_sandbox_model_same_output_for_one_process_two_ranks_and_two_shards(tmp_path):
    items = tmp_path / "items.jsonl"
    write_items(items, math_items(11, 2, 5, "test") + mapping_items(11, 1, 2, "test"))
    common = ["--model", "sandbox", "--items", str(items), "--batch-size", "3"]
    single, multi, sharded = tmp_path / "single", tmp_path / "multi", tmp_path / "sharded"
    run_cli("generate", *common, "--out", str(single))
    run_torchrun("generate", *common, "--out", str(multi), timeout=600)
    run_cli("generate", *common, "--out", str(sharded), "--shard", "0/2")
    run_cli("generate", *common, "--out", str(sharded), "--shard", "1/2")
    run_cli("merge", "--out", str(sharded))
    for out in (multi, sharded):
        assert tree_digest(out) == tree_digest(single)  # byte-identical images
        assert (out / "samples.jsonl").read_text() == (single / "samples.jsonl").read_text()
        assert (out / "understanding.jsonl").read_text() == (single / "understanding.jsonl").read_text()
    summaries = []
    for out in (single, multi, sharded):
        run_cli("judge", "--out", str(out), "--judge", "sandbox")
        run_cli("report", "--out", str(out))
        summaries.append(json.loads((out / "summary.json").read_text()))
    assert summaries[0]["complete"] and summaries[1] == summaries[0] and summaries[2] == summaries[0]
