"""The contract every model adapter implements: batched, order-preserving, seeded.

A model answers text questions (`understand`) and draws images for items (`generate`) in `normal`
mode (prompt straight to image) or `think` mode (its own reasoning and a rewritten prompt first).
Lists in, lists out, same order. Seeds come from `sample_seed(item id, mode, sample index)`, never from
process order, so sharding or resuming changes no output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL.Image import Image

    from unisandbox.tasks.base import Item

Mode = Literal["normal", "think"]
MODES: tuple[Mode, ...] = ("normal", "think")


def sample_seed(item_id: str, mode: str, sample_index: int, base_seed: int = 0) -> int:
    """A 63-bit seed that depends only on (base seed, item id, mode, sample index).

    >>> sample_seed("math-l1-0001", "think", 0) == sample_seed("math-l1-0001", "think", 0)
    True
    """
    key = f"{base_seed}\x1f{item_id}\x1f{mode}\x1f{sample_index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class Capabilities:
    """What a model can do; the pipeline refuses a mode or stage a model lacks before any work."""

    understands: bool = True
    """Answers text questions (understanding probes)."""
    thinks: bool = True
    """Supports think mode (reasoning, rewritten prompt, then the image)."""
    trainable: bool = False
    """Can be fine-tuned by STARS and knowledge injection."""


@dataclass(frozen=True)
class Understanding:
    """A model's answer to one text question."""

    answer: str
    """The final answer only, as the model stated it."""
    text: str = ""
    """Everything the model wrote, reasoning included."""


@dataclass
class Generation:
    """One generated image and the model's own text."""

    image: Image | None
    """The image, or None when the model produced none (then `error` says why)."""
    text: str = ""
    """The model's text: in think mode its reasoning and rewritten prompt."""
    rewritten_prompt: str | None = None
    """Think mode: the prompt the model wrote for itself before drawing."""
    error: str | None = None
    """Why there is no image, if there is none."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Adapter-specific details worth recording (token counts, timings)."""


class CapabilityError(RuntimeError):
    """A model was asked for a mode or stage it declared it cannot do."""


@runtime_checkable
class UnifiedModel(Protocol):
    """A unified multimodal model as the pipeline sees it."""

    name: str
    capabilities: Capabilities

    def understand(self, questions: Sequence[str]) -> list[Understanding]:
        """Answer each question (text only), in order."""
        ...

    def generate(self, items: Sequence[Item], mode: Mode, seeds: Sequence[int]) -> list[Generation]:
        """Draw one image per (item, seed), in order. `len(seeds) == len(items)`."""
        ...

    def describe(self) -> dict[str, Any]:
        """Everything needed to identify and rebuild this model for a manifest (JSON-serialisable)."""
        ...


@runtime_checkable
class Prepares(Protocol):
    """Optional hook of a `UnifiedModel`: it is handed a run's planned items before the first batch (the fake
    model learns its probe answer key this way). The pipeline calls it through `prepare`."""

    def prepare(self, items: Sequence[Item]) -> None: ...


def prepare(model: UnifiedModel, items: Sequence[Item]) -> None:
    """Hand `items` to a model that declares the `Prepares` hook; other models need nothing."""
    if isinstance(model, Prepares):
        model.prepare(items)


def require(
    model: UnifiedModel, *, mode: Mode | None = None, understanding: bool = False, training: bool = False
) -> None:
    """Raise CapabilityError with a clear message if `model` cannot do what is asked."""
    caps = model.capabilities
    if mode == "think" and not caps.thinks:
        raise CapabilityError(f"model {model.name!r} does not support think mode; use --modes normal")
    if understanding and not caps.understands:
        raise CapabilityError(f"model {model.name!r} cannot answer text questions (understanding probes)")
    if training and not caps.trainable:
        raise CapabilityError(f"model {model.name!r} is not trainable here")
