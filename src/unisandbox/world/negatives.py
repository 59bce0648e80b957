"""Images a judge must reject: blank, noise, mixed types, and distorted scenes or portraits.

Each generator is a function of a numpy Generator and returns a (48, 48, 3) uint8 array. Distortions are
strong enough that no reading is right: an image that still shows a clean countable scene is not a
negative, so none of these leaves one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from unisandbox.world import render, vocab

Rng = np.random.Generator
NAMES = tuple(n.singular for n in vocab.ALL_NOUNS)
PEOPLE_ATTRS = (vocab.GENDERS, vocab.AGE_GROUPS, vocab.HAIR_COLOURS, vocab.SKIN_TONES)


def _pick(rng: Rng, seq: tuple[str, ...]) -> str:
    return seq[int(rng.integers(len(seq)))]


def _scene(rng: Rng) -> np.ndarray:
    return render.render_scene(_pick(rng, NAMES), int(rng.integers(1, 10)), rng)


def _portrait(rng: Rng) -> np.ndarray:
    gender, age, hair, skin = (_pick(rng, a) for a in PEOPLE_ATTRS)
    return render.render_portrait(gender, age, hair, skin, rng)


def _scene_or_portrait(rng: Rng) -> np.ndarray:
    return _portrait(rng) if rng.random() < 0.3 else _scene(rng)


def blank(rng: Rng) -> np.ndarray:
    """Background only."""
    return render.blank()


def uniform_noise(rng: Rng) -> np.ndarray:
    """Every pixel random."""
    return rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)


def speckle(rng: Rng) -> np.ndarray:
    """Background sprinkled with random-coloured pixels (5-30% of them)."""
    img = render.blank()
    mask = rng.random((48, 48)) < rng.uniform(0.05, 0.3)
    img[mask] = rng.integers(0, 256, size=(int(mask.sum()), 3), dtype=np.uint8)
    return img


def mixed(rng: Rng) -> np.ndarray:
    """Two or three different icon types, 2..9 icons in all, each type at least once."""
    k = int(rng.integers(2, 4))
    names = [NAMES[i] for i in rng.choice(len(NAMES), size=k, replace=False)]
    total = int(rng.integers(k, 10))
    counts = np.ones(k, int) + rng.multinomial(total - k, np.ones(k) / k)
    return render.render_mixed(list(zip(names, counts.tolist(), strict=True)), rng)


def blurred(rng: Rng) -> np.ndarray:
    """A scene or portrait under a strong Gaussian blur."""
    img = Image.fromarray(_scene_or_portrait(rng))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(float(rng.uniform(1.2, 2.5))))).copy()


def pixel_noise(rng: Rng) -> np.ndarray:
    """A scene or portrait with strong per-pixel Gaussian noise (sigma 40-80)."""
    img = _scene_or_portrait(rng).astype(np.float32)
    img += rng.normal(0, rng.uniform(40, 80), size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def shuffled_blocks(rng: Rng) -> np.ndarray:
    """A portrait cut into 8x8 blocks that are shuffled."""
    img = _portrait(rng)
    blocks = [img[y : y + 8, x : x + 8] for y in range(0, 48, 8) for x in range(0, 48, 8)]
    order = rng.permutation(len(blocks))
    out = np.empty_like(img)
    for k, j in enumerate(order):
        y, x = divmod(k, 6)
        out[y * 8 : (y + 1) * 8, x * 8 : (x + 1) * 8] = blocks[j]
    return out


def colour_swap(rng: Rng) -> np.ndarray:
    """A scene or portrait with its colour channels permuted so that red moves to blue's place or beyond.

    Swapping only green and blue, or only red and green, is left out: each keeps the background and some
    icons (a flag, a sock, an egg) nearly as they were, so the image would still be a readable scene.
    """
    perms = [(1, 2, 0), (2, 0, 1), (2, 1, 0)]
    return _scene_or_portrait(rng)[:, :, list(perms[int(rng.integers(len(perms)))])].copy()


def smeared(rng: Rng) -> np.ndarray:
    """A scene whose icons are smeared into streaks (motion blur over 5-9 pixels, horizontal or vertical)."""
    img = _scene(rng).astype(np.float32)
    k = int(rng.integers(5, 10))
    axis = int(rng.integers(2))
    acc = np.zeros_like(img)
    for s in range(k):
        acc += np.roll(img, s, axis=axis)
    return (acc / k).astype(np.uint8)


NEGATIVES: dict[str, Callable[[Rng], np.ndarray]] = {
    "blank": blank,
    "uniform_noise": uniform_noise,
    "speckle": speckle,
    "mixed": mixed,
    "blurred": blurred,
    "pixel_noise": pixel_noise,
    "shuffled_blocks": shuffled_blocks,
    "colour_swap": colour_swap,
    "smeared": smeared,
}
"""Kind -> generator. `mixed` is weighted more in calibration: it is the hardest and most common."""
