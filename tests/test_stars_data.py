"""`unisandbox stars-data`: held-out items, rejection, curriculum order, every format read back, resume."""

import hashlib
import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from pipeline_testkit import cli_command, run_cli, run_torchrun
from unisandbox.runs.records import SampleRecord, VerdictRecord
from unisandbox.training.heldout import expression_key
from unisandbox.training.stars_data import (
    StarsDataConfig,
    acceptance,
    accepted,
    fresh_items,
    held_out_keys,
    main,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _records(run):
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    verdicts = [json.loads(x) for x in (run / "verdicts.jsonl").read_text().splitlines()]
    return samples, verdicts


def test_fresh_items_hold_out_every_test_expression_and_rule_set():
    cfg = StarsDataConfig(model="fake", items_per_level=150, levels=(3, 1)).validate()
    items = fresh_items(cfg)
    held = held_out_keys(cfg.tasks)
    assert items and all(it.split == "train" for it in items)
    assert not [it.id for it in items if expression_key(it) in held]
    # Level 1 math shares most expressions with the test split, so the filter has real work to do.
    assert len({k for k in held if k[0] == "math"}) > 100
    assert [it.level for it in items] == sorted(it.level for it in items)  # curriculum order
    for task in ("math", "mapping"):
        for level in (1, 3):
            units = {it.group or it.id for it in items if (it.task, it.level) == (task, level)}
            assert len(units) == 150
    assert [it.id for it in fresh_items(cfg)] == [it.id for it in items]  # deterministic


def _sample(it, k, image=True):
    return SampleRecord(
        item_id=it.id,
        mode="think",
        sample_index=k,
        seed=k,
        image=f"x/{it.id}-{k}.png" if image else None,
        text=f"trace {k}",
        rewritten_prompt="p",
        model="m",
    )


def _verdict(it, k, v):
    return VerdictRecord(
        item_id=it.id, mode="think", sample_index=k, verdict=v, caption="c", judge="j", judge_hash="h"
    )


def test_rejection_and_curriculum_order_on_known_verdicts():
    cfg = StarsDataConfig(model="fake", items_per_level=2).validate()
    items = fresh_items(cfg)[::-1]  # level 3 first: the output must still start with level 1
    plan = ["correct", "wrong", "error", "missing", "pending", "correct"]
    samples, verdicts, expect = {}, {}, []
    for i, it in enumerate(items):
        for k in range(2):
            v = plan[(2 * i + k) % len(plan)]
            if v != "missing":
                samples[(it.id, "think", k)] = _sample(it, k)
            if v not in ("missing", "pending"):
                verdicts[(it.id, "think", k)] = _verdict(it, k, v)
            if v == "correct":
                expect.append((it.level, ("math", "mapping").index(it.task), i, k, f"{it.id}-s{k}"))
    triples = accepted(items, 2, samples, verdicts)
    assert [t.id for t in triples] == [e[-1] for e in sorted(expect)]
    assert [t.level for t in triples] == sorted(t.level for t in triples)
    rates = acceptance(items, 2, samples, verdicts)
    n_correct = sum(1 for t in triples if t.level == 1)
    lv1 = rates["level 1"]
    assert lv1["accepted"] == n_correct and lv1["samples"] == 2 * sum(1 for it in items if it.level == 1)
    assert lv1["judged"] + lv1["errors"] + lv1["missing"] == lv1["samples"]
    assert lv1["ci_low"] <= lv1["rate"] <= lv1["ci_high"]


def _read_all_formats(out):
    """Every format read back; returns the triple ids of each, checking they agree with each other."""
    import datasets
    import pyarrow.parquet as pq

    rows = [json.loads(x) for x in (out / "jsonl" / "triples.jsonl").read_text().splitlines()]
    for r in rows:
        assert (out / "jsonl" / r["image"]).read_bytes()[:4] == b"\x89PNG"
    ds = datasets.load_dataset(
        "parquet",
        data_files=str(out / "parquet" / "train.parquet"),
        split="train",
        cache_dir=str(out.parent / "hf-cache"),
    )
    assert ds["id"] == [r["id"] for r in rows] and ds["trace"] == [r["trace"] for r in rows]
    if rows:
        img = ds[0]["image"]
        assert img.size[0] > 0 and img.tobytes() and hasattr(img, "convert")
    info = json.loads((out / "bagel" / "dataset_info.json").read_text())["t2i_pretrain"]
    bagel_prompts = []
    for name, entry in info.items():
        table = pq.read_table(Path(entry["data_dir"]) / "part-00000.parquet")
        assert table.column_names == ["image", "captions"] and table.num_rows == entry["num_total_samples"]
        bagel_prompts += [json.loads(c)["prompt"] for c in table.column("captions").to_pylist()]
        assert f"- {name}\n" in (out / "bagel" / "configs" / f"{name}.yaml").read_text()
    assert bagel_prompts == [r["prompt"] for r in rows]  # the same triples, the same curriculum order
    return rows


def test_fake_model_all_formats_read_back_and_rejection_matches_the_verdicts(tmp_path):
    out = tmp_path / "sd"
    cfg = StarsDataConfig(model="fake:p_think=0.6", items_per_level=3, samples=2)
    manifest = main(out, cfg, ("jsonl", "parquet", "bagel"))
    rows = _read_all_formats(out)
    samples, verdicts = _records(out / "run")
    correct = {(v["item_id"], v["sample_index"]) for v in verdicts if v["verdict"] == "correct"}
    assert {(r["item_id"], r["sample_index"]) for r in rows} == correct
    assert 0 < len(rows) < len(samples) == 3 * 2 * 3 * (1 + 2)  # levels x K x items (mapping: 2 per pair)
    assert [r["level"] for r in rows] == sorted(r["level"] for r in rows)
    by_key = {(s["item_id"], s["sample_index"]): s for s in samples}
    for r in rows:  # the triple is the model's own sample: its trace, its image
        s = by_key[(r["item_id"], r["sample_index"])]
        assert r["trace"] == s["text"] and r["trace"]
        assert (out / "jsonl" / r["image"]).read_bytes() == (out / "run" / s["image"]).read_bytes()
    for lv in (1, 2, 3):
        a = manifest["acceptance"][f"level {lv}"]
        assert a["accepted"] == sum(1 for r in rows if r["level"] == lv)
        assert a["judged"] == sum(
            1 for v in verdicts if f"-l{lv}-" in v["item_id"] and v["verdict"] in ("correct", "wrong")
        )
    assert manifest["model"]["spec"] == "fake:p_think=0.6" and manifest["judge"]["spec"] == "sandbox"
    assert manifest["complete"] and manifest["accepted"] == len(rows)
    # Same options: nothing new is sampled and the outputs are the same.
    before = (out / "jsonl" / "triples.jsonl").read_bytes()
    main(out, cfg, ("jsonl",))
    assert (out / "jsonl" / "triples.jsonl").read_bytes() == before
    assert len(_records(out / "run")[0]) == len(samples)
    with pytest.raises(Exception, match="another configuration"):
        main(out, StarsDataConfig(model="fake:p_think=0.6", items_per_level=4, samples=2), ("jsonl",))


COMMAND_MODEL = textwrap.dedent('''
    """A command-line "model" for the test: draws each item's answer, or a near miss when seed % 3 == 0."""
    import argparse, json, sys
    from pathlib import Path
    import numpy as np
    from unisandbox.models.fake import near_miss
    from unisandbox.tasks.base import read_items
    from unisandbox.world.render import encode_png, render_answer

    ap = argparse.ArgumentParser()
    ap.add_argument("--input"); ap.add_argument("--outdir")
    args = ap.parse_args()
    items = {it.id: it for it in read_items(Path(__file__).with_name("items.jsonl"))}
    for line in open(args.input):
        req = json.loads(line)
        it = items[req["item_id"]]
        answer = near_miss(it.expected, 0.25) if req["seed"] % 3 == 0 else it.expected
        png = encode_png(render_answer(answer, np.random.default_rng(req["seed"] % 2**32), style="grid"))
        (Path(args.outdir) / (req["id"] + ".png")).write_bytes(png)
        trace = " ; ".join(it.steps)
        (Path(args.outdir) / (req["id"] + ".json")).write_text(json.dumps({"text": trace, "rewritten_prompt": trace}))
''')


def test_command_model_end_to_end_through_the_cli(tmp_path):
    cfg = StarsDataConfig(model="x", items_per_level=3, samples=2, levels=(1, 2))
    from unisandbox.tasks.base import write_items

    write_items(tmp_path / "items.jsonl", fresh_items(cfg.validate()))  # the script's answer key
    script = tmp_path / "model.py"
    script.write_text(COMMAND_MODEL)
    out = tmp_path / "sd"
    proc = run_cli(
        "stars-data",
        "--model",
        f"command:{script}",
        "--levels",
        "1,2",
        "--items-per-level",
        "3",
        "--samples",
        "2",
        "--format",
        "jsonl,parquet,bagel",
        "--out",
        str(out),
    )
    assert "accepted triples" in proc.stdout
    rows = _read_all_formats(out)
    samples, verdicts = _records(out / "run")
    drawn_right = {(s["item_id"], s["sample_index"]) for s in samples if s["seed"] % 3 != 0}
    judged_right = {(v["item_id"], v["sample_index"]) for v in verdicts if v["verdict"] == "correct"}
    assert {(r["item_id"], r["sample_index"]) for r in rows} == judged_right
    assert judged_right <= drawn_right and len(judged_right) >= 0.9 * len(drawn_right)  # near misses rejected
    assert all(r["trace"].endswith(r["trace"].split(" ; ")[-1]) and "answer:" in r["trace"] for r in rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["spec"] == f"command:{script}"
    assert set(manifest["acceptance"]) == {"math/1", "mapping/1", "math/2", "mapping/2", "level 1", "level 2"}


def test_sandbox_model_end_to_end(tmp_path):
    out = tmp_path / "sd"
    run_cli(
        "stars-data",
        "--model",
        "sandbox",
        "--levels",
        "1",
        "--items-per-level",
        "2",
        "--samples",
        "2",
        "--format",
        "jsonl",
        "--format",
        "bagel",
        "--out",
        str(out),
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["spec"] == "sandbox" and set(manifest["formats"]) == {"jsonl", "bagel"}
    rows = [json.loads(x) for x in (out / "jsonl" / "triples.jsonl").read_text().splitlines()]
    assert len(rows) == manifest["acceptance"]["level 1"]["accepted"]
    assert manifest["acceptance"]["level 1"]["samples"] == 2 * (2 + 4)


def _digest(out):
    files = [
        out / "jsonl" / "triples.jsonl",
        out / "parquet" / "train.parquet",
        *sorted((out / "jsonl").rglob("*.png")),
        *sorted((out / "bagel").rglob("*.parquet")),
    ]
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_a_killed_run_resumes_to_the_same_output(tmp_path):
    args = [
        "stars-data",
        "--model",
        "fake:p_think=0.7,delay_ms=30",
        "--items-per-level",
        "4",
        "--samples",
        "2",
        "--levels",
        "1,2",
        "--batch-size",
        "4",
        "--format",
        "jsonl,parquet,bagel",
    ]
    ref = tmp_path / "ref"
    run_cli(*args, "--out", str(ref))
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        cli_command(*args, "--out", str(out)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.time() + 120
    samples = out / "run" / "samples.jsonl"
    while (not samples.exists() or samples.read_bytes().count(b"\n") < 12) and time.time() < deadline:
        assert proc.poll() is None, "finished before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "manifest.json").exists()
    run_cli(*args, "--out", str(out))
    assert _digest(out) == _digest(ref)
    assert (
        json.loads((out / "manifest.json").read_text())["acceptance"]
        == json.loads((ref / "manifest.json").read_text())["acceptance"]
    )


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "sd"
    for extra in (
        ["--model", "nosuch"],
        ["--judge", "nosuch"],
        ["--judge", "vlm"],
        ["--format", "xml"],
        ["--tasks", "knowledge"],
        ["--levels", "4"],
        ["--samples", "0"],
    ):
        proc = subprocess.run(
            cli_command("stars-data", "--model", "fake", "--out", str(out), *extra[-2:]),
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert proc.returncode == 2, (extra, proc.stderr)
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert not out.exists()


@pytest.mark.slow
def test_torchrun_two_ranks_write_the_same_data_as_one_process(tmp_path):
    args = [
        "stars-data",
        "--model",
        "fake:p_think=0.6",
        "--items-per-level",
        "3",
        "--samples",
        "2",
        "--levels",
        "1,2",
        "--format",
        "jsonl,parquet,bagel",
    ]
    single, multi = tmp_path / "single", tmp_path / "multi"
    run_cli(*args, "--out", str(single))
    run_torchrun(*args, "--out", str(multi))
    assert not list((multi / "run").glob("*.rank*.jsonl"))  # rank 0 merged the rank files
    assert _digest(multi) == _digest(single)


def test_missing_images_stop_with_exit_3_unless_allowed(tmp_path):
    out = tmp_path / "sd"
    args = [
        "stars-data",
        "--model",
        "fake:p_think=0.8,p_no_image=0.3",
        "--items-per-level",
        "4",
        "--samples",
        "2",
        "--levels",
        "1",
        "--tasks",
        "math",
        "--out",
        str(out),
    ]
    proc = run_cli(*args, check=False)
    assert proc.returncode == 3 and proc.stderr.startswith("stopped: "), proc.stderr
    assert not (out / "manifest.json").exists()
    run_cli(*args, "--allow-incomplete")
    manifest = json.loads((out / "manifest.json").read_text())
    rate = manifest["acceptance"]["math/1"]
    assert not manifest["complete"] and rate["errors"] + rate["missing"] > 0  # a model failure is an error
    assert rate["judged"] + rate["missing"] + rate["errors"] == rate["samples"] == 8
    samples, verdicts = _records(out / "run")
    correct = {(v["item_id"], v["sample_index"]) for v in verdicts if v["verdict"] == "correct"}
    rows = [json.loads(x) for x in (out / "jsonl" / "triples.jsonl").read_text().splitlines()]
    assert {(r["item_id"], r["sample_index"]) for r in rows} == correct and len(rows) == rate["accepted"]
