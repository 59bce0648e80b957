"""Procedural renderer of the sandbox world: counted scenes, mixed scenes, portraits, single fruits/flowers.

Images are 48x48 RGB on a plain light background, seen as a 3x3 grid of 16x16 cells.

Three styles:
- ``"grid"``: icons sit in distinct random cells at canonical size and colour with at most 1 px of
  position jitter, never crossing a cell border; portraits and singles are canonical. The set of distinct
  16x16 cell patches stays small (a few hundred) so a patch codebook can code each cell as one token.
- ``"tally"``: what the sandbox model trains on. As grid, but a scene's icons fill the first cells in
  reading order, like tally marks: a model that draws cell by cell then decides "icon or blank" from the
  count and the cell's index alone, instead of counting the icons it has placed so far.
- ``"free"``: what judge calibration uses. Random non-overlapping positions anywhere, seeded jitter of
  size, colour and position, so the judge is tested beyond the grid.

All randomness comes from the `rng` argument (a numpy Generator); the same seed gives the same image.

>>> import numpy as np
>>> img = render_scene("apple", 3, np.random.default_rng(0), style="grid")
>>> img.shape, img.dtype
((48, 48, 3), dtype('uint8'))
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, SupportsInt

import numpy as np
from PIL import Image

from unisandbox.world import vocab
from unisandbox.world.icons import DRAWERS, UNIT, Pen

if TYPE_CHECKING:
    from unisandbox.tasks.base import Answer

IMAGE_SIZE = 48
GRID = 3
CELL = 16
STYLES = ("free", "grid", "tally")

BACKGROUND: tuple[int, int, int] = (210, 218, 230)
"""Plain light background of every image."""

GAP = 2
"""Minimum number of background pixels between two icons in free style (so blobs never merge)."""

FREE_SCALE = (0.8, 1.2)
"""Icon size jitter in free style, as a factor of the 12 px unit box (shrunk only if a scene cannot fit)."""
SINGLE_SCALE = (1.4, 2.3)
"""Size of a lone fruit or flower picture in free style."""
COLOUR_JITTER = 10
"""Free style: each icon's colours are shifted per channel by an integer in [-J, J]."""

SKIN: dict[str, tuple[int, int, int]] = {
    "light": (250, 220, 190),
    "medium": (205, 150, 100),
    "dark": (92, 58, 50),
}
"""Face colour per skin tone (keys = vocab.SKIN_TONES)."""
HAIR: dict[str, tuple[int, int, int]] = {
    "black": (25, 22, 22),
    "blonde": (245, 215, 90),
    "brown": (155, 90, 20),
    "red": (210, 50, 25),
}
"""Hair colour per hair class (keys = vocab.HAIR_COLOURS)."""
SHIRT = (70, 110, 200)
EYES = (35, 35, 95)
MOUTH = (120, 30, 45)
BOW = (255, 105, 180)
GLASSES = (120, 120, 130)
PORTRAIT_COLOURS: dict[str, tuple[int, int, int]] = {
    "background": BACKGROUND,
    "shirt": SHIRT,
    "eyes": EYES,
    "mouth": MOUTH,
    "bow": BOW,
    "glasses": GLASSES,
    **{f"skin:{k}": v for k, v in SKIN.items()},
    **{f"hair:{k}": v for k, v in HAIR.items()},
}
"""Every colour a portrait uses, by role (the sandbox judge classifies portrait pixels against these)."""

assert set(DRAWERS) == {n.singular for n in vocab.ALL_NOUNS}, "every vocabulary entry needs an icon"
assert set(SKIN) == set(vocab.SKIN_TONES) and set(HAIR) == set(vocab.HAIR_COLOURS)

Rng = np.random.Generator


def _rgb(values: Iterable[SupportsInt]) -> tuple[int, int, int]:
    """Three channel values as a triple of ints (raises if there are not exactly three)."""
    r, g, b = (int(v) for v in values)
    return r, g, b


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")


def _check_name(name: str) -> None:
    if name not in DRAWERS:
        raise ValueError(f"unknown icon {name!r}; known: {', '.join(sorted(DRAWERS))}")


