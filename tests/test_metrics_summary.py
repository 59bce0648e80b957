import pytest

from unisandbox.metrics.summary import summarize
from unisandbox.runs.records import SampleRecord, UnderstandingRecord, VerdictRecord
from unisandbox.tasks.base import CountAnswer, Item, ObjectAnswer, Probe


def _math(i: int) -> Item:
    return Item(
        id=f"m{i}",
        task="math",
        subtask="math",
        level=1,
        split="test",
        prompt=f"p{i}",
        expected=CountAnswer(count=2, object="cup"),
        probe=Probe(question=f"q{i}", answer="2"),
    )


def _pair(i: int) -> list[Item]:
    return [
        Item(
            id=f"p{i}_{s}",
            task="mapping",
            subtask="mapping",
            level=2,
            split="test",
            prompt=f"p{i}{s}",
            expected=ObjectAnswer(object="cup"),
            probe=Probe(question=f"q{i}{s}", answer="cup"),
            group=f"p{i}",
        )
        for s in "AB"
    ]


def _records(outcomes: dict[tuple[str, str], str], probes: dict[str, bool | None]):
    samples, verdicts, und = {}, {}, {}
    for (item_id, mode), v in outcomes.items():
        key = (item_id, mode, 0)
        image = None if v == "missing" else f"images/{mode}/s0/{item_id}.png"
        samples[key] = SampleRecord(
            item_id=item_id, mode=mode, sample_index=0, seed=1, image=image, model="t"
        )
        if v != "unjudged":
            verdicts[key] = VerdictRecord(
                item_id=item_id, mode=mode, sample_index=0, verdict=v, caption=None, judge="j", judge_hash="h"
            )
    for item_id, ok in probes.items():
        und[(item_id,)] = UnderstandingRecord(
            item_id=item_id, question="q", expected="2", answer="2", correct=ok, model="t"
        )
    return samples, und, verdicts


def _row(summary, task, mode):
    return next(r for r in summary["rows"] if r["task"] == task and r["mode"] == mode)


def test_counts_accuracy_gap_and_mcnemar_by_hand():
    items = [_math(i) for i in range(10)]
    # normal right on m0-m1; think right on m0-m7: b = 0 (normal only), c = 6 (think only).
    outcomes = {(f"m{i}", "normal"): "correct" if i < 2 else "wrong" for i in range(10)}
    outcomes |= {(f"m{i}", "think"): "correct" if i < 8 else "wrong" for i in range(10)}
    probes = {f"m{i}": i < 9 for i in range(10)}
    s = summarize(items, ["normal", "think"], 1, *_records(outcomes, probes))
    assert s["complete"] and not s["withheld"]
    normal, think = _row(s, "math", "normal"), _row(s, "math", "think")
    assert (normal["n"], normal["correct"], normal["accuracy"]) == (10, 2, 0.2)
    assert (think["n"], think["correct"], think["accuracy"]) == (10, 8, 0.8)
    assert s["understanding"][0]["accuracy"] == pytest.approx(0.9)
    comp = s["comparisons"][0]
    assert comp["mcnemar"]["b_normal_only"] == 0 and comp["mcnemar"]["c_think_only"] == 6
    assert comp["mcnemar"]["p_value"] == pytest.approx(2 / 64)
    assert comp["gap_normal"]["value"] == pytest.approx(0.9 - 0.2)
    assert comp["think_minus_normal"]["value"] == pytest.approx(0.6)
    # P(gen correct | und correct) in normal mode: m0, m1 of the 9 understood.
    assert comp["p_gen_given_und_normal"]["n"] == 9 and comp["p_gen_given_und_normal"]["correct"] == 2


