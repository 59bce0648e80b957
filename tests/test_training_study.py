"""`unisandbox study`: the replication end to end on tiny checkpoints, findings.json as specified."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from unisandbox.training import study
from unisandbox.training.common import ReplayConfig

sys.path.insert(0, str(Path(__file__).parent))
from training_tiny import tiny_checkpoint  # noqa: E402


def _tiny_profile() -> study.StudyProfile:
    q = study.profile("quick")
    replay = ReplayConfig(math_items=6, mapping_items=3, n_draw=30)
    return replace(
        q,
        name="test",
        eval_limit=2,
        stars=replace(q.stars, train_items=3, samples_per_item=1, steps=6, batch_size=8, replay=replay),
        inject=replace(q.inject, steps=6, batch_size=8, replay=replace(replay, n_draw=1)),
    )


def test_profiles_are_defined_and_unknown_ones_refused():
    assert study.profile("full").eval_limit is None and study.profile("quick").eval_limit
    with pytest.raises(ValueError):
        study.profile("medium")


@pytest.mark.slow
def test_study_writes_findings_with_every_required_field(tmp_path):
    ckpts = {"shared": tiny_checkpoint("shared"), "query": tiny_checkpoint("query")}
    f = study.run(["shared", "query"], tmp_path, _tiny_profile(), ckpts, log=lambda s: None)
    on_disk = json.loads((tmp_path / "findings.json").read_text())
    assert on_disk["claims"] == f["claims"]
    for task in ("math", "mapping"):
        for level in ("1", "2", "3"):
            cell = on_disk["stars"][task][level]
            assert 0.0 <= cell["before"] <= 1.0 and 0.0 <= cell["after"] <= 1.0
            assert cell["after_ci"][0] <= cell["after"] <= cell["after_ci"][1]
    for d in ("forward", "inverse"):
        for mode in ("normal", "think"):
            assert 0.0 <= on_disk["injection"][d][mode] <= 1.0
    claims = on_disk["claims"]
    assert len(claims) == 15
    for c in claims:
        assert set(c) >= {"claim", "study", "sandbox", "verdict", "reason", "unseen"}
        assert c["verdict"] in ("agrees", "inconclusive", "disagrees", "not testable")
    for which in ("pretraining", "stars"):
        assert len(on_disk["by_arch"]["shared"]["heldout"][which]["math/1"]) == 2  # eval_limit units
    assert set(on_disk["by_arch"]) == {"shared", "query"}
    q = on_disk["by_arch"]["query"]["injection"]["generation_pathway"]
    assert q["untouched"] is True
    for variant in ("curriculum", "mixed", "unfiltered"):
        assert (tmp_path / "shared" / f"stars_{variant}" / "stars_report.json").is_file()
    text = (tmp_path / "report.md").read_text()
    assert "## Findings" in text and "| claim | study figure |" in text and "| chance |" in text
    # Resume: finished architectures are read back, not rerun, and give the same findings.
    logged: list[str] = []
    again = study.run(["shared", "query"], tmp_path, _tiny_profile(), ckpts, log=logged.append, resume=True)
    assert sum("reusing" in line for line in logged) == 2
    assert again["claims"] == f["claims"] and again["stars"] == f["stars"]


def _score(k: int, n: int, chance: float = 0.25) -> dict:
    from unisandbox.training.evaluate import Score

    return Score.of(["correct"] * k + ["wrong"] * (n - k), chance).to_dict()


KEYS = [f"{t}/{lv}" for t in ("math", "mapping") for lv in (1, 2, 3)]


def _arch(
    probe: int,
    normal: int,
    think: int,
    after: dict[str, int],
    inj: dict[str, int],
    accepted: int = 200,
    n: int = 100,
) -> dict:
    """Made-up results of one architecture: counts out of n per task/level (pooled claims see 3n)."""

    def by_key(k: int) -> dict:
        return {key: _score(k, n) for key in KEYS}

    variants = {
        name: {
            "normal": {key: {"before": _score(normal, n), "after": _score(a, n)} for key in KEYS},
            "acceptance": {key: {"samples": 300, "correct": accepted} for key in KEYS},
        }
        for name, a in after.items()
    }
    return {
        "baseline": {
            "probes": by_key(probe),
            "generation": {"normal": by_key(normal), "think": by_key(think)},
        },
        "stars": variants,
        "injection": {
            "after": {
                "generation": {
                    "forward": {"normal": _score(inj["fn"], 30), "think": _score(inj["ft"], 30)},
                    "inverse": {"normal": _score(0, 20), "think": _score(inj["it"], 20)},
                },
                "probes": {"forward": _score(inj["fp"], 30, 0.1), "inverse": _score(inj["ip"], 20, 0.5)},
            }
        },
        "heldout": {
            w: {key: "1" * (n // 2) + "0" * (n - n // 2) for key in KEYS} for w in ("pretraining", "stars")
        },
    }


def _verdicts(results) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in study.claims(results)}


def test_a_model_that_can_do_nothing_never_agrees():
    zero = _arch(
        0,
        0,
        0,
        {"curriculum": 0, "mixed": 0, "unfiltered": 0},
        {"fn": 0, "ft": 0, "it": 0, "fp": 0, "ip": 0},
        accepted=0,
    )
    got = _verdicts({"shared": zero, "query": zero})
    assert len(got) == 15  # a row per claim: gap x2, think x2, STARS x6, curriculum, rejection, 3 knowledge
    assert set(got.values()) <= {"not testable", "disagrees"}
    assert set(got.values()) == {"not testable"}


def test_a_one_in_300_difference_is_inconclusive_and_clear_effects_agree():
    good = _arch(
        95,
        10,
        80,
        {"curriculum": 34, "mixed": 34, "unfiltered": 20},
        {"fn": 0, "ft": 20, "it": 2, "fp": 28, "ip": 18},
    )
    # curriculum 100/300 vs mixed 99/300 on math: one unit apart
    for key, k in (("math/1", 33), ("math/2", 33), ("math/3", 34)):
        good["stars"]["curriculum"]["normal"][key]["after"] = _score(k, 100)
    for key, k in (("math/1", 33), ("math/2", 33), ("math/3", 33)):
        good["stars"]["mixed"]["normal"][key]["after"] = _score(k, 100)
    got = _verdicts({"shared": good})
    assert got["curriculum"] == "inconclusive"
    assert got["gap_math"] == "agrees" and got["think_math"] == "agrees" and got["stars_math_1"] == "agrees"
    assert got["rejection"] == "agrees"  # mixed 99/300 vs unfiltered 60/300
    assert got["cot_forward"] == "agrees" and got["forward_vs_inverse"] == "agrees"
    assert got["query_knowledge"] == "not testable"  # no query architecture in these results
    row = next(c for c in study.claims({"shared": good}) if c["id"] == "stars_math_1")
    assert row["unseen"]["units"] == 50 and row["unseen"]["verdict"] in ("agrees", "inconclusive")


def test_preconditions_make_claims_not_testable_with_a_reason():
    # Rejection: 294 of 300 accepted per level (the filter removed almost nothing);
    # knowledge: the inverse probe 0/20 (no understanding to compare generation with).
    res = _arch(
        95,
        10,
        80,
        {"curriculum": 40, "mixed": 40, "unfiltered": 20},
        {"fn": 0, "ft": 20, "it": 0, "fp": 28, "ip": 0},
        accepted=294,
    )
    rows = {c["id"]: c for c in study.claims({"shared": res})}
    assert rows["rejection"]["verdict"] == "not testable" and "rejected" in rows["rejection"]["reason"]
    assert rows["forward_vs_inverse"]["verdict"] == "not testable"
    assert "inverse understanding probe" in rows["forward_vs_inverse"]["reason"]
    assert rows["gap_mapping"]["verdict"] == "agrees"  # made-up mapping probes at 0.95 here


def test_findings_are_recomputed_from_saved_results(tmp_path, capsys):
    good = _arch(
        95,
        10,
        80,
        {"curriculum": 40, "mixed": 40, "unfiltered": 20},
        {"fn": 0, "ft": 20, "it": 2, "fp": 28, "ip": 18},
    )
    for arch in ("shared", "query"):
        res = {**good, "checkpoint": f"/ckpt/{arch}", "profile": "full", "seconds": 1.0}
        res["injection"] = {
            **good["injection"],
            "before": good["injection"]["after"],
            "change": {},
            "generation_pathway": {"parameters": "x", "untouched": None},
            "loss": {},
            "corpus_sequences": 1,
        }
        res["stars"] = {
            k: {
                **v,
                "probes": {},
                "stages": [],
                "loss": {},
                "pairs": {},
                "sample_seconds": 0,
                "train_seconds": 0,
            }
            for k, v in good["stars"].items()
        }
        (tmp_path / arch).mkdir()
        (tmp_path / arch / "results.json").write_text(json.dumps(res))
    assert study.main(["recompute", str(tmp_path)]) == 0
    f = json.loads((tmp_path / "findings.json").read_text())
    assert {c["id"]: c["verdict"] for c in f["claims"]}["query_knowledge"] == "inconclusive"
    report = (tmp_path / "report.md").read_text()
    assert "| claim | study figure |" in report
    # every STARS and pretraining table again on the unseen units (the first half, all correct here)
    assert "units unseen by pretraining" in report and "| math/1 | 50 | 1.00 (50/50) |" in report
    # An older record without per-unit outcomes: one error line, exit 2, nothing written.
    (tmp_path / "findings.json").unlink()
    bad = json.loads((tmp_path / "shared" / "results.json").read_text())
    del bad["baseline"]["probes"]["math/1"]["units"]
    (tmp_path / "shared" / "results.json").write_text(json.dumps(bad))
    assert study.main(["recompute", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'units'" in err and err.count("\n") == 1
    assert not (tmp_path / "findings.json").exists()


def test_bounds_of_the_recorded_full_run_under_the_current_rules():
    """docs/results/study_previous/findings.json (the checkpoints before issue 13) predates per-unit outcomes:
    the verdicts its counts allow."""
    path = Path(__file__).resolve().parents[1] / "docs" / "results" / "study_previous" / "findings.json"
    got = {r["id"]: r["verdicts"] for r in study.bounds(path)}
    assert got["curriculum"] == ["inconclusive"]  # 99/300 vs 97/300
    assert got["forward_vs_inverse"] == ["not testable"]  # inverse probe 0/20
    assert got["query_knowledge"] == ["inconclusive"]  # 0/30 vs 0/30 in normal mode
    assert all(got[f"stars_mapping_{lv}"] == ["not testable"] for lv in (1, 2, 3))
    assert got["gap_math"] == got["think_math"] == got["stars_math_1"] == ["agrees"]
    assert set(got["rejection"]) == {"inconclusive", "agrees"}  # 97/300 vs 92/300: depends on the pairing
