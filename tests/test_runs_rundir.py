import json
from pathlib import Path

import pytest

from unisandbox.runs.config import ConfigError, RunConfig
from unisandbox.runs.distributed import parse_shard
from unisandbox.runs.io import JsonlAppender, iter_jsonl
from unisandbox.runs.pipeline import open_run
from unisandbox.runs.probes import probe_correct
from unisandbox.runs.records import SampleRecord
from unisandbox.runs.rundir import RunDir
from unisandbox.tasks.base import write_items
from unisandbox.tasks.math import math_items


def _sample(item_id: str, image: str | None = "x.png", mode: str = "normal") -> dict:
    return SampleRecord(
        item_id=item_id,
        mode=mode,
        sample_index=0,
        seed=1,
        image=image,
        model="t",
        error=None if image else "boom",
    ).model_dump(mode="json")


def test_append_many_and_torn_last_line_is_skipped_then_repaired(tmp_path):
    path = tmp_path / "samples.jsonl"
    with JsonlAppender(path) as out:
        out.append_many([_sample("a"), _sample("b")])
    with open(path, "a") as f:
        f.write('{"item_id": "c", "mo')  # a write torn by a kill
    assert [r["item_id"] for r in iter_jsonl(path)] == ["a", "b"]
    with JsonlAppender(path) as out:
        out.append(_sample("d"))
    assert [r["item_id"] for r in iter_jsonl(path)] == ["a", "b", "d"]
    assert path.read_text().endswith("\n")


def test_union_of_shards_first_wins_but_a_retry_replaces_a_failure(tmp_path):
    run = RunDir(tmp_path)
    with run.appender("samples") as out:
        out.append_many([_sample("a"), _sample("b", image=None)])
    with run.appender("samples", "shard1of2") as out:
        out.append_many([_sample("a", image="other.png"), _sample("b"), _sample("c")])
    recs = run.read_records("samples")
    assert recs[("a", "normal", 0)].image == "x.png"
    assert recs[("b", "normal", 0)].image == "x.png"  # the failed record was superseded by the retry
    assert set(recs) == {("a", "normal", 0), ("b", "normal", 0), ("c", "normal", 0)}
    order = {"c": 0, "b": 1, "a": 2}
    assert run.merge("samples", lambda key: order[key[0]])
    assert not run.shard_paths("samples")
    assert [r["item_id"] for r in iter_jsonl(run.record_path("samples"))] == ["c", "b", "a"]
    assert run.read_records("samples") == recs


def test_manifest_records_versions_and_refuses_other_options(tmp_path):
    items_file = tmp_path / "items.jsonl"
    write_items(items_file, math_items(3, 1, 4))
    out = tmp_path / "run"
    opened = open_run(out, {"model": "fake", "items_files": (str(items_file),)}, create=True)
    assert not out.exists()  # nothing is written before the model has loaded
    opened.materialize()
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("unisandbox_version", "git_commit", "python", "torch", "config", "items_sha256", "created"):
        assert key in manifest
    assert manifest["config"]["model"] == "fake" and manifest["config"]["seed"] == 0
    assert len(opened.plan.items) == 4
    # Same options, or none: the run resumes.
    open_run(out, {"model": "fake", "items_files": (str(items_file),)}, create=False)
    open_run(out, {}, create=False)
    with pytest.raises(ConfigError, match="samples_per_item"):
        open_run(out, {"samples_per_item": 2}, create=False)
    with pytest.raises(ConfigError, match="limit"):
        open_run(out, {"limit": 2, "items_files": (str(items_file),)}, create=False)
    other = tmp_path / "other.jsonl"
    write_items(other, math_items(4, 1, 4))
    with pytest.raises(ConfigError, match="items"):
        open_run(out, {"items_files": (str(other),)}, create=False)
    with pytest.raises(ConfigError, match="no run here"):
        open_run(tmp_path / "nothing", {}, create=False)


