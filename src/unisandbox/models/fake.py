"""A deterministic, seedable fake model for tests and pipeline benchmarks (no network, no weights).

Generation draws the item's correct answer with probability `p_normal` (normal mode) or `p_think`
(think mode), else a near miss (count off by one, another object, another attribute). Whether a
sample is right, and every pixel, follow from its seed alone. Understanding answers a probe
correctly with probability `p_understand`, decided by a hash of the question; the answer key comes
from `prepare(items)`, which the pipeline calls with the planned items before any stage.

Failure injection for tests: `p_no_image` (a Generation with no image and an error) and `p_raise`
(generate raises for a batch containing such a seed), `delay_ms` per generated image.

>>> m = FakeModel.from_spec("p_normal=0.2,p_think=0.8")
>>> (m.p_normal, m.p_think)
(0.2, 0.8)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unisandbox.models.base import Capabilities, Generation, Mode, Understanding
from unisandbox.tasks.base import InputError
from unisandbox.world import vocab

if TYPE_CHECKING:
    from unisandbox.tasks.base import Answer, Item

FAKE_VERSION = 1


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) from a hash of `parts` (stable across processes and platforms)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _other(options: Sequence[str], current: str, u: float) -> str:
    rest = [o for o in options if o != current]
    return rest[int(u * len(rest))]


def near_miss(expected: Answer, u: float) -> Answer:
    """A wrong answer close to `expected`, chosen by `u` in [0, 1)."""
    if expected.kind == "count":
        if u < 0.5:
            count = expected.count + 1 if expected.count < 5 else expected.count - 1
            return expected.model_copy(update={"count": count})
        objects = [n.singular for n in vocab.OBJECTS]
        return expected.model_copy(update={"object": _other(objects, expected.object, u * 2 - 1)})
    if expected.kind == "object":
        objects = [n.singular for n in vocab.OBJECTS]
        return expected.model_copy(update={"object": _other(objects, expected.object, u)})
    if expected.kind == "person":
        attr, choices = [
            ("hair", vocab.HAIR_COLOURS),
            ("skin", vocab.SKIN_TONES),
            ("age", vocab.AGE_GROUPS),
            ("gender", vocab.GENDERS),
        ][int(u * 4)]
        return expected.model_copy(update={attr: _other(choices, getattr(expected, attr), u * 4 % 1)})
    if expected.kind == "fruit":
        names = [n.singular for n in vocab.FRUITS]
        return expected.model_copy(update={"fruit": _other(names, expected.fruit, u)})
    names = [n.singular for n in vocab.FLOWERS]
    return expected.model_copy(update={"flower": _other(names, expected.flower, u)})


def describe_answer(answer: Answer) -> str:
    """A plain description ("3 cups", "a rose") used as the fake's rewritten prompt."""
    if answer.kind == "count":
        return f"{answer.count} {vocab.NOUNS_BY_NAME[answer.object].form(answer.count)}"
    if answer.kind == "object":
        return vocab.NOUNS_BY_NAME[answer.object].plural
    if answer.kind == "person":
        a = answer
        return f"a {a.age} {a.gender} with {a.hair} hair and {a.skin} skin"
    return f"a {getattr(answer, answer.kind)}"


def _wrong_probe_answer(expected: str, u: float) -> str:
    text = expected.strip()
    if text.lstrip("-").isdigit():
        return str(int(text) + (1 if u < 0.5 else -1))
    key = vocab.canonical(text)
    pool = (
        vocab.FRUITS
        if key in {n.singular for n in vocab.FRUITS}
        else (vocab.FLOWERS if key in {n.singular for n in vocab.FLOWERS} else vocab.OBJECTS)
    )
    return vocab.NOUNS_BY_NAME[_other([n.singular for n in pool], key or "", u)].plural


