"""The configuration of a run: what is generated, how many times, and where the images go."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from unisandbox.models.base import Mode

Layout = Literal["ours", "study"]

DEFAULT_TASKS: tuple[str, ...] = ("math", "mapping")
DEFAULT_LEVELS: tuple[int, ...] = (1, 2, 3)
DEFAULT_MODES: tuple[Mode, ...] = ("normal", "think")
KNOWN_TASKS: tuple[str, ...] = ("math", "mapping", "knowledge")


class ConfigError(ValueError):
    """A configuration that cannot run, or that conflicts with the run directory's manifest."""

    exit_code = 2


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's output (batch size and progress display do not)."""

    model: str = "sandbox"
    """Model spec KIND[:PATH]."""
    judge: str = "sandbox"
    """Judge spec KIND[:PATH]."""
    tasks: tuple[str, ...] | None = None
    """Tasks to keep; None keeps math and mapping of the official split, or everything in --items."""
    levels: tuple[int, ...] | None = None
    """Levels to keep; None keeps all."""
    modes: tuple[Mode, ...] = DEFAULT_MODES
    """Generation modes."""
    samples_per_item: int = 1
    """Images per (item, mode)."""
    limit: int | None = None
    """Keep the first N units (items; pairs for mapping) of each task and level."""
    items_files: tuple[str, ...] = ()
    """Item files (ours or the study's format); empty means the official test split."""
    layout: Layout = "ours"
    """Image layout: ours (images/<mode>/s<k>/<id>.png) or the study's (test/<mode>/<file>/<id>.png)."""
    seed: int = 0
    """Base seed; each sample's seed is sample_seed(item id, mode, sample index, seed)."""
    probes: bool = True
    """Ask the understanding probes."""
    model_options: dict[str, Any] = field(default_factory=dict)
    """Keyword options for the model's from_spec."""
    answers: str | None = None
    """Study-format --items files: score the file's stated answers ("stated") or the audit's derived
    ones ("audited"); None means audited. Items the chosen source leaves without an answer are not run."""

    def validate(self) -> RunConfig:
        """Raise ConfigError for settings that cannot run; return self."""
        for mode in self.modes:
            if mode not in DEFAULT_MODES:
                raise ConfigError(f"--modes: unknown mode {mode!r} (known: normal, think)")
        if not self.modes:
            raise ConfigError("--modes: at least one mode is needed")
        if len(set(self.modes)) != len(self.modes):
            raise ConfigError(f"--modes: repeated mode in {','.join(self.modes)}")
        if self.samples_per_item < 1:
            raise ConfigError(f"--samples-per-item must be >= 1, got {self.samples_per_item}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {self.limit}")
        if self.layout not in ("ours", "study"):
            raise ConfigError(f"--layout must be 'ours' or 'study', got {self.layout!r}")
        if self.layout == "study" and self.samples_per_item != 1:
            raise ConfigError("--layout study holds one image per item and mode; use --samples-per-item 1")
        for task in self.tasks or ():
            if task not in KNOWN_TASKS:
                raise ConfigError(f"--tasks: unknown task {task!r} (known: {', '.join(KNOWN_TASKS)})")
        if self.answers not in (None, "stated", "audited"):
            raise ConfigError(f"--answers must be 'stated' or 'audited', got {self.answers!r}")
        for level in self.levels or ():
            if level not in DEFAULT_LEVELS:
                raise ConfigError(f"--levels: level {level} does not exist (levels are 1, 2, 3)")
        return self

    def identity(self) -> dict[str, Any]:
        """The JSON form stored in the manifest and compared on resume (judge excluded: see manifest)."""
        d = asdict(self)
        d.pop("judge")
        if d.get("answers") is None:
            d.pop("answers")  # unset: identical to configurations written before the option existed
        out: dict[str, Any] = json.loads(json.dumps(d))
        return out

    def short_hash(self) -> str:
        """8 hex digits naming this configuration (used for the default --out)."""
        blob = json.dumps({**self.identity(), "judge": self.judge}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:8]
