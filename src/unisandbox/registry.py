"""Name -> "module:Class" registry for models and judges; importing it imports no heavy library.

A spec is `KIND[:PATH]`, e.g. `sandbox`, `sandbox:runs/ckpt`, `janus:/models/Janus-Pro-1B`. Each class
has `from_spec(path: str | None, **options)`; the run manifest stores the spec and options so that a
resume rebuilds the same component.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unisandbox.judges.base import Judge
    from unisandbox.models.base import UnifiedModel

MODELS: dict[str, str] = {
    "sandbox": "unisandbox.models.sandbox.adapter:SandboxModel",
    "sandbox-query": "unisandbox.models.sandbox.adapter:SandboxQueryModel",
    "fake": "unisandbox.models.fake:FakeModel",
    "janus": "unisandbox.models.janus:JanusModel",
    "diffusers": "unisandbox.models.diffusers:DiffusersModel",
    "command": "unisandbox.models.command:CommandModel",
    "openai": "unisandbox.models.openai:OpenAIModel",
}

JUDGES: dict[str, str] = {
    "sandbox": "unisandbox.judges.sandbox:SandboxJudge",
    "vlm": "unisandbox.judges.vlm:VLMJudge",
}


class SpecError(ValueError):
    """An unknown or malformed KIND[:PATH] spec."""


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split `KIND[:PATH]`: `parse_spec("sandbox:/ckpt") == ("sandbox", "/ckpt")`."""
    kind, sep, path = spec.partition(":")
    if not kind:
        raise SpecError(f"empty component spec {spec!r}; expected KIND[:PATH]")
    return kind, (path if sep else None)


def _load(table: dict[str, str], what: str, spec: str) -> Any:
    kind, _ = parse_spec(spec)
    if kind not in table:
        raise SpecError(f"unknown {what} {kind!r} in {spec!r}; known: {', '.join(sorted(table))}")
    module, _, cls = table[kind].partition(":")
    return getattr(importlib.import_module(module), cls)


def load_model(spec: str, **options: Any) -> UnifiedModel:
    """Build a model adapter from its spec."""
    cls = _load(MODELS, "model", spec)
    model: UnifiedModel = cls.from_spec(parse_spec(spec)[1], **options)
    return model


def load_judge(spec: str, **options: Any) -> Judge:
    """Build a judge from its spec."""
    cls = _load(JUDGES, "judge", spec)
    judge: Judge = cls.from_spec(parse_spec(spec)[1], **options)
    return judge
