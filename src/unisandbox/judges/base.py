"""The judge contract: a blind caption of the image, then a comparison in code.

A judge never sees the prompt or the expected answer. `caption` returns one `Caption` per image, in
order; a failed call is a Caption with `error` set, which becomes the verdict `error` (never `wrong`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

Verdict = Literal["correct", "wrong", "error", "missing"]
VERDICTS: tuple[Verdict, ...] = ("correct", "wrong", "error", "missing")


@dataclass(frozen=True)
class Caption:
    """What a judge saw in one image, in the caption grammar (see `judges.match`)."""

    text: str | None
    """The caption, e.g. "3 apples", "Person: dark; red; kid; female", "Fruit: lemon", "Error"."""
    error: str | None = None
    """Why no caption could be had (judge failure after retries)."""
    cached: bool = False
    """True when the caption came from the cache and cost no call."""


@runtime_checkable
class Judge(Protocol):
    """Captions images without knowing what they should show."""

    name: str

    def caption(self, images: Sequence[bytes]) -> list[Caption]:
        """Caption PNG-encoded images, in order."""
        ...

    def describe(self) -> dict[str, Any]:
        """Judge identity for records: model id, prompt hash, sampling settings (no secrets)."""
        ...
