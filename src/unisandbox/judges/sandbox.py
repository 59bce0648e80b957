"""The sandbox judge: reads only an image's pixels and captions it in the grammar of `judges.match`.

Analytic, no weights. Pipeline for one image:

1. The background is the plain light colour of the sandbox world; an image whose border is not mostly
   that colour is rejected (noise, photographs, inverted or shifted colours).
2. Foreground pixels form connected blobs (8-connectivity). Stray specks of at most 2 pixels are ignored
   when there are at most 3 of them; more is noise and is rejected.
3. A wide blob of shirt colour on the bottom edge makes the image a portrait: each pixel is classified
   against the portrait palette and the attributes are read from region statistics (majority skin and
   hair colour, long hair and bow for gender, face width and glasses for age). Any cue that contradicts
   another, or falls between the bands the renderer produces, gives `Error`.
4. Otherwise every blob is an icon: classified by nearest prototype over shape and colour features,
   then verified pixel by pixel against templates of that class (see `judges.sandbox_icons`). A blob
   that is ambiguous between two classes or fails verification is rejected. All blobs must name the
   same icon, else `Error` (mixed types).

Images that are not 48x48 are resized (box filter) to 48x48 first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from unisandbox.judges.base import Caption
from unisandbox.judges.match import ERROR, count_caption, person_caption, single_caption
from unisandbox.judges.sandbox_icons import match_blob, prototype_hash
from unisandbox.world import render, vocab
from unisandbox.world.blobs import label

JUDGE_VERSION = 1
"""Bumps whenever a change could alter any caption."""

FG_THRESHOLD = 18
"""A pixel is foreground when some channel differs from the background by more than this."""
BORDER_BG_MIN = 0.5
"""At least this fraction of border pixels must be background."""
SPECK_MAX_AREA = 2
"""Blobs this small are specks, ignored when there are at most MAX_SPECKS of them."""
MAX_SPECKS = 3

UNEXPLAINED_DIST = 40.0
"""A portrait pixel farther than this from every portrait colour is unexplained."""
ICON_MIN_RATIO = 1.1
"""Reject a blob unless its feature distance to the best other class is this many times the best."""
ICON_MAX_SHAPE_ERROR = 0.05
"""Reject a blob when more than this fraction of pixels has no template counterpart within 1 px."""
ICON_MAX_COLOUR_ERROR = 12.0
"""Reject a blob whose colours differ from the template's by more than this (RGB units, after the shift)."""

# Portrait bands. The renderer draws adult faces 20.5-23 px wide and kid faces 14.7-16.6 px wide.
KID_FACE_MAX = 17.5
ADULT_FACE_MIN = 19.5
PORTRAIT_MAX_UNEXPLAINED = 0.05
PORTRAIT_DOMINANT = 0.85
"""The winning skin tone (hair colour) must hold this fraction of skin (hair) pixels."""
GLASSES_OLD_MIN, GLASSES_NONE_MAX = 12, 3
BOW_MIN, BOW_NONE_MAX = 6, 1
LONG_HAIR_MIN, SHORT_HAIR_MAX = 0.2, 0.08
"""Fraction of hair pixels well below the eyes: long hair (female) vs short hair (male)."""
PART_MIN_SHARE = 0.9
"""Skin, hair and shirt must each be one piece holding at least this share of their pixels."""
SHIRT_EDGE_MIN = 14
"""Shirt-coloured pixels on the bottom row that make an image a portrait."""


class Reject(Exception):
    """The image cannot be read; the caption is `Error` and the message says why."""


@dataclass(frozen=True)
class Reading:
    """A caption with the reason for a rejection (for calibration reports and debugging)."""

    text: str
    """The caption."""
    reason: str | None = None
    """Why the image was rejected (None if it was read)."""


# --- colour palettes ----------------------------------------------------------------------------------


@cache
def _portrait_palette() -> tuple[tuple[str, ...], np.ndarray]:
    names = list(render.PORTRAIT_COLOURS)
    cols = [np.array(v, np.float32) for v in render.PORTRAIT_COLOURS.values()]
    for tone, rgb in render.SKIN.items():
        names.append(f"lines:{tone}")
        cols.append(np.array([int(v * 0.78) for v in rgb], np.float32))
    return tuple(names), np.stack(cols)


# --- reading one image -------------------------------------------------------------------------------


