"""Icon recognition for the sandbox judge: classify a blob, then verify it against templates of that class.

1. Classify: a feature vector (shape occupancy on a 10x10 grid of the square-padded box, mean colour on
   a 4x4 grid, soft histogram over the icons' palette) is compared with prototypes of every icon
   rendered at 25 scales; the nearest class wins, and the best other class must be clearly farther.
2. Verify: the blob is compared pixel by pixel with templates of the winning class (rendered at 101
   scales) whose box is within 1 px of the blob's, at every alignment. The shape error counts pixels of
   either that have no counterpart within 1 px in the other (rasterisation moves edges by one pixel);
   the colour error is what remains after removing a uniform colour shift, comparing each pixel with
   the closest template colour within 1 px. A half icon, two icons fused, a smeared or blurred icon
   fail here even when their features point to a class.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from unisandbox.world import render, vocab

SHAPE_SIDE = 10
LAYOUT_SIDE = 4
HIST_SIGMA = 14.0
"""Width (RGB units) of the soft assignment of a pixel to a palette colour; the jitter is +-10 a channel."""
PROTO_SCALES = tuple(float(s) for s in np.geomspace(0.5, 2.5, 25))
"""Scales of the feature prototypes."""
BANK_SCALES = tuple(float(v) for v in np.round(np.arange(0.5, 2.5001, 0.02), 2))
"""Scales of the verification templates (covers the free style's 0.55-2.3 and the grid's 1.0)."""
DIRECT_COLOUR_OK = 4.0
"""A direct (aligned) colour error this small needs no 1-px-tolerant search."""
MAX_COLOUR_SHIFT = 16.0
"""Largest uniform colour shift (per channel) from a template; the renderer jitters by at most 10."""


@dataclass(frozen=True)
class Match:
    """How one blob reads."""

    name: str
    """Nearest class."""
    ratio: float
    """Feature distance to the best other class / to the nearest class (>= 1; larger is clearer)."""
    shape_error: float
    """Verification: fraction of pixels without a counterpart within 1 px (0 = perfect)."""
    colour_error: float
    """Verification: mean RGB distance left after removing the colour shift (0 = perfect)."""


# --- features and prototypes ----------------------------------------------------------------------


@cache
def _palette() -> np.ndarray:
    colours: list[np.ndarray] = []
    for n in vocab.ALL_NOUNS:
        icon = render.canonical_icon(n.singular)
        colours.extend(np.unique(icon[icon[:, :, 3] > 0][:, :3], axis=0).astype(np.float32))
    # Merge near-duplicates (the many reds) so that jitter never splits one colour across two bins.
    merged: list[np.ndarray] = []
    for c in sorted(colours, key=lambda v: tuple(v)):
        if all(np.linalg.norm(c - m) > 24 for m in merged):
            merged.append(c)
    return np.stack(merged)


@cache
def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    # Row i averages the input interval [i*n_in/n_out, (i+1)*n_in/n_out), with fractional overlaps.
    m = np.zeros((n_out, n_in), np.float32)
    step = n_in / n_out
    for i in range(n_out):
        a, b = i * step, (i + 1) * step
        for j in range(int(np.floor(a)), min(n_in, int(np.ceil(b)))):
            m[i, j] = max(0.0, min(b, j + 1) - max(a, j))
    return m / step


def features(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Feature vector of one blob given its bounding-box crop (colours and mask)."""
    h, w = mask.shape
    side = max(h, w)
    sq_mask = np.zeros((side, side), np.float32)
    sq_rgb = np.zeros((side, side, 3), np.float32)
    y0, x0 = (side - h) // 2, (side - w) // 2
    sq_mask[y0 : y0 + h, x0 : x0 + w] = mask
    sq_rgb[y0 : y0 + h, x0 : x0 + w] = rgb * mask[:, :, None]
    a = _area_matrix(side, SHAPE_SIDE)
    shape = a @ sq_mask @ a.T
    b = _area_matrix(side, LAYOUT_SIDE)
    cover = b @ sq_mask @ b.T
    layout = np.stack([b @ sq_rgb[:, :, k] @ b.T for k in range(3)], axis=-1)
    layout = layout / np.maximum(cover, 1e-3)[:, :, None] / 255.0 * (cover > 0.05)[:, :, None]
    pix = rgb[mask].astype(np.float32)
    pal = _palette()
    d2 = (pix**2).sum(1)[:, None] - 2.0 * (pix @ pal.T) + (pal**2).sum(1)[None, :]
    soft = np.exp(-(d2 - d2.min(1, keepdims=True)) / (2 * HIST_SIGMA**2))
    hist = (soft / soft.sum(1, keepdims=True)).mean(0)
    # Flush tiny weights to zero: float32 subnormals make every later matrix product ~20x slower.
    hist[hist < 1e-6] = 0.0
    return np.concatenate([shape.ravel(), layout.ravel(), 2.0 * hist]).astype(np.float32)


