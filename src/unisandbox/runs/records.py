"""Records of a run, one JSON object per line: samples, understanding answers and verdicts.

Each record names its key (item id, mode, sample index) so that a resume can rebuild the set of
finished work from the files alone.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from unisandbox.judges.base import Verdict
from unisandbox.models.base import Mode

RECORD_SCHEMA_VERSION = 1

SampleKey = tuple[str, Mode, int]
"""(item id, mode, sample index)."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SampleRecord(_Record):
    """One generated sample: where its image lies and what the model wrote."""

    schema_version: int = RECORD_SCHEMA_VERSION
    """Version of this record's schema."""
    item_id: str
    """Id of the item the sample was drawn for."""
    mode: Mode
    """Generation mode."""
    sample_index: int
    """Index of the sample among the item's samples in this mode (0-based)."""
    seed: int | None
    """The seed handed to the model (None for images imported from elsewhere)."""
    image: str | None
    """Image path relative to the run directory, or None when the model produced no image."""
    text: str = ""
    """Everything the model wrote (think mode: reasoning and rewritten prompt)."""
    rewritten_prompt: str | None = None
    """Think mode: the prompt the model wrote for itself."""
    error: str | None = None
    """Why there is no image, if there is none."""
    model: str
    """Name of the model that drew the sample."""
    extra: dict[str, Any] = {}
    """Adapter-specific details (token counts, timings)."""

    @property
    def key(self) -> SampleKey:
        """(item id, mode, sample index)."""
        return (self.item_id, self.mode, self.sample_index)


class UnderstandingRecord(_Record):
    """The model's answer to one item's understanding probe."""

    schema_version: int = RECORD_SCHEMA_VERSION
    """Version of this record's schema."""
    item_id: str
    """Id of the item whose probe was asked."""
    question: str
    """The probe question as asked."""
    expected: str
    """The probe's expected answer."""
    answer: str | None
    """The model's final answer (None on error)."""
    text: str = ""
    """Everything the model wrote."""
    correct: bool | None
    """Whether the normalised answer equals the expected one; None on error."""
    error: str | None = None
    """Why no answer was had."""
    model: str
    """Name of the model that answered."""


class VerdictRecord(_Record):
    """The judge's verdict on one sample."""

    schema_version: int = RECORD_SCHEMA_VERSION
    """Version of this record's schema."""
    item_id: str
    """Id of the judged item."""
    mode: Mode
    """Generation mode of the sample."""
    sample_index: int
    """Sample index within (item, mode)."""
    verdict: Verdict
    """correct / wrong / error (judge failure) / missing (no image)."""
    caption: str | None
    """What the judge saw, in the caption grammar (None when there was no image or the judge failed)."""
    judge: str
    """Name of the judge."""
    judge_hash: str
    """Short hash of the judge's describe(): prompts, model id, settings."""
    error: str | None = None
    """Why the verdict is error or missing."""

    @property
    def key(self) -> SampleKey:
        """(item id, mode, sample index)."""
        return (self.item_id, self.mode, self.sample_index)