def test_bind_component_refuses_a_different_model(tmp_path):
    run = RunDir(tmp_path)
    manifest = run.create(RunConfig(model="fake"), math_items(3, 1, 2))
    manifest = run.bind_component(manifest, "model", "fake", {"kind": "fake", "p": 1, "device": "cpu"})
    # A runtime key (device) may change on resume; the identity may not.
    run.bind_component(manifest, "model", "fake", {"kind": "fake", "p": 1, "device": "cuda"})
    with pytest.raises(ConfigError, match="new --out"):
        run.bind_component(manifest, "model", "fake", {"kind": "fake", "p": 2})


@pytest.mark.parametrize(
    "bad",
    [
        RunConfig(modes=("normal", "dream")),
        RunConfig(samples_per_item=0),
        RunConfig(limit=0),
        RunConfig(layout="study", samples_per_item=2),
        RunConfig(levels=(4,)),
        RunConfig(layout="flat"),
    ],
)
def test_bad_configs_are_refused(bad):
    with pytest.raises(ConfigError):
        bad.validate()


def test_parse_shard():
    s = parse_shard("1/4")
    assert (s.index, s.count, s.label) == (1, 4, "shard1of4")
    assert [p for p in range(10) if s.owns(p)] == [1, 5, 9]
    for bad in ("4/4", "1/0", "x", "1/2/3"):
        with pytest.raises(ConfigError):
            parse_shard(bad)


@pytest.mark.parametrize(
    "answer,expected,ok",
    [
        ("3", "3", True),
        ("The answer is 3.", "3", True),
        ("three", "3", True),
        ("3.0", "3", True),
        ("4", "3", False),
        ("", "3", False),
        ("Chairs", "chair", True),
        ("a mug", "cup", True),
        ("chairs", "tables", False),
        ("cherries", "cherry", True),
        ("apple", "3", False),
    ],
)
def test_probe_correct(answer, expected, ok):
    assert probe_correct(answer, expected) is ok


def test_image_paths_are_unique_per_key(tmp_path):
    run = RunDir(tmp_path)
    it = math_items(3, 2, 1)[0]
    paths = {run.image_relpath(it, m, k, "ours") for m in ("normal", "think") for k in range(3)}
    assert len(paths) == 6
    assert run.image_relpath(it, "think", 0, "study") == f"test/think/math_2/{it.id}.png"
    assert not Path(run.image_relpath(it, "normal", 0, "ours")).is_absolute()


def test_damaged_lines_anywhere_are_quarantined_and_nothing_valid_is_lost(tmp_path):
    run = RunDir(tmp_path)
    with run.appender("samples") as out:
        out.append_many([_sample("a"), _sample("b")])
    with open(run.record_path("samples"), "a") as f:
        f.write('{"item_id": "x", "mode": "nor\n')  # bad JSON in the middle
        f.write(
            json.dumps({"item_id": "y", "mode": "sideways", "sample_index": 0}) + "\n"
        )  # fails the schema
    with run.appender("samples") as out:
        out.append(_sample("c"))
    with open(run.record_path("samples"), "a") as f:
        f.write('{"item_id": "d", "mo')  # a torn last line: left for the appender to repair
    assert set(k[0] for k in run.read_records("samples")) == {"a", "b", "c"}
    warnings = run.quarantine_damaged()
    assert len(warnings) == 1 and "2 damaged line(s)" in warnings[0] and "line 3, 4" in warnings[0]
    side = tmp_path / "samples.jsonl.damaged"
    assert side.read_text().splitlines() == [
        '{"item_id": "x", "mode": "nor',
        json.dumps({"item_id": "y", "mode": "sideways", "sample_index": 0}),
    ]
    assert [r["item_id"] for r in iter_jsonl(run.record_path("samples"))] == ["a", "b", "c"]
    assert run.record_path("samples").read_text().endswith('{"item_id": "d", "mo')
    assert run.quarantine_damaged() == []  # once moved, no warning again
    assert not run.shard_paths("samples")  # the side file is not mistaken for a shard
