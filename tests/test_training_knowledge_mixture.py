"""Knowledge-retrieval pretraining data: disjoint names, traces that echo the corpus, no trace-less images."""

from __future__ import annotations

import numpy as np
import pytest

from unisandbox.models.sandbox import knowledge_mixture as K
from unisandbox.models.sandbox.mixture import MixtureError, check_mixture, description_of, parse_description
from unisandbox.models.sandbox.sequences import Codec, trace_answer
from unisandbox.models.sandbox.tokenizers import ImageTokenizer, TextTokenizer, split_words
from unisandbox.tasks import knowledge as tk


@pytest.fixture(scope="module")
def km() -> K.KnowledgeMixture:
    return K.knowledge_mixture(
        K.KnowledgeMixtureConfig(worlds=2, characters=8, heldout_pairs=1, qa_repeat=1, think_repeat=1), seed=3
    )


def test_name_onsets_match_the_generator():
    assert K.NAME_ONSETS == ("zh", "kv", "vr", "zv", "vl", "zl", "tz", "dv")
    assert all(tk.knowledge_world(s).characters[0].name.lower().startswith(K.NAME_ONSETS) for s in range(20))


def test_names_are_disjoint_from_the_official_world(km):
    official = K.official_names()
    assert len(official) == 11  # ten characters and the club
    assert km.names and not (km.names & official)
    texts = " ".join(q + " " + " ".join(s) for q, s in km.und)
    for name in official:
        assert name.lower() not in texts.lower()


def test_deterministic_for_a_seed(km):
    again = K.knowledge_mixture(
        K.KnowledgeMixtureConfig(worlds=2, characters=8, heldout_pairs=1, qa_repeat=1, think_repeat=1), seed=3
    )
    assert again.und == km.und
    assert [(p, s) for p, s, _ in again.think] == [(p, s) for p, s, _ in km.think]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(again.think, km.think, strict=True))
    other = K.knowledge_mixture(K.KnowledgeMixtureConfig.quick(), seed=4)
    assert not (other.names & km.names) or other.und != km.und


def test_traces_echo_corpus_sentences_and_end_in_the_expected_description(km):
    for world in K.pretraining_worlds(K.KnowledgeMixtureConfig(worlds=2, characters=8), seed=3):
        by_name = {c.name: c for c in world.characters}
        corpus = " ".join(t.answer for t in world.corpus)
        for it in world.items:
            steps = K.retrieval_steps(it, by_name)
            assert parse_description(trace_answer(steps[-1])) == it.expected
            assert steps[-1] == f"answer: {description_of(it.expected)}"
            for s in steps[:-1]:
                if not s.startswith("the one whose"):
                    assert s in corpus, s
            assert K.probe_steps(it, by_name)[-1] == f"answer: {it.probe.answer}"


def test_heldout_characters_get_the_corpus_only(km):
    held = {n for it in km.heldout_items for n in it.meta["characters"]}
    assert held and km.think_items
    for p, steps, _ in km.think:
        assert not any(n in p or any(n in s for s in steps) for n in held)
    probes = {it.probe.question for it in km.heldout_items}
    corpus_questions = {q for q, _ in km.und}
    # Held-out portrait and inverse probes are never taught; fruit/flower probes are corpus questions.
    for it in km.heldout_items:
        taught = it.probe.question in corpus_questions
        assert taught == (it.subtask in ("forward_fruit", "forward_flower")), it.id
    assert probes


def test_one_question_one_target(km):
    targets: dict[str, set[tuple[str, ...]]] = {}
    for q, s in km.und:
        targets.setdefault(q, set()).add(tuple(s))
    assert all(len(v) == 1 for v in targets.values())


def _codec(km: K.KnowledgeMixture) -> Codec:
    texts = [t for q, s in km.und for t in (q, *s)] + [t for p, s, _ in km.think for t in (p, *s)]
    texts += ["a portrait of a kid male with red hair and dark skin"]
    tok = K.drop_name_words(TextTokenizer.build(texts, max_number=100))
    return Codec(tok, ImageTokenizer.fit(np.stack([im for _, _, im in km.think]), max_codes=512))


def test_tokenized_sequences_pass_check_mixture_and_fit_the_context(km):
    codec = _codec(km)
    assert not any(K.is_name_word(w) for w in codec.text.words)
    und = [codec.understanding(q, s) for q, s in km.und]
    codes = codec.image.encode(np.stack([im for _, _, im in km.think]))
    think = [codec.think(p, s, c) for (p, s, _), c in zip(km.think, codes, strict=True)]
    reasoning = {p for p, _, _ in km.think} | {q for q, _ in km.und}
    check_mixture({"und": und, "think": think, "draw": []}, codec, reasoning)
    assert max(len(s.ids) for s in und + think) <= 192
    # Names survive the round trip through byte spelling.
    name = next(iter(km.names))
    assert codec.text.decode(codec.text.encode(f"Tell me about {name}.")) == f"tell me about {name.lower()}."


