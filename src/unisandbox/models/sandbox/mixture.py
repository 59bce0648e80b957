"""The pretraining mixture: understanding with traces, drawing from plain descriptions, think mode.

Sources (all TRAIN-split items; the official test split is never read here):
- understanding: each math / mapping train item twice, as `<und> prompt <sep> trace <eos>` and as
  `<und> probe question <sep> steps with the probe's answer <eos>`; plus every single-operation math fact
  the levels use (`tasks.math.math_facts`), asked in both expression styles, so that held-out test
  expressions decompose into known steps.
- drawing: plain descriptions ("3 cups", "chair", a portrait by attributes, "a lemon", "a rose") paired
  with tally-style renders of exactly that (grid cells, icons in reading order).
- think mode: a train item's prompt, its trace ending in "answer: <plain description>", then a render
  of the expected answer.
A trace is the item's steps; for mapping it first restates the rules (`trace_steps`).

The rule the experiments rest on: a reasoning prompt is NEVER paired with an image without its trace.
Drawing sequences are built only from `description_of(answer)` strings, and `check_mixture` verifies every
image-bearing sequence before training starts (it raises, it does not filter).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from unisandbox.models.sandbox.knowledge_mixture import (
    KnowledgeMixtureConfig,
    drop_name_words,
    knowledge_mixture,
)
from unisandbox.models.sandbox.sequences import Codec, Seq
from unisandbox.models.sandbox.tokenizers import GEN, IMG, SEP, THINK, ImageTokenizer, TextTokenizer
from unisandbox.tasks.base import (
    Answer,
    CountAnswer,
    FlowerAnswer,
    FruitAnswer,
    Item,
    ObjectAnswer,
    PersonAnswer,
)
from unisandbox.tasks.common import rng_for
from unisandbox.world import vocab

MIXTURE_VERSION = 2
RULE_FORMATS = ("arrow", "adjacent")


def check_rule_format(rule_format: str) -> None:
    """Raise ValueError unless `rule_format` is one of RULE_FORMATS."""
    if rule_format not in RULE_FORMATS:
        raise ValueError(f"rule_format must be one of {RULE_FORMATS}, got {rule_format!r}")


@dataclass(frozen=True)
class MixtureConfig:
    """Sizes of the pretraining pools (sequences are sampled from them with replacement)."""

    math_items: dict[int, int] = field(default_factory=lambda: {1: 3000, 2: 6000, 3: 6000})
    """Train-split math items per level (each gives 2 understanding and 1 think-mode sequence)."""
    mapping_items: dict[int, int] = field(default_factory=lambda: {1: 1500, 2: 2500, 3: 3000})
    """Train-split mapping pairs per level (each pair gives 2 items)."""
    facts: bool = True
    """Teach every single-operation fact of levels 1-3 as understanding data."""
    n_draw: int = 24000
    """Drawing sequences from plain descriptions."""
    max_count: int = 9
    """Drawing counts run 1..max_count; counts above 5 (beyond every task's answers) are rarer."""
    item_seed_offset: int = 1000
    """Items are generated with seed + offset, so data seeds differ from model-init seeds."""
    knowledge: KnowledgeMixtureConfig | None = field(default_factory=KnowledgeMixtureConfig)
    """Knowledge-retrieval data on pretraining clubs (see knowledge_mixture.py); None = none."""
    rule_format: str = "arrow"
    """How mapping traces write a rule: "arrow" (`Y -> diamond`, the shipped checkpoints) or "adjacent"
    (`Y diamond`: the lookup is one induction step; see `trace_steps`)."""
    split_possessive: bool = False
    """Text tokenizer splits a trailing "'s" off (`tokenizers.split_words`): a spelled name is then the same
    tokens in "X's fruit" as in "X is", for the copy from a question and the facts learned about X."""

    def __post_init__(self) -> None:
        check_rule_format(self.rule_format)

    @classmethod
    def quick(cls) -> MixtureConfig:
        """Small pools for the quick profile (tests)."""
        return cls(
            math_items={1: 150, 2: 150, 3: 150},
            mapping_items={1: 60, 2: 60, 3: 60},
            facts=False,
            n_draw=1500,
            knowledge=KnowledgeMixtureConfig.quick(),
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MixtureConfig:
        """Inverse of `to_dict` (JSON turns level keys into strings)."""
        d = dict(d)
        for k in ("math_items", "mapping_items"):
            d[k] = {int(a): int(b) for a, b in d[k].items()}
        if d.get("knowledge") is not None:
            d["knowledge"] = KnowledgeMixtureConfig(**d["knowledge"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- plain descriptions ------------------------------------------------------------------------------


def description_of(answer: Answer) -> str:
    """The plain description of an answer, as a trace's last step states it after "answer:".

    >>> description_of(CountAnswer(count=3, object="cup"))
    '3 cups'
    """
    if isinstance(answer, CountAnswer):
        return f"{answer.count} {vocab.NOUNS_BY_NAME[answer.object].form(answer.count)}"
    if isinstance(answer, ObjectAnswer):
        return answer.object
    if isinstance(answer, PersonAnswer):
        from unisandbox.tasks.knowledge import person_description

        return person_description(answer)
    if isinstance(answer, FruitAnswer):
        return vocab.NOUNS_BY_NAME[answer.fruit].plural
    if isinstance(answer, FlowerAnswer):
        return vocab.NOUNS_BY_NAME[answer.flower].plural
    raise ValueError(f"no plain description for {answer!r}")


def parse_description(text: str) -> Answer | None:
    """Inverse of `describe` (case and spacing tolerant); None if `text` is not a plain description."""
    t = " ".join(text.lower().strip().rstrip(".").split())
    words = t.split(" ")
    if t.startswith("portrait:"):
        parts = [p.strip() for p in t.removeprefix("portrait:").split(",")]
        if len(parts) == 4 and parts[2].endswith(" hair") and parts[3].endswith(" skin"):
            gender, age, hair, skin = parts[0], parts[1], parts[2][:-5], parts[3][:-5]
            person = {"gender": gender, "age": age, "hair": hair, "skin": skin}
            if all(v in vocab.PERSON_ATTRIBUTES[k] for k, v in person.items()):
                return PersonAnswer.model_validate(person)
        return None
    if len(words) >= 2 and words[0].isdigit():
        key = vocab.canonical(" ".join(words[1:]))
        n = int(words[0])
        if key in {o.singular for o in vocab.OBJECTS} and 1 <= n <= 9:
            return CountAnswer(count=n, object=key)
        return None
    key = vocab.canonical(t)
    if key in {o.singular for o in vocab.OBJECTS}:
        return ObjectAnswer(object=key)
    if key in {n.singular for n in vocab.FRUITS}:
        return FruitAnswer(fruit=key)
    if key in {n.singular for n in vocab.FLOWERS}:
        return FlowerAnswer(flower=key)
    return None


def render_tally(answer: Answer, rng: np.random.Generator) -> np.ndarray:
    """A tally-style render of `answer` (the style the model and its codebook learn): grid cells, icons
    in reading order."""
    from unisandbox.world.render import render_answer

    return render_answer(answer, rng, style="tally")


def _draw_answers(n: int, max_count: int, rng: np.random.Generator) -> list[Answer]:
    objects = [o.singular for o in vocab.OBJECTS]
    counts = np.arange(1, max_count + 1)
    pc = np.where(counts <= 5, 1.0, 0.35)
    pc = pc / pc.sum()
    out: list[Answer] = []
    for _ in range(n):
        u = rng.random()
        if u < 0.62:
            out.append(
                CountAnswer(
                    count=int(rng.choice(counts, p=pc)), object=objects[int(rng.integers(len(objects)))]
                )
            )
        elif u < 0.78:
            out.append(ObjectAnswer(object=objects[int(rng.integers(len(objects)))]))
        elif u < 0.90:
            out.append(
                PersonAnswer.model_validate(
                    {k: str(rng.choice(v)) for k, v in vocab.PERSON_ATTRIBUTES.items()}
                )
            )
        elif u < 0.95:
            out.append(FruitAnswer(fruit=vocab.FRUITS[int(rng.integers(len(vocab.FRUITS)))].singular))
        else:
            out.append(FlowerAnswer(flower=vocab.FLOWERS[int(rng.integers(len(vocab.FLOWERS)))].singular))
    return out


# --- understanding texts -----------------------------------------------------------------------------


def trace_steps(item: Item, rule_format: str = "arrow") -> list[str]:
    """The trace the sandbox model learns for an item: the item's steps; for mapping, first every rule in
    the prompt's order, then the item's steps, each rule written as `rule_format` says.

    The restated list turns "which rule has this source?" (the phrasings put the source first or last:
    "Houses are represented by the letter L") into a lookup in the model's own text. In the "adjacent"
    format (`Y diamond`) that lookup is one induction step: at the copied source, find its earlier copy
    in the list and read the token after it. In the "arrow" format (`Y -> diamond`) the match spans two
    tokens (bench/bench_mapping_lookup.py and docs/sandbox.md compare them).

    >>> from unisandbox.tasks.mapping import mapping_items
    >>> it = mapping_items(5, 1, 1, "train")[0]
    >>> trace_steps(it)
    ['rules: Y -> diamond, L -> house', 'Y -> diamond', 'answer: diamond']
    >>> trace_steps(it, "adjacent")
    ['rules: Y diamond, L house', 'Y diamond', 'answer: diamond']
    """
    if item.task != "mapping":
        return list(item.steps)
    check_rule_format(rule_format)
    sep = " -> " if rule_format == "arrow" else " "
    rules = ", ".join(f"{a}{sep}{b}" for a, b in item.meta["rules"])
    return [f"rules: {rules}", *(_lookup(st, sep) for st in item.steps[:-1]), item.steps[-1]]


def _lookup(step: str, sep: str) -> str:
    """A mapping step "Y -> diamond" with the rule separator `sep`."""
    a, arrow, b = step.partition(" -> ")
    if not arrow:
        raise ValueError(f"not a mapping step: {step!r}")
    return f"{a}{sep}{b}"


def probe_steps(item: Item, rule_format: str = "arrow") -> list[str]:
    """The item's trace with the last step answering the probe ("answer: 2" instead of "answer: 2 cups")."""
    return [*trace_steps(item, rule_format)[:-1], f"answer: {item.probe.answer}"]


def fact_questions(level_max: int = 3) -> list[tuple[str, list[str]]]:
    """(question, steps) for every single-operation math fact, in both expression styles."""
    from unisandbox.tasks.expr import BinOp, Expr, Num, Pow, Sqrt, render, steps
    from unisandbox.tasks.math import PROBE_TEMPLATE, math_facts

    seen: dict[str, tuple[str, list[str]]] = {}
    for level in range(1, level_max + 1):
        for f in math_facts(level):
            e: Expr
            if f.op == "sqrt":
                e = Sqrt(Num(f.a))
            elif f.op in ("^2", "^3"):
                e = Pow(Num(f.a), 2 if f.op == "^2" else 3)
            else:
                assert f.b is not None, f  # a binary fact has two operands
                e = BinOp(f.op, Num(f.a), Num(f.b))
            st = steps(e)
            for style in ("symbols", "words"):
                q = PROBE_TEMPLATE.format(E=render(e, style))
                seen.setdefault(q, (q, [*st, f"answer: {f.result}"]))
    return [seen[k] for k in sorted(seen)]


def train_items(cfg: MixtureConfig, seed: int) -> dict[str, list[Item]]:
    """Train-split items of every task the mixture uses, keyed "math" and "mapping"."""
    from unisandbox.tasks.mapping import mapping_items
    from unisandbox.tasks.math import math_items

    s = seed + cfg.item_seed_offset
    out: dict[str, list[Item]] = {"math": [], "mapping": []}
    for level, n in sorted(cfg.math_items.items()):
        if n:
            out["math"] += math_items(s, level, n, "train")
    for level, n in sorted(cfg.mapping_items.items()):
        if n:
            out["mapping"] += mapping_items(s, level, n, "train")
    for task, items in out.items():
        bad = [it.id for it in items if it.split != "train"]
        if bad:
            raise AssertionError(f"{task}: non-train items in the pretraining mixture: {bad[:3]}")
    return out


# --- the builder -------------------------------------------------------------------------------------


@dataclass
class RawMixture:
    """The mixture before tokenisation: texts and images."""

    und: list[tuple[str, list[str]]]
    """(question, steps) of train items."""
    fact: list[tuple[str, list[str]]]
    """(question, steps) of single-operation math facts."""
    draw: list[tuple[str, np.ndarray]]
    """(plain description, image)."""
    think: list[tuple[str, list[str], np.ndarray]]
    """(reasoning prompt, steps ending in "answer: <plain description>", image)."""
    know: list[tuple[str, list[str]]] = field(default_factory=list)
    """Knowledge-retrieval understanding (corpus turns, probes with traces) on pretraining clubs."""
    kthink: list[tuple[str, list[str], np.ndarray]] = field(default_factory=list)
    """Knowledge think mode: prompt, retrieved facts, "answer: <plain description>", image."""
    kcopy: list[tuple[str, list[str]]] = field(default_factory=list)
    """In-context lookups over fresh names (`KnowledgeMixtureConfig.copy_questions`)."""


def build_raw(cfg: MixtureConfig, seed: int) -> RawMixture:
    """Generate every text and render every image of the mixture (deterministic for `seed`)."""
    items = train_items(cfg, seed)
    und: list[tuple[str, list[str]]] = []
    think: list[tuple[str, list[str], np.ndarray]] = []
    rng = rng_for(seed, "sandbox-mixture", "think")
    for it in items["math"] + items["mapping"]:
        und.append((it.prompt, trace_steps(it, cfg.rule_format)))
        und.append((it.probe.question, probe_steps(it, cfg.rule_format)))
        think.append((it.prompt, trace_steps(it, cfg.rule_format), render_tally(it.expected, rng)))
    rng_d = rng_for(seed, "sandbox-mixture", "draw")
    draw = [
        (description_of(a), render_tally(a, rng_d)) for a in _draw_answers(cfg.n_draw, cfg.max_count, rng_d)
    ]
    raw = RawMixture(und, fact_questions() if cfg.facts else [], draw, think)
    if cfg.knowledge is not None:
        km = knowledge_mixture(cfg.knowledge, seed)
        raw.know, raw.kthink, raw.kcopy = km.und, km.think, km.copy
    return raw


def build_codec(raw: RawMixture, seed: int, max_codes: int = 4096, split_possessive: bool = False) -> Codec:
    """Tokenizers learned from the mixture: word vocabulary from its texts, codebook from its images."""
    texts: list[str] = []
    for q, st in raw.und + raw.fact + raw.know + raw.kcopy:
        texts += [q, *st]
    for d, _ in raw.draw:
        texts.append(d)
    for p, st, _ in raw.think + raw.kthink:
        texts += [p, *st]
    # Every noun form and attribute word, so any plain description is in-vocabulary.
    texts += [w for n in vocab.ALL_NOUNS for w in (n.singular, n.plural)]
    texts += [*(w for values in vocab.PERSON_ATTRIBUTES.values() for w in values), "answer:", ";"]
    # Invented names stay out of the vocabulary: spelled byte by byte, as injected names will be.
    text = drop_name_words(TextTokenizer.build(texts, max_number=100, split_possessive=split_possessive))
    images = np.stack([im for _, im in raw.draw] + [im for _, _, im in raw.think])
    return Codec(text, ImageTokenizer.fit(images, max_codes=max_codes, seed=seed))


def tokenize(raw: RawMixture, codec: Codec) -> dict[str, list[Seq]]:
    """Sequences per kind ("und", "fact", "draw", "think", "know", "kthink", and "kcopy" when asked)."""
    pools: dict[str, list[Seq]] = {
        "und": [codec.understanding(q, st) for q, st in raw.und],
        "fact": [codec.understanding(q, st, "fact") for q, st in raw.fact],
    }
    draw_codes = codec.image.encode(np.stack([im for _, im in raw.draw]))
    pools["draw"] = [codec.drawing(d, c) for (d, _), c in zip(raw.draw, draw_codes, strict=True)]
    if raw.think:
        think_codes = codec.image.encode(np.stack([im for _, _, im in raw.think]))
        pools["think"] = [codec.think(p, st, c) for (p, st, _), c in zip(raw.think, think_codes, strict=True)]
    else:
        pools["think"] = []
    pools["know"] = [codec.understanding(q, st, "know") for q, st in raw.know]
    if raw.kcopy:
        pools["kcopy"] = [codec.understanding(q, st, "kcopy") for q, st in raw.kcopy]
    if raw.kthink:
        codes = codec.image.encode(np.stack([im for _, _, im in raw.kthink]))
        pools["kthink"] = [codec.think(p, st, c) for (p, st, _), c in zip(raw.kthink, codes, strict=True)]
    return pools


def build_mixture(cfg: MixtureConfig, seed: int) -> tuple[Codec, dict[str, list[Seq]]]:
    """Raw mixture -> tokenizers -> sequences, checked by `check_mixture`."""
    raw = build_raw(cfg, seed)
    codec = build_codec(raw, seed, split_possessive=cfg.split_possessive)
    pools = tokenize(raw, codec)
    reasoning = {p for p, _, _ in raw.think + raw.kthink} | {q for q, _ in raw.und + raw.know + raw.kcopy}
    check_mixture(pools, codec, reasoning)
    return codec, pools


class MixtureError(AssertionError):
    """The mixture breaks the rule that no reasoning prompt meets an image without its trace."""


def check_mixture(
    pools: Mapping[str, Iterable[Seq]], codec: Codec, reasoning_prompts: Iterable[str] = ()
) -> None:
    """Raise MixtureError unless every image-bearing sequence is plain drawing or think mode with a trace.

    - a `draw` sequence is `<gen> D <img> codes` where D parses as a plain description
      (`parse_description`) and is none of `reasoning_prompts`;
    - a `think` sequence has `<think>`, then `<sep>`, then a trace whose last step is
      "answer: <plain description>", then `<img>` and the codes;
    - every other sequence has no image code and no `<img>`.
    """
    reasoning = {" ".join(p.lower().split()) for p in reasoning_prompts}
    img, gen, think, sep = (codec.special(t) for t in (IMG, GEN, THINK, SEP))
    for pool, seqs in pools.items():
        for s in seqs:
            has_image = (
                any(c > 0 for c in s.cells) or img in s.ids or any(i >= codec.code_offset for i in s.ids)
            )
            if s.kind != pool and not (pool == "kthink" and s.kind == "think"):
                raise MixtureError(f"sequence of kind {s.kind!r} in pool {pool!r}")
            if s.kind == "draw":
                _check_draw(s, codec, gen, img, reasoning)
            elif s.kind == "think":
                _check_think(s, codec, think, sep, img)
            elif has_image:
                raise MixtureError(f"{pool} sequence carries an image: {codec.text.decode(s.ids)!r}")


def _image_start(s: Seq, img: int) -> int:
    if s.ids.count(img) != 1:
        raise MixtureError("an image sequence needs exactly one <img>")
    k = s.ids.index(img)
    if len(s.ids) != k + 10 or list(s.cells[k + 1 :]) != list(range(1, 10)):
        raise MixtureError("<img> must be followed by exactly the 9 image codes")
    return k


def _check_draw(s: Seq, codec: Codec, gen: int, img: int, reasoning: set[str]) -> None:
    k = _image_start(s, img)
    if s.ids[0] != gen:
        raise MixtureError("a drawing sequence starts with <gen>")
    text = codec.text.decode(s.ids[1:k])
    if parse_description(text) is None:
        raise MixtureError(f"drawing sequence with a non-plain description: {text!r}")
    if " ".join(text.lower().split()) in reasoning:
        raise MixtureError(f"reasoning prompt paired directly with an image: {text!r}")


def _check_think(s: Seq, codec: Codec, think: int, sep: int, img: int) -> None:
    from unisandbox.models.sandbox.sequences import trace_answer

    k = _image_start(s, img)
    if s.ids[0] != think or sep not in s.ids[:k]:
        raise MixtureError("a think-mode sequence is <think> prompt <sep> trace <img> codes")
    trace = codec.text.decode(s.ids[s.ids.index(sep) + 1 : k])
    if "answer:" not in trace or parse_description(trace_answer(trace)) is None:
        raise MixtureError(f"think-mode sequence without a trace ending in a plain description: {trace!r}")


def reasoning_prompts_of(items: Sequence[Item]) -> set[str]:
    """The prompts and probe questions of items (what must never meet an image without a trace)."""
    return {it.prompt for it in items} | {it.probe.question for it in items}
