"""Generators: determinism, balance, ranges, structure, split pools and hold-outs."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from unisandbox.tasks.knowledge import knowledge_world
from unisandbox.tasks.mapping import QUERY_PHRASINGS, RULE_PHRASINGS, MappingConfig, mapping_items
from unisandbox.tasks.math import PHRASINGS, MathConfig, math_facts, math_items
from unisandbox.world.vocab import FLOWERS, FRUITS, NOUNS_BY_NAME, OBJECTS, canonical


def test_math_is_deterministic_per_seed():
    a = [it.model_dump() for it in math_items(11, 3, 40)]
    b = [it.model_dump() for it in math_items(11, 3, 40)]
    c = [it.model_dump() for it in math_items(12, 3, 40)]
    assert a == b
    assert a != c


@pytest.mark.parametrize("level", [1, 2, 3])
def test_math_answers_balanced_within_two_points(level):
    items = math_items(5, level, 1000, "test")
    lo, hi = MathConfig().answer_range(level)
    counts = Counter(it.expected.count for it in items)
    assert set(counts) == set(range(lo, hi + 1))
    uniform = 1 / (hi - lo + 1)
    for value, n in counts.items():
        assert abs(n / len(items) - uniform) <= 0.02, (value, n)


def test_math_levels_use_their_operators():
    special = {"sqrt", "^2", "^3", "%"}
    for it in math_items(3, 1, 200):
        assert len(it.meta["operators"]) == 1 and it.meta["operators"][0] in "+-*/"
    for it in math_items(3, 2, 200):
        ops = it.meta["operators"]
        assert len(ops) == 2 and special & set(ops)
    for it in math_items(3, 3, 200):
        ops = it.meta["operators"]
        assert len(ops) == 3 and special & set(ops) and set(ops) - special
    l3 = Counter(op for it in math_items(3, 3, 500) for op in it.meta["operators"])
    assert all(l3[op] > 0 for op in ("+", "-", "*", "/", "%", "sqrt", "^2", "//"))


def test_math_steps_are_listed_facts_and_bounded():
    for level in (1, 2, 3):
        facts = {f.text: f for f in math_facts(level)}
        for it in math_items(9, level, 300):
            *work, final = it.steps
            assert len(work) == len(it.meta["operators"])
            for step in work:
                assert step in facts, step
                f = facts[step]
                assert 1 <= f.result <= 100 and f.a <= 100
                assert f.b is None or f.b <= 20
            n = it.expected.count
            noun = NOUNS_BY_NAME[it.expected.object]
            assert final == f"answer: {n} {noun.singular if n == 1 else noun.plural}"
            assert it.probe.answer == str(n)


def test_math_words_and_symbols_both_used():
    items = math_items(4, 2, 300)
    styles = Counter(it.meta["style"] for it in items)
    assert styles["symbols"] > 50 and styles["words"] > 50
    worded = " ".join(it.prompt for it in items if it.meta["style"] == "words")
    for phrase in ("the square root of", "the remainder of", "squared", "divided by"):
        assert phrase in worded
    assert len(PHRASINGS) >= 8 and len({it.meta["phrasing"] for it in items}) == len(PHRASINGS)
    assert len(OBJECTS) >= 30


def test_math_max_answer_config():
    items = math_items(2, 3, 90, config=MathConfig(max_answer=9))
    assert {it.expected.count for it in items} == set(range(1, 10))
    with pytest.raises(ValueError):
        math_items(2, 1, 5, config=MathConfig(max_answer=10))


def _math_key(it):
    return (it.meta["expression"], it.expected.object)


def test_math_train_test_disjoint_and_unique_prompts():
    train = math_items(1, 1, 400, "train")
    test = math_items(2, 1, 400, "test")
    assert not {_math_key(i) for i in train} & {_math_key(i) for i in test}
    assert len({i.prompt for i in train}) == len(train)
    assert len({i.prompt for i in test}) == len(test)
    cfg = MathConfig(split_key="expression")
    tr = {i.meta["expression"] for i in math_items(1, 2, 300, "train", cfg)}
    te = {i.meta["expression"] for i in math_items(1, 2, 300, "test", cfg)}
    assert not tr & te


def test_math_holdouts_absent_from_train_only():
    cfg = MathConfig(holdout_objects=("cup", "egg"), holdout_phrasings=("m0", "m3"))
    train = math_items(8, 2, 400, "train", cfg)
    assert not {"cup", "egg"} & {i.expected.object for i in train}
    assert not {"m0", "m3"} & {i.meta["phrasing"] for i in train}
    test = math_items(8, 2, 400, "test", cfg)
    assert {"cup", "egg"} & {i.expected.object for i in test}


def test_mapping_structure():
    for level in (1, 2, 3):
        items = mapping_items(6, level, 60)
        assert len(items) == 120
        for a, b in zip(items[::2], items[1::2], strict=True):
            assert a.group == b.group and a.id.endswith("_A") and b.id.endswith("_B")
            rules = a.meta["rules"]
            assert len(rules) == 2 * level and len(a.steps) == level + 1
            sources = [r[0] for r in rules]
            assert len(set(sources)) == len(sources)  # one rule per symbol: no conflicts
            assert a.expected != b.expected
            # Same rule text, different query.
            assert a.prompt.rsplit(". ", 1)[0] == b.prompt.rsplit(". ", 1)[0]
            assert a.steps[-1] == f"answer: {a.expected.object}" and a.probe.answer == a.expected.object
    assert len(RULE_PHRASINGS) >= 6 and len(QUERY_PHRASINGS) >= 4
    used = Counter(p for it in mapping_items(6, 3, 100) for p in it.meta["rule_phrasings"])
    assert set(used) == set(RULE_PHRASINGS)
    symbols = {s for it in mapping_items(6, 3, 100) for r in it.meta["rules"] for s in r if len(s) == 1}
    assert any(s.isalpha() for s in symbols) and any(s.isdigit() for s in symbols)
    assert any(not s.isalnum() for s in symbols)


def test_mapping_splits_and_holdouts():
    cfg = MappingConfig(holdout_objects=("chair",), holdout_phrasings=("r0", "q1"))

    def key(it):
        return tuple(sorted(map(tuple, it.meta["rules"])))

    train = mapping_items(3, 2, 200, "train", cfg)
    test = mapping_items(4, 2, 200, "test", cfg)
    assert not {key(i) for i in train} & {key(i) for i in test}
    assert "chair" not in {i.expected.object for i in train}
    assert "r0" not in {p for i in train for p in i.meta["rule_phrasings"]}
    assert "q1" not in {i.meta["query_phrasing"] for i in train}
    assert len({i.prompt for i in train}) == len(train)


def test_knowledge_world():
    w = knowledge_world(21, 10)
    assert len(w.characters) == 10 and len(w.pairs) == 5
    names = [c.name for c in w.characters]
    assert len(set(names)) == 10
    for name in names:
        assert canonical(name) is None and re.fullmatch(r"[A-Z][a-z]+", name)
        assert name[:2] in ("Zh", "Kv", "Vr", "Zv", "Vl", "Zl", "Tz", "Dv")
    by_name = {c.name: c for c in w.characters}
    for _pid, a, b in w.pairs:
        ca, cb = by_name[a], by_name[b]
        assert ca.fruit != cb.fruit and ca.flower != cb.flower and ca.person() != cb.person()
    fwd = [it for it in w.items if it.subtask.startswith("forward")]
    inv = [it for it in w.items if it.subtask == "inverse"]
    assert len(fwd) == 30 and len(inv) == 20
    assert {c.fruit for c in w.characters} <= {f.singular for f in FRUITS}
    assert {c.flower for c in w.characters} <= {f.singular for f in FLOWERS}
    for it in inv:
        target = by_name[it.meta["target"]]
        assert it.expected == target.person() and it.probe.answer == target.name
    per_char = Counter(t.character for t in w.corpus)
    assert all(35 <= n <= 45 for n in per_char.values())
    foreign = [t for t in w.corpus if t.language != "en"]
    assert len(foreign) / len(w.corpus) >= 0.10
    assert all(t.answer.isascii() for t in foreign)  # answers stay English
    kinds = Counter(t.kind for t in w.corpus)
    assert {"attribute", "yes_no", "negation", "profile", "foreign"} <= set(kinds)
    assert all(
        " not " in t.answer or t.answer.startswith(("Yes", "No")) for t in w.corpus if t.kind == "negation"
    )
    line = w.conversations_jsonl().splitlines()[0]
    assert '"from": "human"' in line and '"from": "gpt"' in line
    assert knowledge_world(21, 10) == w