def _normalise(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise Reject(f"not an RGB image (shape {arr.shape})")
    arr = arr[:, :, :3].astype(np.uint8, copy=False)
    if arr.shape[:2] != (render.IMAGE_SIZE, render.IMAGE_SIZE):
        from PIL import Image

        img = Image.fromarray(np.ascontiguousarray(arr), "RGB")
        arr = np.asarray(img.resize((render.IMAGE_SIZE, render.IMAGE_SIZE), Image.Resampling.BOX))
    return arr


def _foreground(arr: np.ndarray) -> np.ndarray:
    bg = np.array(render.BACKGROUND, np.int16)
    fg: np.ndarray = (np.abs(arr.astype(np.int16) - bg) > FG_THRESHOLD).any(axis=2)
    border = np.concatenate([fg[0], fg[-1], fg[1:-1, 0], fg[1:-1, -1]])
    if 1.0 - border.mean() < BORDER_BG_MIN:
        raise Reject("border is not the sandbox background")
    return fg


def read_image(arr: np.ndarray) -> Reading:
    """Caption one RGB array; a rejection is `Reading("Error", reason)`."""
    try:
        return Reading(_read(_normalise(arr)))
    except Reject as e:
        return Reading(ERROR, str(e))


def _read(arr: np.ndarray) -> str:
    fg = _foreground(arr)
    labels, n = label(fg)
    if n == 0:
        raise Reject("blank image")
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    specks = areas <= SPECK_MAX_AREA
    if specks.sum() > MAX_SPECKS:
        raise Reject(f"{int(specks.sum())} specks: noise")
    keep = [k + 1 for k in range(n) if not specks[k]]
    if not keep:
        raise Reject("only specks")
    if _looks_like_portrait(arr, fg):
        return _read_portrait(arr, fg)
    names = []
    for k in keep:
        ys, xs = np.nonzero(labels == k)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        m = match_blob(
            arr[y0:y1, x0:x1], labels[y0:y1, x0:x1] == k, (ICON_MAX_SHAPE_ERROR, ICON_MAX_COLOUR_ERROR)
        )
        if m.ratio < ICON_MIN_RATIO:
            raise Reject(f"ambiguous blob ({m.name}, ratio {m.ratio:.2f}) at ({y0},{x0})")
        if m.shape_error > ICON_MAX_SHAPE_ERROR or m.colour_error > ICON_MAX_COLOUR_ERROR:
            raise Reject(
                f"unverified blob ({m.name}: shape {m.shape_error:.2f}, colour "
                f"{m.colour_error:.1f}) at ({y0},{x0})"
            )
        names.append(m.name)
    if len(set(names)) > 1:
        raise Reject(f"mixed types: {sorted(set(names))}")
    return single_caption(names[0]) if len(names) == 1 else count_caption(len(names), names[0])


def _looks_like_portrait(arr: np.ndarray, fg: np.ndarray) -> bool:
    shirt = np.array(render.SHIRT, np.float32)
    bottom = arr[-1].astype(np.float32)
    near = np.sqrt(((bottom - shirt) ** 2).sum(1)) < 30
    return int((near & fg[-1]).sum()) >= SHIRT_EDGE_MIN


def _band(value: float, lo_max: float, hi_min: float, what: str) -> bool:
    """True if value >= hi_min, False if <= lo_max, Reject in between."""
    if value >= hi_min:
        return True
    if value <= lo_max:
        return False
    raise Reject(f"{what} is ambiguous ({value:.2f})")


def _read_portrait(arr: np.ndarray, fg: np.ndarray) -> str:
    names, pal = _portrait_palette()
    ys, xs = np.nonzero(fg)
    pix = arr[ys, xs].astype(np.float32)
    d2 = ((pix[:, None, :] - pal[None, :, :]) ** 2).sum(-1)
    cls = d2.argmin(1)
    unexplained = float((d2.min(1) > UNEXPLAINED_DIST**2).mean())
    if unexplained > PORTRAIT_MAX_UNEXPLAINED:
        raise Reject(f"portrait colours unexplained ({unexplained:.2f} of pixels)")
    role = np.array([n.split(":")[0] for n in names])[cls]
    value = np.array([n.split(":")[-1] for n in names])[cls]

    _check_layout(arr.shape[:2], ys, xs, role)
    skin = _dominant(value[role == "skin"], vocab.SKIN_TONES, 80, "skin")
    hair = _dominant(value[role == "hair"], vocab.HAIR_COLOURS, 25, "hair")
    eyes = role == "eyes"
    if eyes.sum() < 2:
        raise Reject("no eyes")
    eye_y = float(ys[eyes].mean())
    skin_rows = np.bincount(ys[role == "skin"], minlength=arr.shape[0])
    face_w = float(skin_rows.max())
    kid = not _band(face_w, KID_FACE_MAX, ADULT_FACE_MIN, "face width")
    old = _band(int((role == "glasses").sum()), GLASSES_NONE_MAX, GLASSES_OLD_MIN, "glasses")
    if kid and old:
        raise Reject("glasses on a kid-sized face")
    age = "kid" if kid else "old" if old else "mid-age"
    scale = face_w / 22.0
    hair_y = ys[role == "hair"]
    long_frac = float((hair_y > eye_y + 6 * scale).mean())
    long_hair = _band(long_frac, SHORT_HAIR_MAX, LONG_HAIR_MIN, "hair length")
    bow = _band(int((role == "bow").sum()), BOW_NONE_MAX, BOW_MIN, "bow")
    if long_hair != bow:
        raise Reject("gender cues disagree (hair length vs bow)")
    return person_caption(skin, hair, age, "female" if bow else "male")


def _main_share(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray) -> tuple[float, np.ndarray]:
    """Share of the pixels in the largest 8-connected part, and that part's mask."""
    m = np.zeros(shape, bool)
    m[ys, xs] = True
    lab, n = label(m)
    if n == 0:
        return 0.0, m
    sizes = np.bincount(lab.ravel())[1:]
    k = int(sizes.argmax()) + 1
    return float(sizes[k - 1] / len(ys)), lab == k


def _check_layout(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, role: np.ndarray) -> None:
    """Spatial sanity of a portrait: one face, one head of hair, two level eyes, shirt below the eyes."""
    for what, min_share in (("skin", PART_MIN_SHARE), ("hair", PART_MIN_SHARE), ("shirt", PART_MIN_SHARE)):
        sel = role == what
        share, _ = _main_share(shape, ys[sel], xs[sel])
        if share < min_share:
            raise Reject(f"{what} is broken into pieces (largest part {share:.2f})")
    sel = role == "eyes"
    lab_shape = np.zeros(shape, bool)
    lab_shape[ys[sel], xs[sel]] = True
    lab, n = label(lab_shape)
    if n != 2:
        raise Reject(f"{n} eyes")
    (y1, x1), (y2, x2) = (np.argwhere(lab == k).mean(0) for k in (1, 2))
    if abs(y1 - y2) > 1.5 or not 5.0 <= abs(x1 - x2) <= 14.0:
        raise Reject("eyes out of place")
    eye_y = (y1 + y2) / 2
    if ys[role == "hair"].min() >= eye_y or ys[role == "shirt"].min() <= eye_y:
        raise Reject("hair or shirt out of place")
    skin_y = ys[role == "skin"]
    if not skin_y.min() < eye_y < skin_y.max():
        raise Reject("eyes outside the face")


def _dominant(values: np.ndarray, classes: Sequence[str], min_count: int, what: str) -> str:
    if len(values) < min_count:
        raise Reject(f"too little {what} ({len(values)} pixels)")
    counts = np.array([(values == c).sum() for c in classes])
    k = int(counts.argmax())
    if counts[k] < PORTRAIT_DOMINANT * len(values):
        raise Reject(f"{what} colour is ambiguous ({dict(zip(classes, counts.tolist(), strict=True))})")
    return classes[k]


# --- the Judge --------------------------------------------------------------------------------------


class SandboxJudge:
    """Captions sandbox images from pixels alone (no prompt, no answer, no metadata).

    >>> from unisandbox.world.render import render_scene, encode_png
    >>> judge = SandboxJudge()
    >>> judge.caption([encode_png(render_scene("cup", 3, np.random.default_rng(0)))])[0].text
    '3 cups'
    """

    name = "sandbox"

    def caption(self, images: Sequence[bytes]) -> list[Caption]:
        """Caption PNG-encoded images, in order; undecodable bytes give a Caption with `error` set."""
        out = []
        for data in images:
            try:
                arr = render.decode_png(data)
            except Exception as e:  # noqa: BLE001 - any decoder failure is the same judge outcome
                out.append(Caption(None, error=f"cannot decode image: {type(e).__name__}: {e}"))
                continue
            out.append(Caption(self.caption_array(arr)))
        return out

    def caption_array(self, arr: np.ndarray) -> str:
        """Fast path: caption an in-memory (H, W, 3) uint8 RGB array."""
        return read_image(arr).text

    def read_array(self, arr: np.ndarray) -> Reading:
        """Caption plus the reason for a rejection."""
        return read_image(arr)

    def describe(self) -> dict[str, Any]:
        """Identity of this judge for run records."""
        return {
            "name": self.name,
            "kind": "analytic",
            "version": JUDGE_VERSION,
            "prototypes": prototype_hash(),
        }

    @classmethod
    def from_spec(cls, path: str | None, **options: Any) -> SandboxJudge:
        """`sandbox` takes no path and no options (it has no weights)."""
        if path:
            raise ValueError(f"the sandbox judge takes no path, got {path!r}")
        if options:
            raise ValueError(f"the sandbox judge takes no options, got {sorted(options)}")
        return cls()
