"""The query-based architecture: a frozen understanding LM, learnable queries, a separate image decoder.

Like MetaQuery / BLIP3-o: K learnable query vectors are appended after the LM's input (the prompt, or in
think mode the prompt, the LM's own trace and rewritten prompt); the LM's final hidden states at the
query positions are projected and become the prefix of a small causal transformer that writes the 9
image codes. Stage 1 trains the LM on text; stage 2 freezes it and trains queries + decoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from unisandbox.models.sandbox.model import GPT, GPTConfig, _cached_mask
from unisandbox.models.sandbox.sampling import N_CELLS, left_pad, pick, row_uniforms


@dataclass(frozen=True)
class QueryConfig:
    """Arguments of the query-based model (the LM's own GPTConfig is stored beside it)."""

    n_queries: int = 8
    """K learnable queries; a count and an object (or four portrait attributes) fit comfortably."""
    n_codes: int = 512
    """Image codebook size (set from the image tokenizer)."""
    dec_layer: int = 3
    dec_head: int = 4
    dec_embd: int = 128
    """The decoder only has to place up to 9 icons given a conditioning vector: small suffices."""

    def to_dict(self) -> dict:
        return asdict(self)


class QueryModel(nn.Module):
    """Frozen-LM + queries + decoder. `lm` is a text-only GPT over the text vocabulary."""

    def __init__(self, lm_cfg: GPTConfig, cfg: QueryConfig):
        super().__init__()
        self.cfg = cfg
        self.lm = GPT(lm_cfg)
        self.queries = nn.Parameter(torch.randn(cfg.n_queries, lm_cfg.n_embd) * 0.02)
        self.proj = nn.Linear(lm_cfg.n_embd, cfg.dec_embd)
        # Decoder vocabulary: the image codes plus one start token (id n_codes).
        self.dec = GPT(
            GPTConfig(
                vocab_size=cfg.n_codes + 1,
                block_size=cfg.n_queries + N_CELLS,
                n_layer=cfg.dec_layer,
                n_head=cfg.dec_head,
                n_embd=cfg.dec_embd,
            )
        )

    def freeze_lm(self) -> None:
        """Stage 2: the understanding LM no longer learns (its text ability stays what stage 1 made)."""
        self.lm.requires_grad_(False)
        self.lm.eval()

    def condition(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """LM states at the query positions after each prompt: (B, K, dec_embd)."""
        device = self.queries.device
        ids, key_mask, pos = left_pad(prompts, device)
        B, K = ids.shape[0], self.cfg.n_queries
        q_pos = pos[:, -1:] + 1 + torch.arange(K, device=device).unsqueeze(0)  # (B, K)
        if int(q_pos.max()) >= self.lm.cfg.block_size:
            raise ValueError("prompt too long for the understanding LM's context")
        x = self.lm.embed(ids, pos, torch.zeros_like(ids))  # (B, L, C)
        xq = self.queries.unsqueeze(0).expand(B, K, -1) + self.lm.pos_embed(q_pos)  # (B, K, C)
        full_mask = torch.cat([key_mask, torch.ones((B, K), dtype=torch.bool, device=device)], dim=1)
        h, _ = self.lm.run(
            torch.cat([x, xq], dim=1),
            _cached_mask(full_mask, full_mask.shape[1]),
            pos=torch.cat([pos, q_pos], dim=1),
            valid=full_mask,
        )
        return self.proj(h[:, -K:])  # (B, K, dec_embd)

    def _dec_inputs(self, cond: torch.Tensor, codes_in: torch.Tensor) -> torch.Tensor:
        B, K = cond.shape[0], self.cfg.n_queries
        n = codes_in.shape[1]
        pos = torch.arange(K + n, device=cond.device).unsqueeze(0).expand(B, -1)
        cells = torch.arange(n, device=cond.device).unsqueeze(0).expand(B, -1)  # start token = cell 0
        prefix = cond + self.dec.pos_embed(pos[:, :K])
        body = self.dec.embed(codes_in, pos[:, K:], cells)
        return torch.cat([prefix, body], dim=1)  # (B, K + n, dec_embd)

    def forward(self, prompts: Sequence[Sequence[int]], codes: torch.Tensor):
        """Teacher-forced decoder loss for (prompt, 9 codes) pairs; returns (logits (B, 9, n_codes), loss)."""
        cond = self.condition(prompts)
        start = torch.full((codes.shape[0], 1), self.cfg.n_codes, dtype=torch.long, device=codes.device)
        x = self._dec_inputs(cond, torch.cat([start, codes[:, :-1]], dim=1))
        h, _ = self.dec.run(x)
        logits = self.dec.head(h[:, self.cfg.n_queries :])[..., : self.cfg.n_codes]  # (B, 9, n_codes)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes.reshape(-1))
        return logits, loss

    @torch.no_grad()
    def sample(
        self, prompts: Sequence[Sequence[int]], seeds: Sequence[int], temperature: float = 1.0
    ) -> np.ndarray:
        """(B, 9) code ids drawn with per-row generators (see sampling.row_uniforms)."""
        cond = self.condition(prompts)
        B, K = cond.shape[0], self.cfg.n_queries
        u = row_uniforms(seeds).to(cond.device)
        codes = torch.zeros((B, N_CELLS), dtype=torch.long, device=cond.device)
        x = self._dec_inputs(cond, torch.full((B, 1), self.cfg.n_codes, dtype=torch.long, device=cond.device))
        caches = None
        key_mask = torch.ones((B, K + 1), dtype=torch.bool, device=cond.device)
        for k in range(N_CELLS):
            h, caches = self.dec.run(x, _cached_mask(key_mask, x.shape[1]), caches)
            logits = self.dec.head(h[:, -1])[:, : self.cfg.n_codes]
            c = pick(logits, u[:, k], temperature)
            codes[:, k] = c
            if k == N_CELLS - 1:
                break
            p = torch.full((B, 1), K + 1 + k, dtype=torch.long, device=cond.device)
            x = self.dec.embed(c.unsqueeze(1), p, torch.full_like(p, k + 1))
            key_mask = torch.cat([key_mask, torch.ones((B, 1), dtype=torch.bool, device=cond.device)], dim=1)
        return codes.cpu().numpy()
