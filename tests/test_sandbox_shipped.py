"""The shipped checkpoints: present, small, reproducible on paper, and working."""

import json

import numpy as np
import pytest

from unisandbox.judges.match import match
from unisandbox.judges.sandbox import SandboxJudge
from unisandbox.models.sandbox.checkpoint import CONFIG, WEIGHTS, WEIGHTS_SHA256, file_sha256, shipped_dir
from unisandbox.models.sandbox.mixture import description_of
from unisandbox.tasks.base import CountAnswer, ObjectAnswer

MAX_BYTES = 25 * 1024 * 1024


@pytest.mark.parametrize("arch", ["shared", "query"])
def test_shipped_checkpoint_is_small_and_records_how_it_was_made(arch):
    d = shipped_dir(arch)
    total = sum(p.stat().st_size for p in d.iterdir() if p.is_file())
    assert total <= MAX_BYTES
    cfg = json.loads((d / CONFIG).read_text())
    assert cfg["arch"] == arch
    assert cfg["command"].startswith("unisandbox sandbox train") and f"--arch {arch}" in cfg["command"]
    assert cfg["train"]["profile"] == "full" and cfg["seed"] == cfg["train"]["seed"]
    assert (d / "train_log.jsonl").is_file()
    # Every load checks the weights against this hash: a flipped bit in a shipped file is refused.
    assert cfg[WEIGHTS_SHA256] == file_sha256(d / WEIGHTS)


@pytest.mark.parametrize("kind", ["sandbox", "sandbox-query"])
def test_shipped_models_draw_plain_descriptions(kind):
    from unisandbox.registry import load_model

    model = load_model(kind, device="cpu")
    # On the official split (docs/sandbox.md): objects 0.995 (shared) / 0.997 (query), exact counts 1.00 (both).
    answers = [
        ObjectAnswer(object=o) for o in ("chair", "hat", "moon", "kite", "drum", "cup", "tree", "key")
    ] * 3
    gens = model.draw_descriptions([description_of(a) for a in answers], list(range(len(answers))))
    judge = SandboxJudge()
    ok = [
        match(judge.caption_array(np.asarray(g.image)), a) == "correct"
        for g, a in zip(gens, answers, strict=True)
    ]
    assert sum(ok) / len(ok) >= 0.9, ok
    counts = [CountAnswer(count=1 + i % 3, object="cup") for i in range(30)]
    gens = model.draw_descriptions([description_of(a) for a in counts], list(range(100, 130)))
    caps = [judge.caption_array(np.asarray(g.image)) for g in gens]
    assert sum(match(c, a) == "correct" for c, a in zip(caps, counts, strict=True)) >= 27


def _level1_probe_accuracy(kind: str, task: str, limit: int) -> float:
    """Share of the first `limit` official level-1 probes of `task` the shipped model answers right."""
    from unisandbox.models.sandbox.evaluate import official_items
    from unisandbox.registry import load_model
    from unisandbox.runs.probes import probe_correct

    model = load_model(kind, device="cpu")
    items = official_items(limit=limit)[(task, 1)]
    answers = model.understand([it.probe.question for it in items])
    return sum(probe_correct(a.answer, it.probe.answer) for a, it in zip(answers, items, strict=True)) / len(
        items
    )


def test_shipped_shared_model_answers_level1_probes():
    assert _level1_probe_accuracy("sandbox", "math", limit=40) >= 0.9


@pytest.mark.parametrize("kind", ["sandbox", "sandbox-query"])
def test_shipped_models_copy_mapping_answers_from_the_prompt(kind):
    """Level-1 mapping probes need the copy circuit: find the symbol in the rules, copy what follows it
    (per item here; docs/sandbox.md gives per-pair figures on the whole split)."""
    assert _level1_probe_accuracy(kind, "mapping", limit=20) >= 0.9
