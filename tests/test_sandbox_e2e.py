"""End to end: train the quick profile from scratch, load it as a UnifiedModel, evaluate it."""

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from unisandbox.models.base import Capabilities, UnifiedModel, sample_seed
from unisandbox.models.sandbox import train
from unisandbox.models.sandbox.adapter import SandboxModel, SandboxQueryModel
from unisandbox.models.sandbox.checkpoint import CONFIG, LOG, WEIGHTS
from unisandbox.runs.io import iter_jsonl
from unisandbox.tasks.math import math_items


@pytest.fixture(scope="module")
def quick_shared(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick_shared")
    train.main(
        replace(train.profile("quick", "shared", seed=3), threads=1),
        out,
        command=["test"],
        echo=lambda s: None,
    )
    return out


@pytest.mark.slow
def test_quick_profile_writes_a_complete_checkpoint(quick_shared):
    cfg = json.loads((quick_shared / CONFIG).read_text())
    assert cfg["arch"] == "shared" and cfg["seed"] == 3 and cfg["command"] == "test"
    assert (quick_shared / WEIGHTS).stat().st_size > 0
    log = list(iter_jsonl(quick_shared / LOG))
    assert log[-1]["step"] == cfg["train"]["steps"]
    assert log[-1]["loss"] < 0.6 * log[0]["loss"]  # it learned something


@pytest.mark.slow
def test_adapter_protocol_and_batch_invariance(quick_shared):
    model = SandboxModel.from_spec(str(quick_shared), device="cpu", batch_size=3)
    assert isinstance(model, UnifiedModel)
    assert model.capabilities == Capabilities(understands=True, thinks=True, trainable=True)
    items = math_items(9, 1, 5, "test")
    und = model.understand([it.probe.question for it in items])
    assert len(und) == 5 and all(isinstance(u.answer, str) for u in und)
    for mode in ("normal", "think"):
        seeds = [sample_seed(it.id, mode, 0) for it in items]
        gens = model.generate(items, mode, seeds)
        assert [g.image.size for g in gens] == [(48, 48)] * 5
        alone = model.generate(items[2:3], mode, seeds[2:3])[0]
        assert np.array_equal(np.asarray(alone.image), np.asarray(gens[2].image))
        assert alone.text == gens[2].text
        if mode == "think":
            assert all(g.text for g in gens)
    again = SandboxModel.from_spec(str(quick_shared), device="cpu", batch_size=64)
    g1 = again.generate(items, "think", [7] * 5)
    g2 = model.generate(items, "think", [7] * 5)
    assert all(np.array_equal(np.asarray(a.image), np.asarray(b.image)) for a, b in zip(g1, g2, strict=True))
    assert model.describe()["weights_sha256"] == again.describe()["weights_sha256"]


@pytest.mark.slow
def test_finetune_and_save_round_trip(quick_shared, tmp_path):
    model = SandboxModel.from_spec(str(quick_shared), device="cpu")
    seqs = model.understanding_sequences([("what is the colour of zorblat?", "green")] * 4)
    losses = model.finetune(seqs, steps=30, lr=3e-3, batch_size=4, seed=0)
    assert losses[-1] < losses[0]
    model.save(tmp_path / "tuned", extra={"finetuned": "test"})
    tuned = SandboxModel.from_spec(str(tmp_path / "tuned"), device="cpu")
    assert (
        tuned.understand(["what is the colour of zorblat?"])[0].answer
        == model.understand(["what is the colour of zorblat?"])[0].answer
    )
    assert json.loads((tmp_path / "tuned" / CONFIG).read_text())["finetuned"] == "test"


@pytest.mark.slow
def test_eval_cli_json_shape(quick_shared):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "unisandbox",
            "sandbox",
            "eval",
            "--checkpoint",
            str(quick_shared),
            "--json",
            "--limit",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["arch"] == "shared" and 0.0 <= rep["draw_accuracy"] <= 1.0
    for key in ("probe_accuracy", "think_accuracy", "normal_accuracy"):
        assert set(rep[key]) == {"math", "mapping"}
        for task in ("math", "mapping"):
            assert set(rep[key][task]) == {"1", "2", "3"}
            assert all(0.0 <= v <= 1.0 for v in rep[key][task].values())
    assert rep["n"]["mapping"]["1"] == 2  # counted per A/B pair


@pytest.mark.slow
def test_query_arch_quick_end_to_end(tmp_path):
    cfg = replace(train.profile("quick", "query", seed=1), threads=1, steps=60, lm_steps=60)
    train.main(cfg, tmp_path, command=["test"], echo=lambda s: None)
    model = SandboxQueryModel.from_spec(str(tmp_path), device="cpu")
    items = math_items(9, 1, 3, "test")
    gens = model.generate(items, "think", [1, 2, 3])
    assert [g.image.size for g in gens] == [(48, 48)] * 3
    alone = model.generate(items[1:2], "think", [2])[0]
    assert np.array_equal(np.asarray(alone.image), np.asarray(gens[1].image))
    with pytest.raises(ValueError):
        SandboxModel.from_spec(str(tmp_path))  # a query checkpoint is not a shared one


def test_bad_checkpoint_dir_is_a_clear_error(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "unisandbox", "sandbox", "eval", "--checkpoint", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert "not a sandbox checkpoint" in r.stderr
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "unisandbox",
            "sandbox",
            "train",
            "--arch",
            "nope",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "--arch" in r.stderr
    assert not (tmp_path / "x").exists()