@dataclass
class FakeModel:
    """Draws the right answer with a set probability; see the module docstring."""

    p_normal: float = 0.3
    """Probability that a normal-mode sample shows the correct answer."""
    p_think: float = 0.7
    """Probability that a think-mode sample shows the correct answer."""
    p_understand: float = 0.9
    """Probability that a probe is answered correctly."""
    p_no_image: float = 0.0
    """Probability that a sample comes back without an image (error recorded)."""
    p_raise: float = 0.0
    """Probability per seed that generate() raises (the whole batch call fails)."""
    delay_ms: float = 0.0
    """Sleep per generated image (lets tests interrupt a run mid-stage)."""
    style: str = "grid"
    """Renderer style."""
    name: str = "fake"
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(True, True, False))
    _answers: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for key in ("p_normal", "p_think", "p_understand", "p_no_image", "p_raise"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"fake model option {key}={value}: must lie in [0, 1]")

    @classmethod
    def from_spec(cls, path: str | None, **options: Any) -> FakeModel:
        """Build from `fake[:key=value,...]`; keyword options override the spec string."""
        parsed: dict[str, Any] = {}
        for part in (path or "").split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if (
                not sep
                or key not in cls.__dataclass_fields__
                or key.startswith("_")
                or key in ("name", "capabilities")
            ):
                raise InputError(
                    f"fake model spec: bad option {part!r} (use e.g. fake:p_normal=0.2,p_think=0.8)"
                )
            parsed[key] = value.strip() if key == "style" else _number(key, value)
        return cls(**{**parsed, **options})

    def prepare(self, items: Sequence[Item]) -> None:
        """Learn the probes' answer key from the planned items (the fake is an oracle by design)."""
        self._answers.update({it.probe.question: it.probe.answer for it in items})

    def describe(self) -> dict[str, Any]:
        """Identity for the manifest."""
        return {
            "kind": "fake",
            "version": FAKE_VERSION,
            "p_normal": self.p_normal,
            "p_think": self.p_think,
            "p_understand": self.p_understand,
            "p_no_image": self.p_no_image,
            "p_raise": self.p_raise,
            "style": self.style,
        }

    def understand(self, questions: Sequence[str]) -> list[Understanding]:
        """Answer each probe: right with probability p_understand (hash of the question)."""
        out = []
        for q in questions:
            expected = self._answers.get(q)
            u = _unit("understand", q)
            if expected is None:
                out.append(Understanding(answer="unknown", text="I do not know this question."))
            elif u < self.p_understand:
                out.append(Understanding(answer=expected, text=f"Answer: {expected}"))
            else:
                wrong = _wrong_probe_answer(expected, _unit("wrong", q))
                out.append(Understanding(answer=wrong, text=f"Answer: {wrong}"))
        return out

    def generate(self, items: Sequence[Item], mode: Mode, seeds: Sequence[int]) -> list[Generation]:
        """One image per (item, seed); the seed alone decides right or wrong and every pixel."""
        import numpy as np
        from PIL import Image

        from unisandbox.world.render import render_answer

        if len(items) != len(seeds):
            raise ValueError(f"{len(items)} items but {len(seeds)} seeds")
        if any(_unit("raise", s) < self.p_raise for s in seeds):
            raise RuntimeError("injected failure (p_raise)")
        p = self.p_think if mode == "think" else self.p_normal
        out = []
        for item, seed in zip(items, seeds, strict=True):
            if self.delay_ms:
                time.sleep(self.delay_ms / 1000)
            if _unit("no-image", seed) < self.p_no_image:
                out.append(Generation(image=None, error="injected failure (p_no_image)"))
                continue
            right = _unit("correct", seed) < p
            drawn = item.expected if right else near_miss(item.expected, _unit("miss", seed))
            pixels = render_answer(drawn, np.random.default_rng(seed), style=self.style)
            plan = describe_answer(drawn)
            text = f"Let me work out what to draw.\nPrompt: {plan}" if mode == "think" else ""
            out.append(
                Generation(
                    image=Image.fromarray(pixels, "RGB"),
                    text=text,
                    rewritten_prompt=plan if mode == "think" else None,
                    extra={"intended_correct": right},
                )
            )
        return out


def _number(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError as e:
        raise InputError(f"fake model spec: {key}={value!r} is not a number") from e