def test_check_mixture_rejects_a_knowledge_prompt_drawn_without_trace(km):
    codec = _codec(km)
    p, _, im = km.think[0]
    (c,) = codec.image.encode(im[None])
    with pytest.raises(MixtureError):
        check_mixture({"draw": [codec.drawing(p, c)]}, codec, {p})


def test_injection_data_is_the_official_corpus_only():
    import json

    world_data = json.loads(K.OFFICIAL_WORLD.read_text())
    world = tk.knowledge_world(world_data["seed"], len(world_data["characters"]))
    assert [c.name for c in world.characters] == [c["name"] for c in world_data["characters"]]
    und = K.injection_und(world)
    assert [q for q, _ in und] == [t.question for t in world.corpus]
    inverse_probes = {it.probe.question for it in world.items if it.subtask == "inverse"}
    portrait_probes = {it.probe.question for it in world.items if it.subtask == "forward_portrait"}
    assert not ({q for q, _ in und} & (inverse_probes | portrait_probes))
    fruit = next(it for it in world.items if it.subtask == "forward_fruit")
    steps = dict(und)[fruit.probe.question]
    assert steps[-1] == f"answer: {fruit.probe.answer}"


def test_is_name_word():
    assert K.is_name_word("zhubira's") and K.is_name_word("Kvada")
    assert not any(K.is_name_word(w) for w in split_words("the zebra visits a zoo"))


def test_recited_portrait_traces_open_like_the_corpus_profile(km):
    small = {"worlds": 2, "characters": 8, "heldout_pairs": 1, "qa_repeat": 1, "think_repeat": 1}
    recite = K.knowledge_mixture(K.KnowledgeMixtureConfig(**small, portrait_trace="recite"), seed=3)
    worlds = K.pretraining_worlds(K.KnowledgeMixtureConfig(**small), seed=3)
    profiles = {t.answer for w in worlds for t in w.corpus if t.kind == "profile"}
    forward = [(p, s) for p, s, _ in recite.think if "whose" not in p]  # inverse prompts say "whose"
    traces = [s for q, s in recite.und if "look like" in q] + [
        s for p, s in forward if "portrait" in p or "face" in p
    ]
    assert traces
    for steps in traces:
        # The retrieval is the start of the character's profile answer, word for word, then the answer.
        assert " is a member of the " in steps[0] and any(p.startswith(steps[0]) for p in profiles)
        assert len(steps) == 2 and steps[-1].startswith("answer: ")
    # Everything else is the default mixture's, sequence for sequence.
    changed = [i for i, (a, b) in enumerate(zip(km.und, recite.und, strict=True)) if a != b]
    assert changed and all("look like" in km.und[i][0] for i in changed)
    assert len(recite.think) == len(km.think)
    with pytest.raises(ValueError, match="portrait_trace"):
        K.knowledge_mixture(K.KnowledgeMixtureConfig(**small, portrait_trace="spell"), seed=3)


def test_restated_inverse_traces_make_the_match_a_copy_of_what_follows_the_value():
    small = {"worlds": 2, "characters": 8, "heldout_pairs": 1, "qa_repeat": 1, "think_repeat": 1}
    pair = K.knowledge_mixture(K.KnowledgeMixtureConfig(**small), seed=3)
    restate = K.knowledge_mixture(K.KnowledgeMixtureConfig(**small, inverse_trace="restate"), seed=3)
    inverse = [s for q, s in restate.und if "Answer with the name" in q]
    assert inverse
    for steps in inverse:
        # "<the one whose favourite fruit is the cherry is> X": the same words ended a restated favourite.
        head, name = steps[2].rsplit(" is ", 1)
        value = head.split(" is the ", 1)[1]
        restated = [s for s in steps[:2] if s.endswith(f", so the {value} is {name}")]
        assert len(restated) == 1 and restated[0].startswith(f"{name}'s favourite")
        assert steps[-1] == f"answer: {name}"
    # Only inverse traces change; the same sequences otherwise.
    changed = [i for i, (a, b) in enumerate(zip(pair.und, restate.und, strict=True)) if a != b]
    assert changed and all("Answer with the name" in pair.und[i][0] for i in changed)
    with pytest.raises(ValueError, match="inverse_trace"):
        K.knowledge_mixture(K.KnowledgeMixtureConfig(**small, inverse_trace="swap"), seed=3)


