"""Sequence formats of the sandbox model and the joint vocabulary (text ids, then image codes).

understanding: `<und> question <sep> step ; step ; answer: 3 <eos>`       loss on trace + answer + <eos>
drawing:       `<gen> 3 cups <img> c1 .. c9`                              loss on the 9 image codes
think mode:    `<think> prompt <sep> step ; ... ; answer: 3 cups <img> c1 .. c9`
                                                                           loss on trace, <img>, codes
normal mode:   `<gen> prompt <img> c1 .. c9`                              inference only

A `Seq` is the token ids, the loss mask (1 = predict this token) and the grid cell of each image code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from unisandbox.models.sandbox.tokenizers import EOS, GEN, IMG, SEP, THINK, UND, ImageTokenizer, TextTokenizer

STEP_SEP = " ; "
ANSWER_PREFIX = "answer:"


@dataclass(frozen=True)
class Seq:
    """One training sequence."""

    kind: str
    """"und" (or "fact"), "draw" or "think" (the mixture builder checks kinds against their content)."""
    ids: tuple[int, ...]
    """Joint-vocabulary token ids."""
    loss: tuple[int, ...]
    """1 where the token is a prediction target, 0 for the prompt."""
    cells: tuple[int, ...]
    """0 for text tokens, 1..9 for the image code filling that grid cell."""


@dataclass
class Codec:
    """Text tokenizer + image tokenizer as one joint vocabulary: [text ids | image codes]."""

    text: TextTokenizer
    image: ImageTokenizer

    @property
    def code_offset(self) -> int:
        """Id of image code 0."""
        return self.text.size

    @property
    def vocab_size(self) -> int:
        return self.text.size + self.image.size

    def special(self, tok: str) -> int:
        return self.text.id(tok)

    def trace_text(self, steps: Sequence[str]) -> str:
        """Steps as one trace string: `"9 - 5 = 4 ; answer: 4 cups"`."""
        return STEP_SEP.join(s.strip() for s in steps)

    def understanding(self, question: str, steps: Sequence[str], kind: str = "und") -> Seq:
        """`<und> question <sep> trace <eos>`; the last step must be `answer: ...`."""
        _check_answer_step(steps)
        head = [self.special(UND), *self.text.encode(question), self.special(SEP)]
        tail = [*self.text.encode(self.trace_text(steps)), self.special(EOS)]
        return Seq(
            kind, tuple(head + tail), (0,) * len(head) + (1,) * len(tail), (0,) * (len(head) + len(tail))
        )

    def drawing(self, description: str, codes: Sequence[int]) -> Seq:
        """`<gen> description <img> c1..c9` (a plain description, never a reasoning prompt)."""
        head = [self.special(GEN), *self.text.encode(description), self.special(IMG)]
        return self._with_image("draw", head, [0] * len(head), codes)

    def think(self, prompt: str, steps: Sequence[str], codes: Sequence[int]) -> Seq:
        """`<think> prompt <sep> trace <img> c1..c9`: the trace always sits between prompt and image."""
        _check_answer_step(steps)
        head = [self.special(THINK), *self.text.encode(prompt), self.special(SEP)]
        trace = [*self.text.encode(self.trace_text(steps)), self.special(IMG)]
        return self._with_image("think", head + trace, [0] * len(head) + [1] * len(trace), codes)

    def _with_image(self, kind: str, head: list[int], loss: list[int], codes: Sequence[int]) -> Seq:
        codes = [int(c) for c in codes]
        if len(codes) != 9 or not all(0 <= c < self.image.size for c in codes):
            raise ValueError(f"an image is 9 codes in [0, {self.image.size}), got {codes}")
        ids = head + [self.code_offset + c for c in codes]
        return Seq(kind, tuple(ids), tuple(loss + [1] * 9), tuple([0] * len(head) + list(range(1, 10))))

    # Prompts for inference (what the model continues).
    def understanding_prompt(self, question: str) -> list[int]:
        return [self.special(UND), *self.text.encode(question), self.special(SEP)]

    def normal_prompt(self, prompt: str) -> list[int]:
        return [self.special(GEN), *self.text.encode(prompt), self.special(IMG)]

    def think_prompt(self, prompt: str) -> list[int]:
        return [self.special(THINK), *self.text.encode(prompt), self.special(SEP)]


def _check_answer_step(steps: Sequence[str]) -> None:
    if not steps or not steps[-1].strip().lower().startswith(ANSWER_PREFIX):
        raise ValueError(f"a trace must end with an 'answer: ...' step, got {list(steps)!r}")


def trace_answer(trace: str) -> str:
    """The text after the last `answer:` in a decoded trace, or "" if there is none."""
    low = trace.lower()
    k = low.rfind(ANSWER_PREFIX)
    if k < 0:
        return ""
    return trace[k + len(ANSWER_PREFIX) :].strip().rstrip(".").strip()


def pad_batch(seqs: Sequence[Seq], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-pad into (inputs, targets, cells) arrays of shape (B, T-1); targets are -100 where no loss."""
    T = max(len(s.ids) for s in seqs)
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)
    tgt = np.full((len(seqs), T), -100, dtype=np.int64)
    cells = np.zeros((len(seqs), T), dtype=np.int64)
    for i, s in enumerate(seqs):
        n = len(s.ids)
        ids[i, :n] = s.ids
        cells[i, :n] = s.cells
        lm = np.asarray(s.loss, dtype=bool)
        t = np.asarray(s.ids, dtype=np.int64)
        tgt[i, :n] = np.where(lm, t, -100)
    # Predict token t+1 from tokens 0..t.
    return ids[:, :-1], tgt[:, 1:], cells[:, :-1]


