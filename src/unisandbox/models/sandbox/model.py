"""The sandbox network: a small nanoGPT-style causal transformer with a KV cache.

One class serves both architectures. As the *shared backbone* it reads and writes text tokens and image
codes from one joint vocabulary; as the *understanding LM* of the query-based model it is trained on text
only, then frozen, and `hidden(...)` exposes its last hidden states to the query decoder (see query.py).

Image codes get an extra "cell" embedding (which of the 9 grid cells the code fills) so that the network
need not infer the cell from the distance to the `<img>` marker: prompts have variable length.

Batched sampling left-pads prompts; `pos` and `key_mask` make every row behave as if it were alone. With
`qkv_conv`, padding positions are zeroed before the convolution, so they do not leak into the first real
tokens, and the cache carries each layer's last two pre-convolution rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    """Model arguments; saved in config.json so a checkpoint rebuilds the network from the file alone."""

    vocab_size: int = 1024
    """Joint vocabulary: specials + words + byte fallback + image codes (set from the tokenizers)."""
    block_size: int = 192
    """Longest sequence: a level-3 think-mode sequence (prompt, trace, answer, 10 image slots) fits."""
    n_layer: int = 6
    """Depth: level-3 traces chain three facts; 4 layers learned level 1 in the prototype."""
    n_head: int = 4
    n_embd: int = 192
    """Width: d=128 drew well; the arithmetic facts and rule chains want a bit more room."""
    n_cells: int = 9
    """Image tokens per image (3x3 grid of 16x16 cells)."""
    dropout: float = 0.0
    """Synthetic data is plentiful; dropout only slows CPU training."""
    rope: bool = False
    """Rotary position embeddings (relative positions in attention) instead of learned absolute ones.
    Looking a symbol up in a restated rule list is an induction ("find the earlier copy, read the token
    after it"), which relative positions make learnable in a small model; see docs/sandbox.md."""
    qkv_conv: bool = False
    """Causal depthwise convolution (kernel 3, one filter per channel) over the queries, keys and values
    right after their projection (Primer, So et al. 2021). Each head then sees the two previous tokens, so
    the copy circuit that mapping and inverse retrieval need ("find the earlier copy of this token, read
    what follows it") fits in one layer and forms early instead of after a long plateau (docs/sandbox.md).
    Off reproduces the checkpoints trained before it, bit for bit."""

    def to_dict(self) -> dict:
        """Plain dict for config.json."""
        return asdict(self)


CONV_TAIL = 2
"""Previous tokens the qkv convolution reads (kernel size - 1)."""


class Rotary:
    """Rotary position embedding for a batch of positions (B, T): rotates channel pairs (i, i + hs/2) of q
    and k so that their dot product depends only on the distance between the two positions (RoFormer)."""

    def __init__(self, pos: torch.Tensor, head_size: int, base: float = 10000.0):
        inv = 1.0 / base ** (
            torch.arange(0, head_size, 2, device=pos.device, dtype=torch.float32) / head_size
        )
        ang = pos.to(torch.float32).unsqueeze(-1) * inv  # (B, T, hs/2)
        ang = torch.cat([ang, ang], dim=-1).unsqueeze(1)  # (B, 1, T, hs), broadcast over heads
        self.cos, self.sin = ang.cos(), ang.sin()

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, nh, T, hs) -> the same, rotated."""
        x1, x2 = x.chunk(2, dim=-1)
        return x * self.cos.to(x.dtype) + torch.cat([-x2, x1], dim=-1) * self.sin.to(x.dtype)


class SelfAttention(nn.Module):
    """Multi-head causal self-attention that can read and extend a KV cache.

    A cache entry is (keys, values, conv tail): the tail holds the last CONV_TAIL pre-convolution qkv rows
    (B, CONV_TAIL, 3C) when `qkv_conv` is on, else None.
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout
        self.conv = None
        if cfg.qkv_conv:
            c3 = 3 * cfg.n_embd
            self.conv = nn.Conv1d(c3, c3, kernel_size=CONV_TAIL + 1, groups=c3, bias=False)
            with (
                torch.no_grad()
            ):  # start as the identity: the plain attention, which then learns to look back
                self.conv.weight.zero_()
                self.conv.weight[:, 0, -1] = 1.0

    def _convolve(
        self,
        qkv: torch.Tensor,
        valid: torch.Tensor | None,
        tail: torch.Tensor | None,
        doc: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Causal depthwise convolution of qkv (B, T, 3C) after the cached tail; returns (out, new tail).

        With `doc` (B, T) (packed rows, no cache), a token reads the previous tokens of its own doc only."""
        assert self.conv is not None
        if doc is not None:
            return self._convolve_docs(qkv, doc), qkv[:, -CONV_TAIL:]
        if valid is not None:  # left padding must not reach the first real tokens
            qkv = qkv * valid.unsqueeze(-1).to(qkv.dtype)
        if tail is None:
            tail = qkv.new_zeros(qkv.shape[0], CONV_TAIL, qkv.shape[2])
        ext = torch.cat([tail, qkv], dim=1)  # (B, CONV_TAIL + T, 3C)
        out = self.conv(ext.transpose(1, 2)).transpose(1, 2)  # (B, T, 3C)
        return out, ext[:, -CONV_TAIL:]

    def _convolve_docs(self, qkv: torch.Tensor, doc: torch.Tensor) -> torch.Tensor:
        """The convolution tap by tap, each earlier tap zeroed where it crosses into another doc: what
        each doc would get alone in a row (whose first tokens read the zero tail)."""
        assert self.conv is not None
        w = self.conv.weight[:, 0, :]  # (3C, K); tap K-1 is the token itself, tap K-1-j reads j back
        out = qkv * w[:, CONV_TAIL]
        for j in range(1, CONV_TAIL + 1):
            same = torch.zeros_like(doc, dtype=torch.bool)
            same[:, j:] = doc[:, j:] == doc[:, :-j]
            back = torch.zeros_like(qkv)
            back[:, j:] = qkv[:, :-j]
            out = out + back * same.unsqueeze(-1).to(qkv.dtype) * w[:, CONV_TAIL - j]
        return out

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        cache: tuple | None = None,
        rot: Rotary | None = None,
        valid: torch.Tensor | None = None,
        doc: torch.Tensor | None = None,
    ):
        """x: (B, T, C); valid: (B, T) bool, False on padding (None = all real; used by the convolution);
        doc: (B, T) sequence number of each token in packed rows (the convolution stays within a doc;
        `mask` must keep attention within it too)."""
        B, T, C = x.shape
        qkv = self.qkv(x)  # (B, T, 3C)
        tail = None
        if self.conv is not None:
            qkv, tail = self._convolve(qkv, valid, None if cache is None else cache[2], doc)
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if rot is not None:  # rotate by each token's own position; cached keys were rotated when made
            q, k = rot.apply(q), rot.apply(k)
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)  # (B, nh, T_past + T, hs)
            v = torch.cat([cache[1], v], dim=2)
        drop = self.dropout if self.training else 0.0
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y), (k, v, tail)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x, mask, cache=None, rot=None, valid=None, doc=None):
        a, new_cache = self.attn(self.ln1(x), mask, cache, rot, valid, doc)
        x = x + a
        x = x + self.mlp(self.ln2(x))
        return x, new_cache


class GPT(nn.Module):
    """Causal transformer over token ids; `forward(idx, targets=None) -> (logits, loss)`."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        # With rope, positions enter attention only; no learned absolute table.
        self.pos_emb = None if cfg.rope else nn.Embedding(cfg.block_size, cfg.n_embd)
        # Index 0 = "not an image token"; 1..n_cells = grid cell of an image code.
        self.cell_emb = nn.Embedding(cfg.n_cells + 1, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying: fewer parameters, same quality here
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):  # GPT-2 scaled init of residual projections
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def num_params(self) -> int:
        """Number of parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())

    def embed(self, idx: torch.Tensor, pos: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Token + position + cell embeddings: (B, T) ids -> (B, T, C) (no position term with rope)."""
        x = self.tok_emb(idx) + self.cell_emb(cells)
        return x if self.pos_emb is None else x + self.pos_emb(pos)

    def pos_embed(self, pos: torch.Tensor) -> torch.Tensor | float:
        """The absolute position term alone, for inputs that are not tokens (0 with rope)."""
        return 0.0 if self.pos_emb is None else self.pos_emb(pos)

    def run(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        caches: list | None = None,
        pos: torch.Tensor | None = None,
        valid: torch.Tensor | None = None,
        doc: torch.Tensor | None = None,
    ):
        """Run embedded inputs (B, T, C) at positions `pos` (B, T) (default 0..T-1) through the blocks;
        returns final-normed states and new caches. Positions matter here only with rope; `valid` (B, T),
        False on left padding, and `doc` (B, T), packed rows' sequence numbers, only with qkv_conv (None =
        every position is a real token of one sequence)."""
        rot = None
        if self.cfg.rope:
            if pos is None:
                pos = torch.arange(x.shape[1], device=x.device).unsqueeze(0).expand(x.shape[0], -1)
            rot = Rotary(pos, self.cfg.n_embd // self.cfg.n_head)
        new_caches = []
        for i, block in enumerate(self.blocks):
            x, c = block(x, mask, None if caches is None else caches[i], rot, valid, doc)
            new_caches.append(c)
        return self.ln_f(x), new_caches

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cells: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        doc: torch.Tensor | None = None,
    ):
        """Teacher-forced pass over right-padded sequences starting at position 0, or over packed rows.

        idx, targets, cells: (B, T). Without targets: logits (B, T, vocab), loss None. With targets:
        logits of the scored positions only, (N, vocab), in row-major order; -100 marks unscored ones.
        Packed rows (`sequences.pack_batch`): `pos` (B, T), each token's position in its sequence, and
        `doc` (B, T), its sequence's number in the row (0 = padding); attention and the convolution then
        stay within each sequence, which gets what it would get alone.
        """
        B, T = idx.shape
        assert T <= self.cfg.block_size, f"sequence of {T} tokens > block_size {self.cfg.block_size}"
        if pos is None:
            pos = torch.arange(T, device=idx.device).unsqueeze(0).expand(B, T)
        if cells is None:
            cells = torch.zeros_like(idx)
        mask = None if doc is None else _doc_mask(doc)
        h, _ = self.run(self.embed(idx, pos, cells), mask, pos=pos, doc=doc)
        if targets is None:
            return self.head(h), None  # (B, T, vocab)
        # Most positions are prompt or padding: project only the scored ones (the head dominates on CPU).
        keep = targets != -100  # (B, T)
        logits = self.head(h[keep])  # (N_scored, vocab)
        loss = F.cross_entropy(logits, targets[keep])
        return logits, loss

    @torch.no_grad()
    def step(
        self,
        idx: torch.Tensor,
        pos: torch.Tensor,
        cells: torch.Tensor,
        key_mask: torch.Tensor,
        caches: list | None,
    ):
        """One cached decoding step over left-padded rows.

        idx, pos, cells: (B, T) new tokens (T > 1 for the prompt, then 1); key_mask: (B, T_past + T) bool,
        True where a key is a real token. Returns (logits of the last position (B, vocab), new caches).
        """
        x = self.embed(idx, pos, cells)
        mask = _cached_mask(key_mask, idx.shape[1])
        h, caches = self.run(x, mask, caches, pos, key_mask[:, -idx.shape[1] :])
        return self.head(h[:, -1]), caches

    def configure_optimizer(self, lr: float, weight_decay: float = 0.05):
        """AdamW with decay on matrices only (not on norms, biases, embeddings of positions/cells)."""
        decay = [
            p
            for n, p in self.named_parameters()
            if p.requires_grad and p.dim() >= 2 and not n.startswith(("pos_emb", "cell_emb"))
        ]
        other = [
            p
            for n, p in self.named_parameters()
            if p.requires_grad and not (p.dim() >= 2 and not n.startswith(("pos_emb", "cell_emb")))
        ]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98))


def _cached_mask(key_mask: torch.Tensor, t_new: int) -> torch.Tensor:
    """(B, 1, T_new, T_all) boolean attention mask: causal over the new tokens, padding keys hidden."""
    B, T_all = key_mask.shape
    q_pos = torch.arange(T_all - t_new, T_all, device=key_mask.device).unsqueeze(1)  # (T_new, 1)
    k_pos = torch.arange(T_all, device=key_mask.device).unsqueeze(0)  # (1, T_all)
    causal = k_pos <= q_pos  # (T_new, T_all)
    mask = causal.unsqueeze(0) & key_mask.unsqueeze(1)  # (B, T_new, T_all)
    # A left-padding query row may see no real key at all; let it see itself so softmax stays finite.
    mask = mask | (k_pos == q_pos).unsqueeze(0)
    return mask.unsqueeze(1)


def _doc_mask(doc: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T) boolean attention mask of packed rows: causal, and within a token's own doc (padding,
    doc 0, sees only earlier padding: never a real token, and always itself)."""
    T = doc.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=doc.device).tril()
    return (causal & (doc.unsqueeze(2) == doc.unsqueeze(1))).unsqueeze(1)