def test_mapping_is_scored_per_pair():
    items = _pair(0) + _pair(1) + _pair(2)
    outcomes = {
        ("p0_A", "normal"): "correct",
        ("p0_B", "normal"): "correct",
        ("p1_A", "normal"): "correct",
        ("p1_B", "normal"): "wrong",
        ("p2_A", "normal"): "wrong",
        ("p2_B", "normal"): "wrong",
    }
    probes = {"p0_A": True, "p0_B": True, "p1_A": True, "p1_B": False, "p2_A": True, "p2_B": True}
    s = summarize(items, ["normal"], 1, *_records(outcomes, probes))
    row = _row(s, "mapping", "normal")
    assert (row["expected"], row["n"], row["correct"]) == (3, 3, 1)
    assert s["understanding"][0]["n"] == 3 and s["understanding"][0]["correct"] == 2


def test_errors_and_missing_are_counted_never_wrong_and_withhold_accuracy():
    items = [_math(i) for i in range(4)]
    outcomes = {
        ("m0", "normal"): "correct",
        ("m1", "normal"): "error",
        ("m2", "normal"): "missing",
        ("m3", "normal"): "unjudged",
    }
    probes = {"m0": True, "m1": None, "m2": True}  # m3 never asked
    recs = _records(outcomes, probes)
    s = summarize(items, ["normal"], 1, *recs)
    row = _row(s, "math", "normal")
    assert (row["n"], row["correct"], row["errors"], row["missing"], row["pending"]) == (1, 1, 1, 2, 1)
    assert not s["complete"] and s["withheld"]
    assert row["accuracy"] is None and s["understanding"][0]["accuracy"] is None
    assert s["understanding"][0]["errors"] == 1 and s["understanding"][0]["missing"] == 1
    shown = summarize(items, ["normal"], 1, *recs, allow_incomplete=True)
    assert not shown["complete"] and not shown["withheld"]
    assert _row(shown, "math", "normal")["accuracy"] == 1.0


def test_pair_with_an_error_member_is_an_error_not_wrong():
    items = _pair(0)
    outcomes = {("p0_A", "normal"): "wrong", ("p0_B", "normal"): "error"}
    s = summarize(items, ["normal"], 1, *_records(outcomes, {"p0_A": True, "p0_B": True}))
    row = _row(s, "mapping", "normal")
    assert (row["n"], row["errors"]) == (0, 1)


def test_several_samples_use_cluster_bootstrap():
    items = [_math(i) for i in range(6)]
    samples, und, verdicts = {}, {}, {}
    for i in range(6):
        und[(f"m{i}",)] = UnderstandingRecord(
            item_id=f"m{i}", question="q", expected="2", answer="2", correct=True, model="t"
        )
        for k in range(3):
            for mode in ("normal", "think"):
                key = (f"m{i}", mode, k)
                samples[key] = SampleRecord(
                    item_id=key[0], mode=mode, sample_index=k, seed=1, image="x.png", model="t"
                )
                ok = (i + k) % 2 == 0 if mode == "normal" else i != 0
                verdicts[key] = VerdictRecord(
                    item_id=key[0],
                    mode=mode,
                    sample_index=k,
                    verdict="correct" if ok else "wrong",
                    caption=None,
                    judge="j",
                    judge_hash="h",
                )
    s = summarize(items, ["normal", "think"], 3, samples, und, verdicts)
    assert _row(s, "math", "normal")["expected"] == 18
    comp = s["comparisons"][0]
    assert comp["gap_normal"]["method"] == "cluster-bootstrap"
    assert comp["gap_normal"]["ci_low"] <= comp["gap_normal"]["value"] <= comp["gap_normal"]["ci_high"]


def test_rows_carry_the_chance_level_of_their_units():
    items = [_math(i) for i in range(4)] + _pair(0) + _pair(1)
    outcomes = {(it.id, "normal"): "wrong" for it in items}
    s = summarize(items, ["normal"], 1, *_records(outcomes, {it.id: False for it in items}))
    # math: no answer_range recorded -> the study's 1-4 at level 1; mapping: 1/2 per item, 1/4 per pair.
    assert _row(s, "math", "normal")["chance"] == 0.25 and _row(s, "mapping", "normal")["chance"] == 0.25
    assert all(r["chance"] is not None for r in s["understanding"])
