import numpy as np
import pytest

from unisandbox.models.base import Prepares, UnifiedModel, prepare, sample_seed
from unisandbox.models.fake import FakeModel, near_miss
from unisandbox.registry import load_model
from unisandbox.runs.config import RunConfig
from unisandbox.runs.rundir import RunDir
from unisandbox.runs.runner import Plan, generate, judge, png_bytes, probe
from unisandbox.tasks.base import InputError
from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items


def test_spec_parsing_and_protocol():
    m = load_model("fake:p_normal=0.2,p_think=0.8,delay_ms=0")
    assert isinstance(m, UnifiedModel)
    assert (m.p_normal, m.p_think) == (0.2, 0.8)
    assert m.describe()["p_think"] == 0.8
    for bad in ("fake:p_normal=2", "fake:p_normal", "fake:colour=red", "fake:p_think=x"):
        with pytest.raises(InputError):
            load_model(bad)


def test_generation_is_a_function_of_the_seed_with_the_set_rate():
    items = math_items(2, 1, 100)
    m = FakeModel(p_normal=0.25, p_think=0.75)
    seeds = [sample_seed(it.id, "normal", 0) for it in items]
    a = m.generate(items, "normal", seeds)
    b = FakeModel(p_normal=0.25, p_think=0.75).generate(items[::-1], "normal", seeds[::-1])[::-1]
    assert [png_bytes(g.image) for g in a] == [png_bytes(g.image) for g in b]  # batch order is irrelevant
    rate = np.mean([g.extra["intended_correct"] for g in a])
    assert 0.12 <= rate <= 0.40  # 100 draws at p = 0.25
    think = m.generate(items, "think", [sample_seed(it.id, "think", 0) for it in items])
    assert np.mean([g.extra["intended_correct"] for g in think]) >= 0.6
    assert all(g.rewritten_prompt and "Prompt:" in g.text for g in think)


def test_near_miss_is_always_wrong():
    for it in math_items(3, 2, 30) + mapping_items(3, 1, 15):
        for u in (0.0, 0.3, 0.49, 0.5, 0.77, 0.999):
            assert near_miss(it.expected, u) != it.expected


def test_understanding_uses_the_prepared_answer_key():
    items = math_items(4, 1, 200)
    m = FakeModel(p_understand=0.7)
    assert m.understand([items[0].probe.question])[0].answer == "unknown"
    assert isinstance(
        m, Prepares
    )  # the optional hook is declared, and the pipeline calls it through prepare()
    prepare(m, items)
    answers = m.understand([it.probe.question for it in items])
    right = np.mean([a.answer == it.probe.answer for a, it in zip(answers, items, strict=True)])
    assert 0.6 <= right <= 0.8


def test_models_without_the_prepare_hook_need_nothing():
    class Plain:  # a model with only the required methods
        def understand(self, questions):
            return []

    assert not isinstance(Plain(), Prepares)
    prepare(Plain(), math_items(4, 1, 3))  # a no-op, not an AttributeError


def test_injected_failures_are_recorded_not_dropped(tmp_path):
    items = math_items(5, 1, 30)
    run = RunDir(tmp_path)
    run.create(RunConfig(model="fake"), items)
    plan = Plan(tuple(items), ("normal",), 1)
    m = FakeModel(p_no_image=0.2, p_raise=0.1)
    m.prepare(items)
    assert generate(run, plan, m, layout="ours", seed=0, batch_size=8) == 30
    samples = run.read_records("samples")
    assert len(samples) == 30
    failed = [s for s in samples.values() if s.image is None]
    assert failed and all(s.error for s in failed)
    assert any("p_raise" in s.error for s in failed) and any("p_no_image" in s.error for s in failed)
    probe(run, plan, m)
    assert len(run.read_records("understanding")) == 30


def test_a_failing_batch_of_one_is_recorded_not_raised(tmp_path):
    # With batch size 1 the model's exception is the sample's error, as in a larger batch.
    items = math_items(5, 1, 3)
    run = RunDir(tmp_path)
    run.create(RunConfig(model="fake"), items)
    plan = Plan(tuple(items), ("normal",), 1)
    m = FakeModel(p_raise=1.0)
    m.prepare(items)
    assert generate(run, plan, m, layout="ours", seed=0, batch_size=1) == 3
    assert all(s.image is None and "p_raise" in (s.error or "") for s in run.read_records("samples").values())


class _Flaky:
    """Fails on the first two calls that include a seed (the batch and its one-by-one retry), then works."""

    name = "flaky"

    def __init__(self):
        self.inner = FakeModel()
        self.capabilities = self.inner.capabilities
        self.calls: dict[int, int] = {}

    def describe(self):
        return {"kind": "flaky"}

    def understand(self, questions):
        return self.inner.understand(questions)

    def generate(self, items, mode, seeds):
        for s in seeds:
            self.calls[s] = self.calls.get(s, 0) + 1
        if any(self.calls[s] <= 2 for s in seeds):
            raise RuntimeError("transient")
        return self.inner.generate(items, mode, seeds)


class _ConstJudge:
    name = "const"

    def describe(self):
        return {"kind": "const"}

    def caption(self, images):
        from unisandbox.judges.base import Caption

        return [Caption("1 cup") for _ in images]


def test_retry_errors_redoes_failed_samples_and_their_verdicts(tmp_path):
    items = math_items(6, 1, 5)
    run = RunDir(tmp_path)
    run.create(RunConfig(model="fake"), items)
    plan = Plan(tuple(items), ("normal",), 1)
    model = _Flaky()
    generate(run, plan, model, layout="ours", seed=0)
    assert all(s.image is None for s in run.read_records("samples").values())
    judge(run, plan, _ConstJudge())
    verdicts = run.read_records("verdicts").values()
    # The model failed: each verdict is an error carrying the model's reason, never "wrong" or "missing".
    assert {v.verdict for v in verdicts} == {"error"}
    assert all(v.error.startswith("model failed: RuntimeError: transient") for v in verdicts)
    assert judge(run, plan, _ConstJudge(), retry_errors=True) == 0  # nothing to judge without an image
    assert generate(run, plan, model, layout="ours", seed=0) == 0  # finished work is not redone
    assert generate(run, plan, model, layout="ours", seed=0, retry_errors=True) == 5
    assert all(s.image for s in run.read_records("samples").values())
    assert judge(run, plan, _ConstJudge()) == 5  # verdicts of regenerated samples are redone
    assert {v.verdict for v in run.read_records("verdicts").values()} <= {"correct", "wrong"}
