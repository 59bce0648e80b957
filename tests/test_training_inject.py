"""Knowledge injection: the corpus as text-only data, the generation pathway untouched (query arch)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from unisandbox.training import inject
from unisandbox.training.common import ReplayConfig, generation_params, param_hash

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_testkit import run_torchrun  # noqa: E402
from training_tiny import tiny_checkpoint  # noqa: E402

SMALL = inject.InjectConfig(
    steps=12, batch_size=8, replay=ReplayConfig(math_items=8, mapping_items=4, n_draw=20, size=500)
)


def test_official_world_matches_the_shipped_corpus_and_injected_data_has_no_image_token():
    from unisandbox.models.sandbox.checkpoint import load_checkpoint

    world = inject.official_world()
    assert len(world.characters) == 10 and len(world.corpus) == 400
    ckpt = load_checkpoint(tiny_checkpoint("shared"), "shared", device="cpu")
    seqs = inject.injection_sequences(ckpt.codec)
    assert len(seqs) == 400
    assert all(not any(s.cells) and max(s.ids) < ckpt.codec.code_offset for s in seqs)
    # Shared: replay keeps drawing alive (images included); query: text only, its image side never trains.
    assert any(any(s.cells) for s in inject.injection_replay(ckpt, SMALL))
    q = load_checkpoint(tiny_checkpoint("query"), "query", device="cpu")
    replay = inject.injection_replay(q, SMALL)
    assert replay and all(not any(s.cells) and max(s.ids) < q.codec.code_offset for s in replay)


def _hash_lm(model) -> str:
    return param_hash(sorted((n, p) for n, p in model.named_parameters() if n.startswith("lm.")))


@pytest.mark.slow
def test_query_injection_changes_the_lm_and_leaves_the_generation_pathway_untouched(tmp_path):
    from unisandbox.models.sandbox.checkpoint import load_checkpoint

    src = tiny_checkpoint("query")
    before = load_checkpoint(src, "query", device="cpu").model
    record = inject.train(src, "query", tmp_path / "ckpt", SMALL, log=lambda s: None)
    after = load_checkpoint(tmp_path / "ckpt", "query", device="cpu").model
    g = record["generation_pathway"]
    assert g["untouched"] is True and g["hash_before"] == g["hash_after"]
    # Checked again on the files: queries, projection and decoder byte-identical; the LM learned.
    assert param_hash(generation_params(after, "query")) == param_hash(generation_params(before, "query"))
    assert len(generation_params(after, "query")) > 3
    assert _hash_lm(after) != _hash_lm(before)


@pytest.mark.slow
def test_shared_injection_report_has_forward_and_inverse_in_both_modes(tmp_path, monkeypatch):
    # No --checkpoint (as `unisandbox inject --out DIR`): the shipped one, stood in for by a tiny one.
    ckpt = tiny_checkpoint("shared")
    monkeypatch.setattr("unisandbox.models.sandbox.checkpoint.shipped_dir", lambda arch: ckpt)
    report = inject.run(None, "shared", tmp_path / "inj", SMALL, log=lambda s: None)
    assert report["checkpoint"] == str(ckpt)
    on_disk = json.loads((tmp_path / "inj" / "inject_report.json").read_text())
    for r in (report, on_disk):
        for state in ("before", "after"):
            for d, n in (("forward", 30), ("inverse", 20)):
                for mode in ("normal", "think"):
                    s = r[state]["generation"][d][mode]
                    assert s["n"] == n and s["low"] <= s["value"] <= s["high"]
                assert r[state]["probes"][d]["n"] == n
    assert report["generation_pathway"]["untouched"] is None  # shared: no separate generation parameters
    assert "| forward | think |" in (tmp_path / "inj" / "inject_report.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("arch,port", [("shared", "29641"), ("query", "29643")])
def test_distributed_injection_two_cpu_processes_loss_falls(tmp_path, arch, port):
    ckpt = tiny_checkpoint(arch)
    run_torchrun(
        "inject",
        "--out",
        str(tmp_path / "ddp"),
        "--checkpoint",
        str(ckpt),
        "--arch",
        arch,
        "--steps",
        "60",
        "--threads",
        "1",
        port=port,
    )
    report = json.loads((tmp_path / "ddp" / "inject_report.json").read_text())
    assert report["world_size"] == 2
    assert report["loss"]["last"] < report["loss"]["first"]
    assert (tmp_path / "ddp" / "checkpoint" / "model.safetensors").is_file()
    if arch == "query":  # the LM learned the facts under DDP; the generation pathway stayed as it was
        assert report["generation_pathway"]["untouched"] is True
