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
    return replace(q, name="test", eval_limit=2,
                   stars=replace(q.stars, train_items=3, samples_per_item=1, steps=6, batch_size=8, replay=replay),
                   inject=replace(q.inject, steps=6, batch_size=8, replay=replace(replay, n_draw=1)))


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
    assert len(claims) == 6  # five claims on the shared arch + the query-vs-shared comparison
    for c in claims:
        assert set(c) >= {"claim", "sandbox", "agrees"} and c["agrees"] in (True, False, "partial")
    assert set(on_disk["by_arch"]) == {"shared", "query"}
    q = on_disk["by_arch"]["query"]["injection"]["generation_pathway"]
    assert q["untouched"] is True
    for variant in ("curriculum", "mixed", "unfiltered"):
        assert (tmp_path / "shared" / f"stars_{variant}" / "stars_report.json").is_file()
    text = (tmp_path / "report.md").read_text()
    assert "## Findings" in text and "| claim (study) | sandbox | agrees |" in text
    # Resume: finished architectures are read back, not rerun, and give the same findings.
    logged: list[str] = []
    again = study.run(["shared", "query"], tmp_path, _tiny_profile(), ckpts, log=logged.append, resume=True)
    assert sum("reusing" in line for line in logged) == 2
    assert again["claims"] == f["claims"] and again["stars"] == f["stars"]


def test_claims_follow_the_fixed_rules():
    def s(v, lo, hi, k=0, n=100):
        return {"value": v, "low": lo, "high": hi, "k": k, "n": n}

    def variant(after_k):
        return {"normal": {f"math/{lv}": {"before": s(0.1, 0.05, 0.18, 10), "after": s(after_k / 100, 0, 1, after_k),
                                          "change": {"diff": 0.3, "low": 0.2, "high": 0.4}} for lv in (1, 2, 3)}}

    res = {"shared": {
        "baseline": {"average": {"normal": s(0.05, 0.02, 0.1), "think": s(0.5, 0.4, 0.6)},
                     "average_change": {"diff": 0.45, "low": 0.35, "high": 0.55}},
        "stars": {"curriculum": variant(60), "mixed": variant(40), "unfiltered": variant(58)},
        "injection": {"after": {"generation": {
            "forward": {"normal": s(0.1, 0.03, 0.25), "think": s(0.6, 0.42, 0.76)},
            "inverse": {"normal": s(0.0, 0.0, 0.16), "think": s(0.05, 0.01, 0.24)}}}}}}
    verdicts = [c["agrees"] for c in study.claims(res)]
    # CoT raises generation: yes; STARS curriculum raises math: yes; curriculum vs mixed: 0.60 vs 0.40 with
    # pooled intervals apart -> yes; filtered vs unfiltered 0.60 vs 0.58: direction only -> partial;
    # forward up with CoT and inverse low -> yes.
    assert verdicts == [True, True, True, "partial", True]
    res["shared"]["baseline"]["average_change"] = {"diff": -0.1, "low": -0.2, "high": 0.0}
    assert study.claims(res)[0]["agrees"] is False