def icon_rgba(name: str, scale: float = 1.0, shift: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Draw one icon as an (h, w, 4) uint8 array cropped to its pixels; alpha 255 marks the icon.

    >>> icon_rgba("star").shape[2]
    4
    """
    _check_name(name)
    side = int(np.ceil(UNIT * scale)) + 2
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    DRAWERS[name](Pen(img, scale, 0.0, 0.0, shift))
    arr = np.asarray(img)
    ys, xs = np.nonzero(arr[:, :, 3])
    return np.ascontiguousarray(arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


@cache
def canonical_icon(name: str) -> np.ndarray:
    """The grid-style icon: scale 1, canonical colours, in its full 12x12 unit box (read-only)."""
    _check_name(name)
    img = Image.new("RGBA", (UNIT, UNIT), (0, 0, 0, 0))
    DRAWERS[name](Pen(img, 1.0))
    arr = np.asarray(img).copy()
    arr.setflags(write=False)
    return arr


def blank() -> np.ndarray:
    """An empty (48, 48, 3) image of background colour."""
    out = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    out[:] = BACKGROUND
    return out


def _paste(canvas: np.ndarray, icon: np.ndarray, y: int, x: int) -> None:
    h, w = icon.shape[:2]
    region = canvas[y : y + h, x : x + w]
    mask = icon[:, :, 3] > 0
    region[mask] = icon[:, :, :3][mask]


def _grid_layout(names: Sequence[str], rng: Rng, ordered: bool = False) -> np.ndarray:
    if len(names) > GRID * GRID:
        raise ValueError(f"at most {GRID * GRID} icons fit the grid, got {len(names)}")
    canvas = blank()
    cells = np.arange(len(names)) if ordered else rng.permutation(GRID * GRID)[: len(names)]
    offset = (CELL - UNIT) // 2
    for name, cell in zip(names, cells, strict=True):
        dy, dx = rng.integers(-1, 2, size=2)
        r, c = divmod(int(cell), GRID)
        _paste(canvas, canonical_icon(name), r * CELL + offset + int(dy), c * CELL + offset + int(dx))
    return canvas


def _free_positions(sizes: Sequence[tuple[int, int]], rng: Rng) -> list[tuple[int, int]] | None:
    # Random sequential placement, exact: each icon picks uniformly among all top-left corners where it
    # keeps GAP pixels from every icon already placed. Returns None when some icon finds no room.
    occupied = np.zeros((IMAGE_SIZE, IMAGE_SIZE), bool)
    out = []
    for h, w in sizes:
        integral = np.zeros((IMAGE_SIZE + 1, IMAGE_SIZE + 1), np.int32)
        integral[1:, 1:] = occupied.cumsum(0).cumsum(1)
        hits = integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]
        ys, xs = np.nonzero(hits == 0)
        if len(ys) == 0:
            return None
        k = int(rng.integers(len(ys)))
        y, x = int(ys[k]), int(xs[k])
        out.append((y, x))
        occupied[max(0, y - GAP) : y + h + GAP, max(0, x - GAP) : x + w + GAP] = True
    return out


def _free_layout(names: Sequence[str], rng: Rng, scale_range: tuple[float, float] = FREE_SCALE) -> np.ndarray:
    lo, hi = scale_range
    for _ in range(40):
        icons = [
            icon_rgba(
                n, float(rng.uniform(lo, hi)), _rgb(rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3))
            )
            for n in names
        ]
        for _ in range(8):
            pos = _free_positions([ic.shape[:2] for ic in icons], rng)
            if pos is not None:
                canvas = blank()
                for ic, (y, x) in zip(icons, pos, strict=True):
                    _paste(canvas, ic, y, x)
                return canvas
        # Crowded scene: shrink the size range a little and redraw.
        lo, hi = max(0.55, lo * 0.95), max(0.6, hi * 0.93)
    raise RuntimeError(f"could not place {len(names)} icons without overlap")


def _layout(names: Sequence[str], rng: Rng, style: str) -> np.ndarray:
    _check_style(style)
    for n in names:
        _check_name(n)
    if not 1 <= len(names) <= GRID * GRID:
        raise ValueError(f"a scene holds 1..{GRID * GRID} icons, got {len(names)}")
    if style == "free":
        return _free_layout(names, rng)
    return _grid_layout(names, rng, ordered=style == "tally")


def render_scene(obj: str, count: int, rng: Rng, style: str = "free") -> np.ndarray:
    """`count` (1..9) icons of one type: `render_scene("cup", 3, rng)` shows three cups."""
    return _layout([obj] * count, rng, style)


def render_mixed(parts: Sequence[tuple[str, int]], rng: Rng, style: str = "free") -> np.ndarray:
    """Icons of several types in one image (a negative: the judge must reject it).

    >>> img = render_mixed([("apple", 2), ("cup", 1)], np.random.default_rng(0))
    """
    names = [n for n, c in parts for _ in range(c)]
    order = rng.permutation(len(names))
    return _layout([names[i] for i in order], rng, style)


def render_single(name: str, rng: Rng, style: str = "free") -> np.ndarray:
    """One fruit or flower: in grid/tally style the canonical icon in the centre cell, else a larger icon."""
    _check_style(style)
    _check_name(name)
    if style != "free":
        canvas = blank()
        dy, dx = rng.integers(-1, 2, size=2)
        offset = CELL + (CELL - UNIT) // 2
        _paste(canvas, canonical_icon(name), offset + int(dy), offset + int(dx))
        return canvas
    shift = _rgb(rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3))
    icon = icon_rgba(name, float(rng.uniform(*SINGLE_SCALE)), shift)
    h, w = icon.shape[:2]
    canvas = blank()
    _paste(canvas, icon, int(rng.integers(0, IMAGE_SIZE - h + 1)), int(rng.integers(0, IMAGE_SIZE - w + 1)))
    return canvas


# --- portraits --------------------------------------------------------------------------------------


def _portrait_colour(rgb: tuple[int, int, int], rng: Rng | None) -> tuple[int, int, int]:
    if rng is None:
        return rgb
    d = rng.integers(-8, 9, size=3)
    return _rgb(np.clip(v + dv, 0, 255) for v, dv in zip(rgb, d, strict=True))


def _check_person(gender: str, age: str, hair: str, skin: str) -> None:
    for value, allowed, what in (
        (gender, vocab.GENDERS, "gender"),
        (age, vocab.AGE_GROUPS, "age"),
        (hair, vocab.HAIR_COLOURS, "hair"),
        (skin, vocab.SKIN_TONES, "skin"),
    ):
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; expected one of {allowed}")


def render_portrait(gender: str, age: str, hair: str, skin: str, rng: Rng, style: str = "free") -> np.ndarray:
    """A head-and-shoulders portrait whose attributes a judge can read from pixels.

    Skin tone is the face colour; hair colour the hair; gender is long hair and a pink bow (female) or
    short hair (male); age is a small face low in the frame (kid), plain (mid-age), or grey glasses and
    cheek lines (old). Grid style is canonical per attribute combination.
    """
    _check_style(style)
    _check_person(gender, age, hair, skin)
    free = style == "free"
    jit = rng if free else None
    s = 0.72 if age == "kid" else 1.0
    ox, oy = (24 - 24 * s, 48 - 48 * s) if age == "kid" else (0.0, 0.0)
    if free:
        f = float(rng.uniform(0.93, 1.05))
        ox, oy, s = ox + 24 * (1 - f) + float(rng.uniform(-2, 2)), oy + float(rng.uniform(-2, 2)), s * f
    c_skin, c_hair = _portrait_colour(SKIN[skin], jit), _portrait_colour(HAIR[hair], jit)
    c_shirt, c_eyes = _portrait_colour(SHIRT, jit), _portrait_colour(EYES, jit)
    img = Image.new("RGBA", (IMAGE_SIZE, IMAGE_SIZE), (*BACKGROUND, 255))
    p = Pen(img, s, ox, oy)
    if gender == "female":
        p.ellipse((10, 5, 38, 30), c_hair)
        p.rect((10, 17, 38, 44), c_hair)
    else:
        p.ellipse((12, 6, 36, 28), c_hair)
    p.ellipse((6, 36, 42, 64), c_shirt)
    p.rect((20, 28, 28, 38), c_skin)
    p.ellipse((13, 10, 35, 33), c_skin)
    p.chord((13, 8.5, 35, 26), 180, 360, c_hair)
    p.rect((18, 19, 20, 21), c_eyes)
    p.rect((28, 19, 30, 21), c_eyes)
    p.line([(21, 27.5), (27, 27.5)], _portrait_colour(MOUTH, jit), 1)
    if gender == "female":
        bow = _portrait_colour(BOW, jit)
        p.poly([(33, 8), (29, 4.5), (29, 11.5)], bow)
        p.poly([(33, 8), (37, 4.5), (37, 11.5)], bow)
    if age == "old":
        glasses = _portrait_colour(GLASSES, jit)
        p.ring((15.5, 16.5, 22.5, 23.5), glasses, 1)
        p.ring((25.5, 16.5, 32.5, 23.5), glasses, 1)
        p.line([(22, 19.5), (26, 19.5)], glasses, 1)
        lines = _rgb(v * 0.78 for v in c_skin)
        p.line([(15.5, 25), (17.5, 27)], lines, 1)
        p.line([(32.5, 25), (30.5, 27)], lines, 1)
    return np.asarray(img)[:, :, :3].copy()


def render_answer(expected: Answer, rng: Rng, style: str = "free") -> np.ndarray:
    """Draw a correct image for an expected answer.

    CountAnswer: exactly `count` icons; ObjectAnswer: 1..4 icons (count drawn from `rng`);
    PersonAnswer: the portrait; FruitAnswer / FlowerAnswer: the single fruit or flower.
    """
    kind = expected.kind
    if expected.kind == "count":
        return render_scene(expected.object, expected.count, rng, style)
    if expected.kind == "object":
        return render_scene(expected.object, int(rng.integers(1, 5)), rng, style)
    if expected.kind == "person":
        e = expected
        return render_portrait(e.gender, e.age, e.hair, e.skin, rng, style)
    if expected.kind == "fruit":
        return render_single(expected.fruit, rng, style)
    if expected.kind == "flower":
        return render_single(expected.flower, rng, style)
    raise ValueError(f"cannot draw an answer of kind {kind!r}")


def encode_png(arr: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB array (no metadata, deterministic)."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {arr.shape} {arr.dtype}")
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from image bytes (any mode PIL reads is converted to RGB)."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")).copy()
