"""Tokenizers of the sandbox model: a word-level text tokenizer and a patch-codebook image tokenizer.

Text: lower-cased words, whole numbers, and punctuation, from a vocabulary built deterministically from
the generators' outputs. A word outside the vocabulary is spelled as UTF-8 bytes between `<spell>` and
`</spell>`, so any prompt (a new character's name, another language) is encodable and decodes back.

Images: 48x48 RGB = a 3x3 grid of 16x16 cells, one token per cell. The codebook is the set of distinct
cell patches seen in grid- or tally-style renders (capped with k-means if it grows large); encode = nearest code
(L2), decode = lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# Special tokens: their order fixes their ids (0..len-1) in every checkpoint.
PAD, UND, GEN, THINK, SEP, IMG, EOS, SPELL, END_SPELL = (
    "<pad>",
    "<und>",
    "<gen>",
    "<think>",
    "<sep>",
    "<img>",
    "<eos>",
    "<spell>",
    "</spell>",
)
SPECIALS: tuple[str, ...] = (PAD, UND, GEN, THINK, SEP, IMG, EOS, SPELL, END_SPELL)
N_BYTES = 256

# A "word" is a number, a run of letters (hyphen/apostrophe inside allowed: "mid-age"), the arrow "->",
# or any other single visible character.
_TOKEN_RE = re.compile(r"\d+|[^\W\d_]+(?:['\-][^\W\d_]+)*|->|[^\s]")
POSSESSIVE = "'s"
_NO_SPACE_BEFORE = {*".,?!:;%)", POSSESSIVE}


def split_words(text: str, split_possessive: bool = False) -> list[str]:
    """Lower-case and split text into words: `split_words("Generate 3 cups.") == ["generate", "3", "cups", "."]`.

    With `split_possessive` a trailing "'s" is a word of its own, so a name is the same tokens in
    "Tzofa's fruit" as in "Tzofa is" (GPT-2's pre-tokenizer splits it off the same way):

    >>> split_words("Tzofa's pear", split_possessive=True)
    ['tzofa', "'s", 'pear']
    """
    words = _TOKEN_RE.findall(text.lower())
    if not split_possessive:
        return words
    out: list[str] = []
    for w in words:
        if len(w) > len(POSSESSIVE) and w.endswith(POSSESSIVE):
            out += [w[: -len(POSSESSIVE)], POSSESSIVE]
        else:
            out.append(w)
    return out


def join_words(words: Sequence[str]) -> str:
    """Inverse of `split_words` up to spacing: punctuation sticks to the word before it."""
    out = ""
    for w in words:
        if out and w not in _NO_SPACE_BEFORE and not out.endswith("("):
            out += " "
        out += w
    return out


@dataclass
class TextTokenizer:
    """Word-level tokenizer with byte fallback. Ids: specials, then words, then 256 bytes."""

    words: tuple[str, ...]
    """The word vocabulary (specials and bytes excluded), in id order."""
    split_possessive: bool = False
    """Split a trailing "'s" off every word (`split_words`); off in the checkpoints written before it."""

    def __post_init__(self) -> None:
        self._ids = {s: i for i, s in enumerate(SPECIALS)}
        for i, w in enumerate(self.words):
            self._ids[w] = len(SPECIALS) + i
        self.byte_offset = len(SPECIALS) + len(self.words)
        self.size = self.byte_offset + N_BYTES

    @classmethod
    def build(
        cls, texts: Iterable[str], max_number: int = 0, split_possessive: bool = False
    ) -> TextTokenizer:
        """Vocabulary = every word in `texts` plus the numbers 0..max_number, sorted (deterministic)."""
        vocab = {str(n) for n in range(max_number + 1)}
        for t in texts:
            vocab.update(split_words(t, split_possessive))
        vocab -= set(SPECIALS)
        words = tuple(sorted(vocab, key=lambda w: (not w.isdigit(), int(w) if w.isdigit() else 0, w)))
        return cls(words, split_possessive)

    def id(self, token: str) -> int:
        """Id of a special token or vocabulary word."""
        return self._ids[token]

    def encode(self, text: str) -> list[int]:
        """Text -> ids; out-of-vocabulary words are spelled out byte by byte."""
        out: list[int] = []
        for w in split_words(text, self.split_possessive):
            i = self._ids.get(w)
            if i is not None:
                out.append(i)
            else:
                out.append(self._ids[SPELL])
                out.extend(self.byte_offset + b for b in w.encode("utf-8"))
                out.append(self._ids[END_SPELL])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; specials other than the spelling markers are dropped."""
        words: list[str] = []
        spelled: list[int] | None = None
        for i in ids:
            i = int(i)
            if i == self._ids[SPELL]:
                spelled = []
            elif i == self._ids[END_SPELL]:
                if spelled is not None:
                    words.append(bytes(spelled).decode("utf-8", errors="replace"))
                spelled = None
            elif spelled is not None and self.byte_offset <= i < self.size:
                spelled.append(i - self.byte_offset)
            elif len(SPECIALS) <= i < self.byte_offset:
                words.append(self.words[i - len(SPECIALS)])
        return join_words(words)

    def to_json(self) -> str:
        """Serialise (the word list fixes every id)."""
        data: dict[str, object] = {
            "kind": "word+bytes",
            "specials": list(SPECIALS),
            "words": list(self.words),
        }
        if self.split_possessive:  # only when on: files written without it stay byte for byte the same
            data["split_possessive"] = True
        return json.dumps(data, ensure_ascii=False, indent=0)

    @classmethod
    def from_json(cls, text: str) -> TextTokenizer:
        """Inverse of `to_json`; refuses a file written with other special tokens."""
        data = json.loads(text)
        if tuple(data.get("specials", ())) != SPECIALS:
            raise ValueError("tokenizer file has different special tokens than this version")
        return cls(tuple(data["words"]), bool(data.get("split_possessive", False)))


CELL = 16
GRID = 3
IMAGE_SIZE = CELL * GRID


def image_to_cells(images: np.ndarray) -> np.ndarray:
    """(N, 48, 48, 3) uint8 -> (N, 9, 768) float32 cell patches, row-major cell order."""
    n = images.shape[0]
    x = images.reshape(n, GRID, CELL, GRID, CELL, 3).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, GRID * GRID, CELL * CELL * 3).astype(np.float32)


