import numpy as np
import pytest
import torch

from unisandbox.models.sandbox.model import GPT, GPTConfig
from unisandbox.models.sandbox.query import QueryConfig, QueryModel
from unisandbox.models.sandbox.sampling import greedy_text, left_pad, sample_codes

torch.set_num_threads(1)
V, OFF, NC = 60, 40, 20  # vocab, first image code, number of codes


VARIANTS = {
    "absolute": {},
    "rope": {"rope": True},
    "conv": {"qkv_conv": True},
    "rope-conv": {"rope": True, "qkv_conv": True},
}


def randomise_convs(m: torch.nn.Module) -> None:
    """The qkv convolution starts as the identity; random taps make the tests see what it mixes in."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.Conv1d):
                mod.weight.normal_(0.0, 0.5)


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def gpt(request):
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=48, n_layer=2, n_head=2, n_embd=32, **VARIANTS[request.param]))
    randomise_convs(m)
    return m.eval()


def test_qkv_conv_off_adds_no_parameters_and_starts_as_identity():
    torch.manual_seed(0)
    plain = GPT(GPTConfig(vocab_size=V, block_size=48, n_layer=2, n_head=2, n_embd=32))
    torch.manual_seed(0)
    conv = GPT(GPTConfig(vocab_size=V, block_size=48, n_layer=2, n_head=2, n_embd=32, qkv_conv=True))
    assert not any("conv" in n for n, _ in plain.named_parameters())
    extra = set(conv.state_dict()) - set(plain.state_dict())
    assert extra == {f"blocks.{i}.attn.conv.weight" for i in range(2)}
    conv.load_state_dict(plain.state_dict(), strict=False)  # same weights, identity convolution
    idx = torch.randint(0, V, (2, 9))
    assert torch.allclose(plain(idx)[0], conv(idx)[0], atol=1e-6)
    randomise_convs(conv)
    assert not torch.allclose(plain(idx)[0], conv(idx)[0], atol=1e-3)


def test_qkv_conv_is_causal():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=48, n_layer=2, n_head=2, n_embd=32, qkv_conv=True)).eval()
    randomise_convs(m)
    a = torch.randint(0, V, (1, 10))
    b = a.clone()
    b[0, 6:] = (b[0, 6:] + 1) % V  # change the future only
    assert torch.allclose(m(a)[0][0, :6], m(b)[0][0, :6], atol=1e-6)
    c = a.clone()
    c[0, 4] = (c[0, 4] + 1) % V  # one token back changes the next position
    assert not torch.allclose(m(a)[0][0, 5], m(c)[0][0, 5], atol=1e-4)


def test_rope_sees_relative_positions_only():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=V, block_size=48, n_layer=2, n_head=2, n_embd=32, rope=True)).eval()
    assert m.pos_emb is None
    idx = torch.randint(0, V, (2, 7))
    cells = torch.zeros_like(idx)
    x = m.embed(idx, None, cells)
    pos = torch.arange(7).unsqueeze(0).expand(2, 7)
    a, _ = m.run(x, pos=pos)
    b, _ = m.run(x, pos=pos + 13)  # the same sequence, shifted: only distances matter
    assert torch.allclose(a, b, atol=1e-5)
    c, _ = m.run(x, pos=pos * 2)  # different distances: different states
    assert not torch.allclose(a, c, atol=1e-3)


def test_forward_shapes_and_masked_loss(gpt):
    idx = torch.randint(0, V, (3, 10))
    logits, loss = gpt(idx)
    assert logits.shape == (3, 10, V) and loss is None
    tgt = torch.full((3, 10), -100)
    tgt[:, 5:] = idx[:, 5:]
    scored, loss = gpt(idx, tgt)
    assert scored.shape == (15, V) and torch.isfinite(loss)
    # The loss ignores unscored positions: changing their targets changes nothing.
    tgt2 = tgt.clone()
    tgt2[:, :5] = -100
    assert torch.allclose(gpt(idx, tgt2)[1], loss)


def test_kv_cache_matches_full_forward_with_left_padding(gpt):
    rows = [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10, 11]]
    ids, mask, pos = left_pad(rows, "cpu")
    last, caches = gpt.step(ids, pos, torch.zeros_like(ids), mask, None)
    for b, r in enumerate(rows):
        full, _ = gpt(torch.tensor([r]))
        assert torch.allclose(last[b], full[0, -1], atol=1e-5)
    nxt = torch.tensor([[12], [13], [14]])
    mask2 = torch.cat([mask, torch.ones(3, 1, dtype=torch.bool)], 1)
    last2, _ = gpt.step(nxt, (pos[:, -1] + 1).unsqueeze(1), torch.zeros_like(nxt), mask2, caches)
    for b, r in enumerate(rows):
        full, _ = gpt(torch.tensor([r + [12 + b]]))
        assert torch.allclose(last2[b], full[0, -1], atol=1e-5)


def test_greedy_text_is_batch_invariant(gpt):
    allowed = torch.ones(V, dtype=torch.bool)
    allowed[OFF:] = False
    rows = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]]
    together = greedy_text(gpt, rows, stop_ids=[6], max_new=8, allowed=allowed)
    alone = [greedy_text(gpt, [r], stop_ids=[6], max_new=8, allowed=allowed)[0] for r in rows]
    assert together == alone
    for ids, stopped in together:
        assert all(i < OFF for i in ids)
        assert stopped == (bool(ids) and ids[-1] == 6)


def test_image_sampling_depends_only_on_row_and_seed(gpt):
    rows = [[1, 2, 3, 5], [4, 5], [7, 8, 9, 10, 11, 5]]
    seeds = [11, 22, 33]
    codes = sample_codes(gpt, rows, OFF, NC, seeds, temperature=1.0)
    assert codes.shape == (3, 9) and codes.min() >= 0 and codes.max() < NC
    for b in range(3):
        alone = sample_codes(gpt, [rows[b]], OFF, NC, [seeds[b]], temperature=1.0)
        assert (alone[0] == codes[b]).all()
    shuffled = sample_codes(gpt, rows[::-1], OFF, NC, seeds[::-1], temperature=1.0)
    assert (shuffled[::-1] == codes).all()
    other = sample_codes(gpt, rows, OFF, NC, [12, 23, 34], temperature=1.0)
    assert not (other == codes).all()  # the seed matters (27 draws from 20 codes)


@pytest.mark.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
def test_query_model_trains_and_samples_batch_invariantly(variant):
    torch.manual_seed(0)
    qm = QueryModel(
        GPTConfig(vocab_size=OFF, block_size=40, n_layer=1, n_head=2, n_embd=32, **VARIANTS[variant]),
        QueryConfig(n_queries=3, n_codes=NC, dec_layer=1, dec_head=2, dec_embd=16),
    )
    randomise_convs(qm)
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8]]
    codes = torch.tensor([[1] * 9, [2] * 9])
    qm.freeze_lm()
    before = [p.clone() for p in qm.lm.parameters()]
    opt = torch.optim.AdamW([qm.queries, *qm.proj.parameters(), *qm.dec.parameters()], lr=3e-3)
    losses = []
    # A random rope LM separates the two prompts by content only (no absolute position tells their lengths
    # apart), so its states differ less: at lr 1e-2 the loss oscillated around the first code's coin flip.
    for _ in range(150):
        _, loss = qm(prompts, codes)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    assert all(torch.equal(a, b) for a, b in zip(before, qm.lm.parameters(), strict=True))  # frozen
    assert qm.queries.grad is not None  # the queries learn through the frozen LM
    qm.eval()
    s = qm.sample(prompts, [5, 6], temperature=0.0)
    assert (s == codes.numpy()).all()
    s1 = qm.sample(prompts, [5, 6], 1.0)
    assert (qm.sample(prompts[1:], [6], 1.0)[0] == s1[1]).all()
    assert (qm.sample(prompts[:1], [5], 1.0)[0] == s1[0]).all()  # the left-padded row, alone
    assert isinstance(s1, np.ndarray)