def _crop(icon: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(icon[:, :, 3])
    return icon[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


@dataclass(frozen=True)
class _Prototypes:
    names: tuple[str, ...]
    feats: np.ndarray
    """(P, D) prototype features."""
    labels: np.ndarray
    """(P,) class index into `names`."""
    templates: tuple[dict[tuple[int, int], tuple[np.ndarray, np.ndarray]], ...]
    """Per class: (h, w) -> ((k, h, w) bool masks, (k, h, w, 3) float32 colours)."""


_BUILDING = threading.Lock()


def prototypes() -> _Prototypes:
    """Feature prototypes and verification templates of every icon, built once per process: a judge
    serving many threads (the fake VLM server) would otherwise build them once per thread at start."""
    with _BUILDING:
        return _build_prototypes()


@cache
def _build_prototypes() -> _Prototypes:
    names = tuple(n.singular for n in vocab.ALL_NOUNS)
    feats, labels, templates = [], [], []
    for k, name in enumerate(names):
        for icon in [render.canonical_icon(name)] + [render.icon_rgba(name, s) for s in PROTO_SCALES]:
            crop = _crop(icon)
            feats.append(features(crop[:, :, :3], crop[:, :, 3] > 0))
            labels.append(k)
        groups: dict[tuple[int, int], dict[bytes, np.ndarray]] = {}
        for s in BANK_SCALES:
            icon = render.icon_rgba(name, s)
            groups.setdefault(icon.shape[:2], {}).setdefault(icon.tobytes(), icon)
        table = {}
        for key, icons in groups.items():
            stack = np.stack(list(icons.values()))
            table[key] = (stack[..., 3] > 0, stack[..., :3].astype(np.float32))
        templates.append(table)
    return _Prototypes(names, np.stack(feats), np.array(labels), tuple(templates))


@cache
def _sq_norms_cached(key: int) -> np.ndarray:
    norms: np.ndarray = (prototypes().feats ** 2).sum(1)
    return norms


def _sq_norms(feats: np.ndarray) -> np.ndarray:
    return _sq_norms_cached(id(feats))


def prototype_hash() -> str:
    """Short sha256 of the prototypes and templates (changes when icons or features change)."""
    p = prototypes()
    h = hashlib.sha256(json.dumps(p.names).encode() + p.feats.tobytes())
    for table in p.templates:
        for key in sorted(table):
            h.update(repr(key).encode() + table[key][0].tobytes())
    return h.hexdigest()[:16]


# --- verification ---------------------------------------------------------------------------------

_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _shifted(a: np.ndarray, dy: int, dx: int, fill: float | bool) -> np.ndarray:
    # Shift the last two spatial axes (works for (k,h,w) and (k,h,w,3) when spatial axes are 1 and 2).
    out = np.full_like(a, fill)
    h, w = a.shape[1], a.shape[2]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = a[:, ys, xs]
    return out


def _dilate(m: np.ndarray) -> np.ndarray:
    k, h, w = m.shape
    p = np.zeros((k, h + 2, w + 2), bool)
    p[:, 1:-1, 1:-1] = m
    out = m.copy()
    for dy, dx in _NEIGHBOURS:
        out |= p[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    return out


def _verify_group(bm: np.ndarray, bc: np.ndarray, tm: np.ndarray, tc: np.ndarray) -> tuple[float, float]:
    """Best (shape error, colour error) of one blob (frame-sized) against k templates in the same frame."""
    b = bm[None]
    miss_b = (b & ~_dilate(tm)).sum((1, 2))
    miss_t = (tm & ~_dilate(b)).sum((1, 2))
    both = b & tm
    shape = (miss_b + miss_t) / (b.sum() + tm.sum((1, 2)))
    n_both = np.maximum(both.sum((1, 2)), 1)
    # The colour shift is the median difference, robust to colour edges that moved by a pixel.
    shift = np.full((len(tm), 3), np.inf, np.float32)
    for j in range(len(tm)):
        if n_both[j] > 0 and both[j].any():
            shift[j] = np.median(bc[both[j]] - tc[j][both[j]], axis=0)
    # Direct comparison first: when colour regions line up it is exact and cheap. The renderer clips
    # shifted colours to [0, 255], so the template is shifted and clipped the same way.
    expect = np.clip(tc + shift[:, None, None, :], 0, 255)
    direct = np.sqrt((((bc[None] - expect) * both[..., None]) ** 2).sum(-1))
    direct = (direct * both).sum((1, 2)) / n_both
    direct = np.where(np.abs(shift).max(1) > MAX_COLOUR_SHIFT, np.inf, direct)
    k = int(np.argmin(shape + direct / 100.0))
    if direct[k] <= DIRECT_COLOUR_OK:
        return float(shape[k]), float(direct[k])
    best = np.full(tm.shape, np.inf, np.float32)
    for dy, dx in _NEIGHBOURS:
        m = _shifted(tm, dy, dx, False)
        c = _shifted(tc, dy, dx, 0.0)
        d = np.sqrt(((bc[None] - np.clip(c + shift[:, None, None, :], 0, 255)) ** 2).sum(-1))
        best = np.minimum(best, np.where(m, d, np.inf))
    counted = b & np.isfinite(best)
    colour = np.where(counted, best, 0).sum((1, 2)) / np.maximum(counted.sum((1, 2)), 1)
    colour = np.where(np.abs(shift).max(1) > MAX_COLOUR_SHIFT, np.inf, colour)
    k = int(np.argmin(shape + colour / 100.0))
    return float(shape[k]), float(colour[k])


def _frame(
    mask: np.ndarray, colour: np.ndarray, fh: int, fw: int, oy: int, ox: int
) -> tuple[np.ndarray, np.ndarray]:
    lead = mask.shape[:-2]
    h, w = mask.shape[-2:]
    fm = np.zeros((*lead, fh, fw), bool)
    fc = np.zeros((*lead, fh, fw, 3), np.float32)
    fm[..., 1 + oy : 1 + oy + h, 1 + ox : 1 + ox + w] = mask
    fc[..., 1 + oy : 1 + oy + h, 1 + ox : 1 + ox + w, :] = colour
    return fm, fc


def _alignments(h: int, w: int, table: dict[Any, Any]) -> list[tuple[tuple[int, int], int, int, int, int]]:
    # Exact size first (the common case, tried alone before anything else), then sizes within 1 px.
    out = []
    for th, tw in sorted(
        ((h + a, w + b) for a in (-1, 0, 1) for b in (-1, 0, 1)), key=lambda k: abs(k[0] - h) + abs(k[1] - w)
    ):
        if (th, tw) not in table:
            continue
        fh, fw = max(h, th), max(w, tw)
        for by in range(fh - h + 1):
            for bx in range(fw - w + 1):
                for ty in range(fh - th + 1):
                    for tx in range(fw - tw + 1):
                        out.append(((th, tw), by, bx, ty, tx))
    return out


def verify(
    rgb: np.ndarray, mask: np.ndarray, name: str, good: tuple[float, float] = (0.0, 0.0)
) -> tuple[float, float]:
    """(shape error, colour error) of a blob against the templates of icon `name`; (inf, inf) if none fit.

    Stops at the first alignment whose errors are both within `good`.
    """
    p = prototypes()
    table = p.templates[p.names.index(name)]
    h, w = mask.shape
    colour = rgb.astype(np.float32) * mask[:, :, None]
    best = (np.inf, np.inf)
    for (th, tw), by, bx, ty, tx in _alignments(h, w, table):
        tm, tc = table[(th, tw)]
        fh, fw = max(h, th) + 2, max(w, tw) + 2  # one pixel of margin so shifts never clip
        bm, bc = _frame(mask, colour, fh, fw, by, bx)
        fm, fc = _frame(tm, tc, fh, fw, ty, tx)
        s, c = _verify_group(bm, bc, fm, fc)
        if s + c / 100.0 < best[0] + best[1] / 100.0:
            best = (s, c)
        if s <= good[0] and c <= good[1]:
            break
    return best


def match_blob(rgb: np.ndarray, mask: np.ndarray, good: tuple[float, float] = (0.0, 0.0)) -> Match:
    """Classify one blob (bounding-box crop) and verify it against its class's templates.

    `good`: verification stops at the first template alignment with errors within these bounds.
    Results are memoised by the blob's exact pixels (grid-style images repeat the same blobs).
    """
    m = np.ascontiguousarray(mask, bool)
    c = np.ascontiguousarray(np.where(m[:, :, None], rgb, 0), np.uint8)
    return _match_cached(m.shape, m.tobytes(), c.tobytes(), good)


@lru_cache(maxsize=8192)
def _match_cached(shape: tuple[int, int], mask: bytes, rgb: bytes, good: tuple[float, float]) -> Match:
    m = np.frombuffer(mask, bool).reshape(shape)
    c = np.frombuffer(rgb, np.uint8).reshape(*shape, 3)
    return _match_blob(c, m, good)


def _match_blob(rgb: np.ndarray, mask: np.ndarray, good: tuple[float, float]) -> Match:
    p = prototypes()
    f = features(rgb, mask)
    d = np.sqrt(np.maximum(_sq_norms(p.feats) - 2.0 * (p.feats @ f) + f @ f, 0.0))
    best = d.reshape(len(p.names), -1).min(1)  # prototypes are stored class by class, equal counts
    order = np.argsort(best)
    name = p.names[order[0]]
    ratio = float(best[order[1]] / max(best[order[0]], 1e-9))
    shape, colour = verify(rgb, mask, name, good)
    return Match(name, ratio, shape, colour)