def cells_to_image(cells: np.ndarray) -> np.ndarray:
    """(N, 9, 768) patches -> (N, 48, 48, 3) uint8 images."""
    n = cells.shape[0]
    x = cells.reshape(n, GRID, GRID, CELL, CELL, 3).transpose(0, 1, 3, 2, 4, 5)
    images: np.ndarray = np.clip(x.reshape(n, IMAGE_SIZE, IMAGE_SIZE, 3), 0, 255).astype(np.uint8)
    return images


@dataclass
class ImageTokenizer:
    """Patch codebook: (K, 16*16*3) uint8 codes; one token per 16x16 cell.

    `aliases` are further patches that encode to a code: the 1-px shifted copies of an icon (the
    renderer's jitter) all encode to the icon's centred copy, so a code means "this icon in this cell"
    and the network does not spend its probability mass on jitter.
    """

    codes: np.ndarray
    """(K, 768) uint8 cell patches."""
    alias_patches: np.ndarray | None = None
    """(M, 768) uint8 patches that are not codes but encode exactly to `alias_codes`."""
    alias_codes: np.ndarray | None = None
    """(M,) int64 code id of each alias patch."""

    @property
    def size(self) -> int:
        return int(self.codes.shape[0])

    @classmethod
    def fit(
        cls, images: np.ndarray, max_codes: int = 4096, seed: int = 0, merge_shifts: bool = True
    ) -> ImageTokenizer:
        """Learn the codebook from (N, 48, 48, 3) uint8 renders: distinct patches, k-means if too many.

        With `merge_shifts`, patches that are the same content shifted inside the cell (an icon with
        jitter, never touching the cell border) become one code: the copy at the family's median position.
        """
        patches = _patches_u8(images)
        # Dedupe on raw bytes (a 1-D void view sorts far faster than np.unique(axis=0)).
        keys = np.ascontiguousarray(patches).view(np.dtype((np.void, patches.shape[1]))).ravel()
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        uniq = patches[first]
        alias_p = alias_c = None
        if merge_shifts:
            uniq, counts, alias_p, alias_c = _merge_shifts(uniq, counts)
        if len(uniq) <= max_codes:
            return cls(uniq, alias_p, alias_c)
        centres = _kmeans(uniq.astype(np.float32), counts, max_codes, seed).round().astype(np.uint8)
        return cls(centres)

    def _table(self) -> dict[bytes, int]:
        if not hasattr(self, "_lookup"):
            table = {c.tobytes(): i for i, c in enumerate(self.codes)}
            if self.alias_patches is not None and self.alias_codes is not None:
                for p, c in zip(self.alias_patches, self.alias_codes, strict=True):
                    table.setdefault(p.tobytes(), int(c))
            self._lookup = table
        return self._lookup

    def encode(self, images: np.ndarray) -> np.ndarray:
        """(N, 48, 48, 3) uint8 -> (N, 9) int64 code ids (nearest code in L2).

        Patches equal to a code or an alias (every grid- or tally-style render) are found by exact lookup; only
        the others pay for the distance computation.
        """
        patches = _patches_u8(images)
        table = self._table()
        ids = np.fromiter((table.get(p.tobytes(), -1) for p in patches), dtype=np.int64, count=len(patches))
        miss = ids < 0
        if miss.any():
            ids[miss] = _nearest(patches[miss].astype(np.float32), self.codes.astype(np.float32))
        return ids.reshape(images.shape[0], GRID * GRID)

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """(N, 9) code ids -> (N, 48, 48, 3) uint8 images."""
        ids = np.asarray(ids, dtype=np.int64)
        return cells_to_image(self.codes[ids].astype(np.float32))

    def tensors(self) -> dict[str, np.ndarray]:
        """Arrays to save (safetensors)."""
        out = {"codes": np.ascontiguousarray(self.codes)}
        if self.alias_patches is not None and self.alias_codes is not None and len(self.alias_patches):
            out["alias_patches"] = np.ascontiguousarray(self.alias_patches)
            out["alias_codes"] = np.ascontiguousarray(self.alias_codes.astype(np.int64))
        return out

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray]) -> ImageTokenizer:
        """Inverse of `tensors`."""
        return cls(t["codes"], t.get("alias_patches"), t.get("alias_codes"))