@dataclass(frozen=True)
class PackedBatch:
    """Sequences packed end to end into rows (`pack_batch`); every array is (rows, T)."""

    ids: np.ndarray
    targets: np.ndarray
    """-100 where no loss (prompt tokens, padding)."""
    cells: np.ndarray
    pos: np.ndarray
    """Each token's position within its own sequence (0 at a sequence's first token)."""
    doc: np.ndarray
    """Which sequence of the row a token belongs to (1, 2, ...); 0 on padding."""


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: indices of `lengths` grouped into rows whose lengths sum to <= `capacity`.

    Deterministic (longest first, ties by index). A length over `capacity` is an error.

    >>> pack_rows([5, 3, 4, 2], capacity=7)
    [[0, 3], [2, 1]]
    """
    if lengths and max(lengths) > capacity:
        raise ValueError(f"a sequence of {max(lengths)} tokens does not fit rows of {capacity}")
    rows: list[list[int]] = []
    free: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        row = next((r for r, f in enumerate(free) if f >= lengths[i]), None)
        if row is None:
            rows.append([])
            free.append(capacity)
            row = len(rows) - 1
        rows[row].append(i)
        free[row] -= lengths[i]
    return rows


def pack_layout(seqs: Sequence[Seq], capacity: int) -> tuple[list[int], list[list[int]], int]:
    """How `pack_batch` lays `seqs` out: each sequence's input length (all tokens but the last), the rows
    (`pack_rows`) and the row length T (the fullest row's fill)."""
    lengths = [len(s.ids) - 1 for s in seqs]
    rows = pack_rows(lengths, capacity)
    return lengths, rows, max(sum(lengths[i] for i in r) for r in rows)


def pack_batch(seqs: Sequence[Seq], capacity: int, pad_id: int = 0) -> PackedBatch:
    """The teacher-forcing pairs of `pad_batch`, packed into as few rows of <= `capacity` tokens as
    first-fit decreasing finds, instead of one right-padded row per sequence.

    Each sequence contributes its inputs (all tokens but the last) and targets (all but the first), with
    positions restarting at 0 and its own `doc` number, so a model that attends and convolves within a
    doc only (`GPT.forward(..., pos=, doc=)`) computes for each sequence exactly what it computes unpacked,
    on fewer padded positions. The scored tokens are the same set as `pad_batch`'s, in another order.
    """
    lengths, rows, T = pack_layout(seqs, capacity)
    shape = (len(rows), T)
    ids = np.full(shape, pad_id, dtype=np.int64)
    tgt = np.full(shape, -100, dtype=np.int64)
    cells = np.zeros(shape, dtype=np.int64)
    pos = np.zeros(shape, dtype=np.int64)
    doc = np.zeros(shape, dtype=np.int64)
    for r, members in enumerate(rows):
        at = 0
        for d, i in enumerate(members, start=1):
            s, n = seqs[i], lengths[i]
            t = np.asarray(s.ids, dtype=np.int64)
            ids[r, at : at + n] = t[:-1]
            tgt[r, at : at + n] = np.where(np.asarray(s.loss[1:], dtype=bool), t[1:], -100)
            cells[r, at : at + n] = s.cells[:-1]
            pos[r, at : at + n] = np.arange(n)
            doc[r, at : at + n] = d
            at += n
    return PackedBatch(ids, tgt, cells, pos, doc)