def test_copy_questions_answer_from_the_question_alone_with_fresh_names(km):
    taken = km.names | K.official_names()
    qs = K.copy_questions(60, seed=3, taken=taken)
    assert qs == K.copy_questions(60, seed=3, taken=taken)
    assert K.copy_questions(0, seed=3, taken=taken) == []
    names: list[str] = []
    for question, steps in qs:
        a, b = question.split(" are members of the ", 1)[0].split(" and ")
        names += [a, b, question.split(" are members of the ", 1)[1].split(" Club.", 1)[0]]
        answer = trace_answer(steps[-1])
        if "look like?" in question:
            target = question.split("What does ", 1)[1].split(" look like?", 1)[0]
            assert steps[0].startswith(f"{target} is ") and f"{steps[0]}." in question
            gender, age, hair, skin = answer.split(", ")
            assert steps[0] == f"{target} is {gender} and {tk.AGE_PHRASE[age]}, with {hair} and {skin}"
        else:
            # Every fact the trace states is in the question, and the answer is the one whose value is asked.
            value = question.split("Which of them has the ", 1)[1].split(" as favourite", 1)[0]
            assert all(f"{s}." in question for s in steps[:2])
            assert steps[0].startswith(f"{a}'s") and steps[1].startswith(f"{b}'s")
            assert answer in (a, b) and f"{answer}'s favourite" in question
            assert question.split(f"{answer}'s favourite ", 1)[1].split(".", 1)[0].endswith(f"the {value}")
    assert len(set(names)) == len(names) and not (set(names) & taken)
    kinds = ["look like?" in q for q, _ in qs]
    assert 0 < sum(kinds) < len(kinds)


def test_copy_questions_are_their_own_pool_and_need_a_weight():
    from dataclasses import replace

    from unisandbox.models.sandbox import train
    from unisandbox.models.sandbox.mixture import MixtureConfig, build_mixture

    mix = replace(
        MixtureConfig.quick(), knowledge=replace(K.KnowledgeMixtureConfig.quick(), copy_questions=12)
    )
    _, pools = build_mixture(mix, seed=0)
    assert len(pools["kcopy"]) == 12 and all(s.kind == "kcopy" for s in pools["kcopy"])
    assert "kcopy" not in build_mixture(MixtureConfig.quick(), seed=0)[1]
    cfg = replace(train.profile("quick"), mixture=mix, steps=1)
    with pytest.raises(ValueError, match=r"pools \['kcopy'\] have sequences but no weight"):
        train.main(cfg, "/nonexistent/never-written", echo=lambda s: None)


def test_attribute_traces_are_the_corpus_attribute_answers():
    cfg = K.KnowledgeMixtureConfig(worlds=1, characters=8, heldout_pairs=1, qa_repeat=1, think_repeat=1)
    plain = K.knowledge_mixture(cfg, seed=3)
    km = K.knowledge_mixture(
        K.KnowledgeMixtureConfig(**{**cfg.to_dict(), "portrait_trace": "attributes"}), seed=3
    )
    world = K.pretraining_worlds(cfg, seed=3)[0]
    answers = {t.answer for t in world.corpus}
    portraits = [(q, st) for q, st in km.und if "look like?" in q]
    assert portraits
    for _, steps in portraits:
        assert len(steps) == 5 and all(f"{s}." in answers for s in steps[:4])
    for (_, old), (_, new) in zip([x for x in plain.und if "look like?" in x[0]], portraits, strict=True):
        assert old[-1] == new[-1]  # same answer, other retrieval steps
    for prompt, steps, _ in km.think:
        if "one whose" in prompt:
            assert all(f"{s}." in answers for s in steps[3:7]) and steps[-1].startswith("answer: portrait:")
    with pytest.raises(ValueError, match="portrait_trace"):
        K.knowledge_mixture(K.KnowledgeMixtureConfig(portrait_trace="sketch"), seed=0)


def test_restated_copy_questions_end_each_favourite_with_the_name_after_the_value():
    for (q, plain), (q2, restated) in zip(
        K.copy_questions(12, seed=4, taken=set()),
        K.copy_questions(12, seed=4, taken=set(), restate=True),
        strict=True,
    ):
        assert q == q2
        if "look like?" in q:
            assert plain == restated
            continue
        for old, new in zip(plain[:2], restated[:2], strict=True):
            name, value = old.split("'s favourite ", 1)[0], old.rsplit(" ", 1)[1]
            assert new == f"{old}, so the {value} is {name}"
        assert plain[2:] == restated[2:]


def test_copy_questions_with_attribute_traces_answer_portraits_in_four_sentences():
    for q, steps in K.copy_questions(9, seed=5, taken=set(), attributes=True):
        if "look like?" not in q:
            continue
        target = q.split("What does ", 1)[1].split(" look like?", 1)[0]
        gender, age, hair, skin = trace_answer(steps[-1]).split(", ")
        assert steps[:4] == [
            f"{target} is {gender}",
            f"{target} is {tk.AGE_PHRASE[age]}",
            f"{target} has {hair}",
            f"{target} has {skin}",
        ]
        assert f"{target} is {gender} and {tk.AGE_PHRASE[age]}, with {hair} and {skin}." in q
