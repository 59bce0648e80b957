"""KV-cached batched decoding for the shared-backbone network.

Rows are left-padded; each row's positions start at 0 at its first real token and padded keys are
masked, so a row decodes as if it were alone. Text is decoded greedily; image codes are sampled with a
temperature using uniforms drawn from a per-row `torch.Generator` seeded with that row's seed, so the
image for (item, mode, seed) does not depend on what else is in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from unisandbox.models.sandbox.model import GPT
from unisandbox.models.sandbox.tokenizers import GEN, PAD, SEP, THINK, UND

N_CELLS = 9


def left_pad(prompts: Sequence[Sequence[int]], device: torch.device | str):
    """(ids, key_mask, pos) for left-padded prompts: ids (B, L), mask True on real tokens, pos from 0."""
    L = max(len(p) for p in prompts)
    ids = torch.zeros((len(prompts), L), dtype=torch.long)
    mask = torch.zeros((len(prompts), L), dtype=torch.bool)
    for i, p in enumerate(prompts):
        if len(p):
            ids[i, L - len(p) :] = torch.tensor(list(p), dtype=torch.long)
            mask[i, L - len(p) :] = True
    pos = (mask.long().cumsum(1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


def text_logit_mask(vocab_size: int, code_offset: int, special_ids: dict[str, int]) -> torch.Tensor:
    """Bool (vocab,) True where a text-phase token is allowed (no image codes, no structural specials)."""
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[code_offset:] = False
    for tok in (PAD, UND, GEN, THINK, SEP):
        allowed[special_ids[tok]] = False
    return allowed


@torch.no_grad()
def greedy_text(
    model: GPT, prompts: Sequence[Sequence[int]], stop_ids: Sequence[int], max_new: int, allowed: torch.Tensor
) -> list[tuple[list[int], bool]]:
    """Greedy continuation of each prompt until a stop id or `max_new` tokens.

    Returns, per row, (generated ids including the stop id if reached, stopped?).
    """
    device = next(model.parameters()).device
    B = len(prompts)
    max_new = min(max_new, model.cfg.block_size - max(len(p) for p in prompts))
    ids, key_mask, pos = left_pad(prompts, device)
    bias = torch.where(allowed.to(device), 0.0, float("-inf"))
    stops = torch.tensor(list(stop_ids), device=device)
    out = torch.zeros((B, max(max_new, 0)), dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    n_out = torch.zeros(B, dtype=torch.long, device=device)
    caches = None
    next_pos = pos[:, -1] + 1
    x, x_pos = ids, pos
    for t in range(max(max_new, 0)):
        logits, caches = model.step(x, x_pos, torch.zeros_like(x), key_mask, caches)
        nxt = (logits.float() + bias).argmax(-1)  # (B,)
        out[:, t] = nxt
        n_out = torch.where(done, n_out, n_out + 1)
        done = done | torch.isin(nxt, stops)
        if bool(done.all()):
            break
        x, x_pos = nxt.unsqueeze(1), next_pos.unsqueeze(1)
        next_pos = next_pos + 1
        key_mask = torch.cat([key_mask, torch.ones((B, 1), dtype=torch.bool, device=device)], dim=1)
    res = []
    for b in range(B):
        row = out[b, : int(n_out[b])].tolist()
        res.append((row, bool(row) and row[-1] in set(stop_ids)))
    return res


def row_uniforms(seeds: Sequence[int], n: int = N_CELLS) -> torch.Tensor:
    """(B, n) float64 uniforms, row b drawn from torch.Generator seeded with seeds[b] alone."""
    rows = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s) & ((1 << 63) - 1))
        rows.append(torch.rand(n, generator=g, dtype=torch.float64))
    return torch.stack(rows) if rows else torch.zeros((0, n), dtype=torch.float64)


def pick(logits: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
    """Inverse-CDF sample per row from softmax(logits / T) with given uniforms u (B,); T=0 is argmax."""
    if temperature <= 0:
        return logits.argmax(-1)
    p = torch.softmax(logits.double() / temperature, dim=-1)
    c = p.cumsum(-1)
    k = torch.searchsorted(c, (u * c[:, -1]).unsqueeze(1)).squeeze(1)
    return k.clamp(max=logits.shape[-1] - 1)


@torch.no_grad()
def sample_codes(
    model: GPT,
    prefixes: Sequence[Sequence[int]],
    code_offset: int,
    n_codes: int,
    seeds: Sequence[int],
    temperature: float = 1.0,
) -> np.ndarray:
    """Sample 9 image codes after each prefix (which ends with `<img>`); returns (B, 9) code ids."""
    device = next(model.parameters()).device
    B = len(prefixes)
    if max(len(p) for p in prefixes) + N_CELLS > model.cfg.block_size:
        raise ValueError("prefix too long for the model's context")
    ids, key_mask, pos = left_pad(prefixes, device)
    u = row_uniforms(seeds).to(device)
    codes = torch.zeros((B, N_CELLS), dtype=torch.long, device=device)
    caches = None
    x, x_pos, x_cells = ids, pos, torch.zeros_like(ids)
    next_pos = pos[:, -1] + 1
    for k in range(N_CELLS):
        logits, caches = model.step(x, x_pos, x_cells, key_mask, caches)
        logits = logits[:, code_offset : code_offset + n_codes]  # only image codes are allowed here
        c = pick(logits, u[:, k], temperature)
        codes[:, k] = c
        x = (c + code_offset).unsqueeze(1)
        x_pos = next_pos.unsqueeze(1)
        x_cells = torch.full((B, 1), k + 1, dtype=torch.long, device=device)
        next_pos = next_pos + 1
        key_mask = torch.cat([key_mask, torch.ones((B, 1), dtype=torch.bool, device=device)], dim=1)
    return codes.cpu().numpy()
