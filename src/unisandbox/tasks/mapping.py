"""Symbolic mapping generator: chains of rules from symbols to objects, asked as A/B pairs.

Level k has k hops and 2k rules: two disjoint chains, one per question, over the same shuffled rule text
("The symbol A represents chairs. The letter B means symbol A. Draw what the letter B represents.").
Every symbol has exactly one rule, chains end in an object, and there are no cycles, so each queried
symbol resolves to exactly one object.

>>> a, b = mapping_items(seed=7, level=2, n=1, split="test")
>>> a.group == b.group and a.expected != b.expected
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unisandbox.tasks.base import Item, ObjectAnswer, Probe, Split
from unisandbox.tasks.common import ExhaustedError, capitalize_first, pick, rng_for, shuffled, split_of
from unisandbox.world.vocab import NOUNS_BY_NAME, OBJECTS

GENERATOR = "unisandbox.tasks.mapping"
GENERATOR_VERSION = 1

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: too easy to confuse with 1 and 0
DIGITS = "0123456789"
# No sentence punctuation (. , ; : ! ?) or quotes: a rule must read unambiguously as text.
PUNCTUATION = "#@$%&*+=~^<>"
SYMBOLS = LETTERS + DIGITS + PUNCTUATION

# Rule phrasings: {S} the source mention ("the letter B"), {T} the target (symbol mention or plural
# object noun), {be} "is" or "are" to agree with {T}. r3 names the target first.
RULE_PHRASINGS: dict[str, str] = {
    "r0": "{S} represents {T}.",
    "r1": "{S} means {T}.",
    "r2": "{S} stands for {T}.",
    "r3": "{T} {be} represented by {S}.",
    "r4": "Let {S} denote {T}.",
    "r5": "{S} refers to {T}.",
    "r6": "Read {S} as {T}.",
    "r7": "Whenever you see {S}, think of {T}.",
}
QUERY_PHRASINGS: dict[str, str] = {
    "q0": "Draw what {Q} represents.",
    "q1": "Generate an image of the object that {Q} stands for.",
    "q2": "Create a picture of what {Q} means.",
    "q3": "Show the thing that {Q} refers to.",
    "q4": "Paint what {Q} denotes.",
    "q5": "Depict whatever {Q} represents.",
}
PROBE_TEMPLATE = "{rules} Which object does {Q} stand for? Answer with one word."


@dataclass(frozen=True)
class MappingConfig:
    """Knobs of the mapping generator; the defaults reproduce the official split."""

    test_fraction: float = 0.3
    """Share of rule sets (with their objects) that belong to the test pool."""
    holdout_objects: tuple[str, ...] = ()
    """Objects that never appear in train items."""
    holdout_phrasings: tuple[str, ...] = ()
    """Rule (r*) or query (q*) phrasing ids that never appear in train items."""
    objects: tuple[str, ...] | None = None
    """Objects to draw from (singular keys); None means every object in the vocabulary."""
    symbols: str = SYMBOLS
    """Characters a symbol may be (letters, digits, punctuation without sentence marks)."""

    def validate(self) -> None:
        """Raise ValueError when a knob is out of its allowed range."""
        for name in self.holdout_objects + (self.objects or ()):
            if name not in NOUNS_BY_NAME or NOUNS_BY_NAME[name] not in OBJECTS:
                raise ValueError(f"unknown object {name!r} (see unisandbox.world.vocab.OBJECTS)")
        for pid in self.holdout_phrasings:
            if pid not in RULE_PHRASINGS and pid not in QUERY_PHRASINGS:
                raise ValueError(f"unknown mapping phrasing id {pid!r}")
        bad = [c for c in self.symbols if c not in SYMBOLS]
        if bad or len(set(self.symbols)) < 6:
            raise ValueError(f"symbols must be at least 6 distinct characters from {SYMBOLS!r}")


def symbol_kind(symbol: str) -> str:
    """The noun used to name a symbol in text: "letter", "digit" or "symbol"."""
    if symbol in LETTERS:
        return "letter"
    if symbol in DIGITS:
        return "digit"
    return "symbol"


def _mention(rng: np.random.Generator, symbol: str) -> str:
    # The study calls every symbol "symbol"; we mix that with the specific noun.
    word = "symbol" if rng.random() < 0.4 else symbol_kind(symbol)
    return f"the {word} {symbol}"


def _rule_sentence(rng: np.random.Generator, pid: str, src: str, dst: str, dst_is_object: bool) -> str:
    target = NOUNS_BY_NAME[dst].plural if dst_is_object else _mention(rng, dst)
    be = "are" if dst_is_object else "is"
    return capitalize_first(RULE_PHRASINGS[pid].format(S=_mention(rng, src), T=target, be=be))


def chain_steps(rules: dict[str, str], start: str) -> list[str]:
    """Resolve `start` through `rules` (symbol -> symbol or object): ["B -> #", "# -> chair", "answer: chair"]."""
    out: list[str] = []
    cur = start
    while cur in rules:
        out.append(f"{cur} -> {rules[cur]}")
        cur = rules[cur]
    out.append(f"answer: {cur}")
    return out


def mapping_items(
    seed: int, level: int, n: int, split: str = "test", config: MappingConfig | None = None
) -> list[Item]:
    """`n` A/B pairs (2n items) of one level and split, deterministic for `seed`.

    >>> [it.id for it in mapping_items(1, 1, 1, "train")]
    ['map-l1-train-0000_A', 'map-l1-train-0000_B']
    """
    cfg = config or MappingConfig()
    cfg.validate()
    if level not in (1, 2, 3):
        raise ValueError(f"mapping level must be 1, 2 or 3, got {level}")
    match split:
        case "train" | "test":
            pass
        case _:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    rng = rng_for(seed, "mapping", level, split)
    objects = list(cfg.objects or [o.singular for o in OBJECTS])
    rule_pids, query_pids = list(RULE_PHRASINGS), list(QUERY_PHRASINGS)
    if split == "train":
        objects = [o for o in objects if o not in cfg.holdout_objects]
        rule_pids = [p for p in rule_pids if p not in cfg.holdout_phrasings]
        query_pids = [p for p in query_pids if p not in cfg.holdout_phrasings]
    if len(objects) < 2 or not rule_pids or not query_pids:
        raise ValueError("holdout options leave fewer than 2 objects or no phrasing for train")
    if len(set(cfg.symbols)) < 2 * level:
        raise ValueError(f"level {level} needs {2 * level} distinct symbols")
    seen: set[str] = set()
    items: list[Item] = []
    for index in range(n):
        items.extend(_one_pair(rng, seed, level, split, index, objects, rule_pids, query_pids, cfg, seen))
    return items


def _one_pair(
    rng: np.random.Generator,
    seed: int,
    level: int,
    split: Split,
    index: int,
    objects: list[str],
    rule_pids: list[str],
    query_pids: list[str],
    cfg: MappingConfig,
    seen: set[str],
) -> list[Item]:
    symbols = sorted(set(cfg.symbols))
    for _ in range(20_000):
        syms = [symbols[int(i)] for i in rng.choice(len(symbols), size=2 * level, replace=False)]
        objs = [objects[int(i)] for i in rng.choice(len(objects), size=2, replace=False)]
        chains = [syms[:level], syms[level:]]
        rules: dict[str, str] = {}
        for chain, obj in zip(chains, objs, strict=True):
            # chain[0] is asked about; each symbol points to the next, the last one to the object.
            for a, b in zip(chain, chain[1:] + [obj], strict=True):
                rules[a] = b
        key = "mapping|" + ";".join(sorted(f"{a}>{b}" for a, b in rules.items()))
        if split_of(key, cfg.test_fraction) != split:
            continue
        order = shuffled(rng, list(rules.items()))
        pids = [pick(rng, rule_pids) for _ in order]
        sentences = [
            _rule_sentence(rng, pid, a, b, b in NOUNS_BY_NAME)
            for pid, (a, b) in zip(pids, order, strict=True)
        ]
        rules_text = " ".join(sentences)
        qpid = pick(rng, query_pids)
        queries = [_mention(rng, chain[0]) for chain in chains]
        prompts = [f"{rules_text} {capitalize_first(QUERY_PHRASINGS[qpid].format(Q=q))}" for q in queries]
        if any(p in seen for p in prompts):
            continue
        seen.update(prompts)
        group = f"map-l{level}-{split}-{index:04d}"
        meta = {
            "generator": GENERATOR,
            "version": GENERATOR_VERSION,
            "seed": seed,
            "hops": level,
            "rules": [[a, b] for a, b in order],
            "rule_phrasings": pids,
            "query_phrasing": qpid,
        }
        out = []
        for side, chain, obj, q, prompt in zip("AB", chains, objs, queries, prompts, strict=True):
            out.append(
                Item(
                    id=f"{group}_{side}",
                    task="mapping",
                    subtask="mapping",
                    level=level,
                    split=split,
                    prompt=prompt,
                    expected=ObjectAnswer(object=obj),
                    probe=Probe(question=PROBE_TEMPLATE.format(rules=rules_text, Q=q), answer=obj),
                    steps=tuple(chain_steps(rules, chain[0])),
                    group=group,
                    meta={**meta, "query": chain[0], "side": side},
                )
            )
        return out
    raise ExhaustedError(f"cannot find a new level-{level} {split} mapping pair: the pool is exhausted")
