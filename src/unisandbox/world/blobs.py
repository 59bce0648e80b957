"""Connected components of a small boolean mask, in numpy only (no scipy dependency).

Min-label propagation over the 8 neighbours with pointer jumping: each round every pixel takes the
smallest label among itself and its neighbours, then follows its label's own label. Converges in a few
rounds on the 48x48 images of the sandbox.
"""

from __future__ import annotations

import numpy as np

_SHIFTS_8 = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_SHIFTS_4 = ((-1, 0), (0, -1), (0, 1), (1, 0))


def label(mask: np.ndarray, connectivity: int = 8) -> tuple[np.ndarray, int]:
    """Label connected components of `mask`: (labels with 0 = background and 1..n, n).

    Labels are numbered in raster order of each component's first pixel.

    >>> m = np.array([[1, 0, 1], [1, 0, 0]], bool)
    >>> label(m)[1]
    2
    """
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    if not mask.any():
        return np.zeros((h, w), np.int32), 0
    shifts = _SHIFTS_8 if connectivity == 8 else _SHIFTS_4
    big = h * w
    idx = np.arange(big, dtype=np.int64).reshape(h, w)
    lab = np.where(mask, idx, big)
    padded = np.full((h + 2, w + 2), big, np.int64)
    flat_fg = mask.ravel()
    for _ in range(big):
        padded[1:-1, 1:-1] = lab
        new = lab
        for dy, dx in shifts:
            new = np.minimum(new, padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w])
        new = np.where(mask, new, big)
        # Pointer jumping: a pixel's label is a pixel index; adopt that pixel's (smaller) label.
        flat = new.ravel()
        for _ in range(4):
            jumped = np.where(flat_fg, flat[np.minimum(flat, big - 1)], big)
            jumped = np.minimum(jumped, flat)
            if np.array_equal(jumped, flat):
                break
            flat = jumped
        new = flat.reshape(h, w)
        if np.array_equal(new, lab):
            break
        lab = new
    roots, inverse = np.unique(lab[mask], return_inverse=True)
    out = np.zeros((h, w), np.int32)
    out[mask] = inverse.astype(np.int32) + 1
    return out, len(roots)
