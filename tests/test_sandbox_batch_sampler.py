"""Batch sampling: one-kind batches, and length groups that cut padding without reweighting tokens."""

import numpy as np
import pytest

from unisandbox.models.sandbox.sequences import Seq
from unisandbox.models.sandbox.train import BatchSampler


def _seq(kind: str, n: int, scored: int) -> Seq:
    return Seq(kind, tuple(range(n)), (0,) * (n - scored) + (1,) * scored, (0,) * n)


@pytest.fixture
def pools() -> dict[str, list[Seq]]:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=300)
    return {
        "und": [_seq("und", int(n), int(n) // 2) for n in lengths],
        "draw": [_seq("draw", int(n), 9) for n in rng.integers(10, 23, size=50)],
    }


def test_length_group_one_draws_what_the_sampler_always_drew(pools):
    sampler = BatchSampler(pools, {"und": 0.7, "draw": 0.3}, 16, seed=5)
    rng = np.random.default_rng(5)
    p = np.array([0.7, 0.3])
    for _ in range(50):
        kind = ["und", "draw"][int(rng.choice(2, p=p))]
        idx = rng.integers(0, len(pools[kind]), size=16)
        got_kind, batch = sampler.next()
        assert got_kind == kind and batch == [pools[kind][i] for i in idx]
        assert sampler.loss_scale == 1.0


def _padding(sampler: BatchSampler, steps: int) -> float:
    real = padded = 0
    for _ in range(steps):
        _, batch = sampler.next()
        real += sum(len(s.ids) for s in batch)
        padded += len(batch) * max(len(s.ids) for s in batch)
    return 1 - real / padded


def test_length_groups_cut_padding(pools):
    ungrouped = _padding(BatchSampler(pools, {"und": 1.0}, 16, seed=1), 400)
    grouped = _padding(BatchSampler(pools, {"und": 1.0}, 16, seed=1, length_group=8), 400)
    assert ungrouped > 0.3 and grouped < ungrouped / 3


def test_a_group_is_sorted_by_length_and_its_loss_scales_give_each_scored_token_one_weight(pools):
    sampler = BatchSampler(pools, {"und": 1.0}, 16, seed=2, length_group=4)
    batches, scales = [], []
    for _ in range(4):  # exactly one group
        _, batch = sampler.next()
        batches.append(batch)
        scales.append(sampler.loss_scale)
    spans = sorted((min(len(s.ids) for s in b), max(len(s.ids) for s in b)) for b in batches)
    assert all(hi <= lo_next for (_, hi), (lo_next, _) in zip(spans, spans[1:], strict=False))
    scored = [sum(sum(s.loss) for s in b) for b in batches]
    # mean loss x scale = summed loss / the group's mean scored tokens per batch
    assert scales == pytest.approx([n / np.mean(scored) for n in scored])
    assert np.mean(scales) == pytest.approx(1.0) and len(set(scales)) > 1


def test_scored_tokens_off_keeps_scale_one_and_every_sequence_is_drawn(pools):
    sampler = BatchSampler(pools, {"draw": 1.0}, 8, seed=3, length_group=4, scored_tokens=False)
    seen: set[int] = set()
    for _ in range(400):
        _, batch = sampler.next()
        assert sampler.loss_scale == 1.0
        seen |= {id(s) for s in batch}
    assert len(seen) == len(pools["draw"])
    with pytest.raises(ValueError, match="length_group"):
        BatchSampler(pools, {"draw": 1.0}, 8, seed=3, length_group=0)