def _merge_shifts(
    uniq: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes, counts, alias patches, alias code ids): shifted copies of one content folded into one code."""
    bg = uniq[int(np.argmax(counts))].reshape(CELL, CELL, 3)[0, 0]  # the empty cell is the commonest patch
    families: dict[bytes, list[tuple[int, int, int]]] = {}
    singles: list[int] = []
    for i, p in enumerate(uniq):
        img = p.reshape(CELL, CELL, 3)
        fg = (img != bg).any(-1)
        if not fg.any() or fg[0].any() or fg[-1].any() or fg[:, 0].any() or fg[:, -1].any():
            singles.append(i)
            continue
        ys, xs = np.nonzero(fg)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        key = bytes([y1 - y0, x1 - x0]) + img[y0:y1, x0:x1].tobytes()
        families.setdefault(key, []).append((i, int(y0), int(x0)))
    keep: list[int] = list(singles)
    alias_of: list[tuple[int, int]] = []  # (patch index, representative patch index)
    for members in families.values():
        my = float(np.median([m[1] for m in members]))
        mx = float(np.median([m[2] for m in members]))
        rep = min(members, key=lambda m: (abs(m[1] - my) + abs(m[2] - mx), m[1], m[2]))[0]
        keep.append(rep)
        alias_of += [(m[0], rep) for m in members if m[0] != rep]
    keep.sort()
    new_id = {old: k for k, old in enumerate(keep)}
    merged_counts = counts[keep].astype(np.float64)
    for a, r in alias_of:
        merged_counts[new_id[r]] += counts[a]
    alias_p = uniq[[a for a, _ in alias_of]] if alias_of else np.zeros((0, uniq.shape[1]), np.uint8)
    alias_c = np.array([new_id[r] for _, r in alias_of], dtype=np.int64)
    return uniq[keep], merged_counts, alias_p, alias_c


def _patches_u8(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"expected (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) images, got {images.shape}")
    n = images.shape[0]
    x = images.astype(np.uint8).reshape(n, GRID, CELL, GRID, CELL, 3).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(x.reshape(n * GRID * GRID, CELL * CELL * 3))


def _nearest(x: np.ndarray, codes: np.ndarray, chunk: int = 4096) -> np.ndarray:
    c2 = (codes**2).sum(1)
    out = np.empty(len(x), dtype=np.int64)
    for s in range(0, len(x), chunk):
        xs = x[s : s + chunk]
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is constant per row.
        out[s : s + chunk] = np.argmin(c2[None, :] - 2.0 * xs @ codes.T, axis=1)
    return out


def _kmeans(x: np.ndarray, weights: np.ndarray, k: int, seed: int, iters: int = 15) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # The most frequent patches (blank cells, common icons) seed the centres, the rest at random.
    order = np.argsort(-weights, kind="stable")
    n_top = k // 2
    rest = rng.choice(order[n_top:], size=k - n_top, replace=False)
    centres: np.ndarray = x[np.concatenate([order[:n_top], rest])].copy()
    for _ in range(iters):
        assign = _nearest(x, centres)
        sums = np.zeros_like(centres)
        np.add.at(sums, assign, x * weights[:, None])
        tot = np.bincount(assign, weights=weights, minlength=k)
        keep = tot > 0
        centres[keep] = sums[keep] / tot[keep, None]
    return centres
