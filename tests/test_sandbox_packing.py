"""Packed batches: sequences end to end in shared rows compute exactly what they compute alone."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from unisandbox.models.sandbox.model import GPT, GPTConfig
from unisandbox.models.sandbox.sequences import Seq, pack_batch, pack_rows, pad_batch
from unisandbox.models.sandbox.train import (
    BatchSampler,
    TrainConfig,
    packed_positions,
    padded_positions,
    shared_loss_fn,
    train_steps,
)

torch.set_num_threads(1)
V = 50
VARIANTS = {
    "absolute": {},
    "rope": {"rope": True},
    "conv": {"qkv_conv": True},
    "rope-conv": {"rope": True, "qkv_conv": True},
}


def _seqs(rng: np.random.Generator, n: int, lo: int = 3, hi: int = 30) -> list[Seq]:
    out = []
    for _ in range(n):
        m = int(rng.integers(lo, hi))
        ids = tuple(int(x) for x in rng.integers(1, V, size=m))
        loss = tuple(int(x) for x in rng.integers(0, 2, size=m))
        cells = tuple(int(x) for x in rng.integers(0, 10, size=m))
        out.append(Seq("und", ids, loss, cells))
    return out


def _gpt(variant: str) -> GPT:
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=40, n_layer=2, n_head=2, n_embd=32, **VARIANTS[variant]))
    with torch.no_grad():  # random taps: the identity convolution would hide a leak between sequences
        for mod in m.modules():
            if isinstance(mod, torch.nn.Conv1d):
                mod.weight.normal_(0.0, 0.5)
    return m


@given(st.lists(st.integers(1, 20), max_size=40), st.integers(20, 60))
@settings(max_examples=200, deadline=None)
def test_pack_rows_places_every_sequence_once_within_capacity(lengths, capacity):
    rows = pack_rows(lengths, capacity)
    assert sorted(i for r in rows for i in r) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in r) <= capacity for r in rows)
    # first fit: no two rows could have been one
    fills = sorted(sum(lengths[i] for i in r) for r in rows)
    assert len(fills) < 2 or fills[0] + fills[1] > capacity


def test_pack_rows_rejects_a_sequence_longer_than_a_row():
    with pytest.raises(ValueError, match="does not fit"):
        pack_rows([5, 41], capacity=40)


def test_pack_batch_holds_each_sequence_and_the_scored_tokens_of_pad_batch():
    seqs = _seqs(np.random.default_rng(1), 24)
    b = pack_batch(seqs, 40)
    assert b.ids.shape[0] < len(seqs) and b.ids.shape[1] <= 40
    x, y, c = pad_batch(seqs)
    found = 0
    for r in range(b.ids.shape[0]):
        for d in range(1, b.doc[r].max() + 1):
            at = b.doc[r] == d
            assert list(b.pos[r][at]) == list(range(int(at.sum())))
            n = int(at.sum())
            rows = [
                i for i, s in enumerate(seqs) if len(s.ids) - 1 == n and list(x[i, :n]) == list(b.ids[r][at])
            ]
            assert rows, "a packed doc is no sequence's inputs"
            i = rows[0]
            assert list(b.targets[r][at]) == list(y[i, :n]) and list(b.cells[r][at]) == list(c[i, :n])
            found += 1
    assert found == len(seqs)
    assert (b.targets[b.doc == 0] == -100).all()
    assert sorted(b.targets[b.targets != -100]) == sorted(y[y != -100])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_packed_forward_equals_each_sequence_alone(variant):
    m = _gpt(variant).eval()
    seqs = _seqs(np.random.default_rng(2), 12)
    b = pack_batch(seqs, 40)
    t = {k: torch.from_numpy(getattr(b, k)) for k in ("ids", "cells", "pos", "doc")}
    with torch.no_grad():
        packed, _ = m(t["ids"], cells=t["cells"], pos=t["pos"], doc=t["doc"])
        for r in range(b.ids.shape[0]):
            for d in range(1, int(b.doc[r].max()) + 1):
                at = torch.from_numpy(b.doc[r] == d)
                alone, _ = m(t["ids"][r][at][None], cells=t["cells"][r][at][None])
                torch.testing.assert_close(packed[r][at], alone[0], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("variant", ["absolute", "rope-conv"])
def test_packed_loss_and_gradients_equal_the_padded_ones(variant):
    seqs = _seqs(np.random.default_rng(3), 16)
    grads = []
    losses = []
    for pack in (None, 40):
        m = _gpt(variant).train()
        loss = shared_loss_fn(m, "cpu", pack)(seqs)
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad.clone() for p in m.parameters()])
    torch.testing.assert_close(losses[0], losses[1], atol=1e-6, rtol=1e-5)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_packed_training_follows_padded_training_and_computes_fewer_positions():
    pools = {"und": _seqs(np.random.default_rng(4), 400, lo=3, hi=40)}
    cfg = TrainConfig(lr=3e-3, warmup=2, log_every=100)
    runs = {}
    for pack in (None, 40):
        m = _gpt("rope-conv").train()
        sampler = BatchSampler(pools, {"und": 1.0}, 32, seed=7)
        params = list(m.parameters())
        positions = padded_positions if pack is None else packed_positions(pack)
        runs[pack] = train_steps(
            m, sampler, shared_loss_fn(m, "cpu", pack), params, cfg, 8, lambda r: None, "t", positions
        )
    np.testing.assert_allclose(runs[None], runs[40], rtol=1e-3)
    assert runs[None][-1] < runs[None][0]
    sampler = BatchSampler(pools, {"und": 1.0}, 32, seed=7)
    batches = [sampler.next()[1] for _ in range(20)]
    assert sum(map(packed_positions(40), batches)) < 0.8 * sum(map(padded_positions, batches))
