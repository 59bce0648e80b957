"""Helpers shared by the generators: seeded random streams, the train/test pool split, small choices.

Every random choice of a generator flows from `rng_for(seed, ...)`; the train/test assignment of an item
depends only on its content key (never on the seed), so train data made with one seed can never contain a
test key made with another.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")

# Fixed salt: changing it reshuffles which content lands in train vs test, so it is part of the data format.
_SPLIT_SALT = b"unisandbox-split-v1"


def rng_for(seed: int, *parts: str | int) -> np.random.Generator:
    """An independent numpy Generator for (seed, parts), e.g. `rng_for(7, "math", 2, "test")`.

    Streams for different parts never depend on each other, so generating level 2 does not change level 1.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    words = [seed] + [p if isinstance(p, int) else zlib.crc32(p.encode("utf-8")) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(words))


def pick(rng: np.random.Generator, seq: Sequence[T]) -> T:
    """One element of `seq`, uniformly."""
    return seq[int(rng.random() * len(seq))]


def shuffled(rng: np.random.Generator, seq: Sequence[T]) -> list[T]:
    """A new list with the elements of `seq` in a random order."""
    order = rng.permutation(len(seq))
    return [seq[int(i)] for i in order]


def split_of(key: str, test_fraction: float) -> str:
    """Deterministic pool of a content key: "test" for about `test_fraction` of keys, else "train".

    >>> split_of("math|12 / 3|cup", 0.3) == split_of("math|12 / 3|cup", 0.3)
    True
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, key=_SPLIT_SALT).digest()
    return "test" if int.from_bytes(digest, "big") / 2**64 < test_fraction else "train"


def balanced_targets(rng: np.random.Generator, values: Sequence[T], n: int) -> list[T]:
    """`n` values cycling through `values` (each count within 1 of n/len), in a random order."""
    cycle = [values[i % len(values)] for i in range(n)]
    return shuffled(rng, cycle)


def capitalize_first(text: str) -> str:
    """Upper-case the first character only (keeps symbols such as '#' and case elsewhere)."""
    return text[:1].upper() + text[1:]


class ExhaustedError(ValueError):
    """The requested number of distinct items does not exist in the allowed pool."""
