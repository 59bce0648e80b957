import numpy as np
import pytest

from unisandbox.models.sandbox.mixture import (
    MixtureConfig,
    MixtureError,
    build_codec,
    build_raw,
    check_mixture,
    description_of,
    parse_description,
    tokenize,
)
from unisandbox.models.sandbox.sequences import Seq
from unisandbox.models.sandbox.tokenizers import IMG, SEP
from unisandbox.tasks.base import CountAnswer, FlowerAnswer, FruitAnswer, ObjectAnswer, PersonAnswer


@pytest.fixture(scope="module")
def built():
    cfg = MixtureConfig.quick()
    raw = build_raw(cfg, seed=0)
    codec = build_codec(raw, seed=0)
    return raw, codec, tokenize(raw, codec)


def test_describe_and_parse_are_inverse():
    answers = [
        CountAnswer(count=3, object="box"),
        CountAnswer(count=1, object="fish"),
        ObjectAnswer(object="leaf"),
        PersonAnswer(gender="female", age="mid-age", hair="red", skin="dark"),
        FruitAnswer(fruit="cherry"),
        FlowerAnswer(flower="lily"),
    ]
    for a in answers:
        assert parse_description(description_of(a)) == a
    assert parse_description("Generate as many cups as the result of 8 / 4.") is None
    assert parse_description("Draw what the symbol E represents.") is None


def test_no_reasoning_prompt_meets_an_image_without_its_trace(built):
    raw, codec, pools = built
    reasoning = {" ".join(p.lower().split()) for p, _, _ in raw.think + raw.kthink}
    reasoning |= {" ".join(q.lower().split()) for q, _ in raw.und + raw.know}
    img, sep = codec.special(IMG), codec.special(SEP)
    n_image = 0
    for pool, seqs in pools.items():
        for s in seqs:
            if img not in s.ids:
                assert not any(s.cells), pool
                continue
            n_image += 1
            k = s.ids.index(img)
            if s.kind == "draw":
                text = codec.text.decode(s.ids[1:k])
                assert parse_description(text) is not None, text
                assert text not in reasoning
            else:
                assert s.kind == "think"
                assert sep in s.ids[:k]
                trace = codec.text.decode(s.ids[s.ids.index(sep) + 1 : k])
                assert "answer:" in trace and len(trace.split("answer:")[0].strip()) > 0
    assert n_image == len(pools["draw"]) + len(pools["think"]) + len(pools["kthink"])
    check_mixture(pools, codec, reasoning)


def test_check_mixture_refuses_a_direct_reasoning_prompt_image_pair(built):
    raw, codec, pools = built
    prompt, steps, image = raw.think[0]
    codes = codec.image.encode(image[None])[0]
    bad = codec.drawing(prompt, codes)  # <gen> reasoning prompt <img> codes: what normal mode would be
    with pytest.raises(MixtureError):
        check_mixture({"draw": [bad]}, codec, {prompt})
    # Even when the caller forgets to list the prompt, it is not a plain description.
    with pytest.raises(MixtureError):
        check_mixture({"draw": [bad]}, codec)
    # A think-mode sequence whose trace is only the answer line is not a trace over a reasoning prompt:
    # it is allowed only if it ends in a plain description, and an image must follow <sep>.
    no_trace = Seq("think", bad.ids, bad.loss, bad.cells)
    with pytest.raises(MixtureError):
        check_mixture({"think": [no_trace]}, codec)
    smuggled = Seq("und", bad.ids, bad.loss, bad.cells)
    with pytest.raises(MixtureError):
        check_mixture({"und": [smuggled]}, codec)


def test_mixture_uses_train_items_only(built):
    from unisandbox.models.sandbox.evaluate import official_items

    raw, _, _ = built
    items = [it for group in official_items().values() for it in group]
    official_prompts = {it.prompt for it in items}
    trained = {p for p, _, _ in raw.think} | {q for q, _ in raw.und}
    # No official generation prompt is ever trained on, in any form.
    assert not (trained & official_prompts)
    # Probe questions: mapping ones never (rule sets are split); a math probe names no object, so the
    # same expression with another object (a different train item) shares it -- eval reports both.
    mapping_probes = {it.probe.question for it in items if it.task == "mapping"}
    assert not (trained & mapping_probes)


def test_mixture_is_deterministic():
    cfg = MixtureConfig(
        math_items={1: 20, 2: 0, 3: 0},
        mapping_items={1: 5, 2: 0, 3: 0},
        facts=False,
        n_draw=50,
        knowledge=None,
    )
    a, b = build_raw(cfg, 5), build_raw(cfg, 5)
    assert a.und == b.und and [d for d, _ in a.draw] == [d for d, _ in b.draw]
    assert all(np.array_equal(x, y) for (_, _, x), (_, _, y) in zip(a.think, b.think, strict=True))
    c = build_raw(cfg, 6)
    assert [d for d, _ in a.draw] != [d for d, _ in c.draw]


@pytest.mark.parametrize("fmt,sep", [("arrow", " -> "), ("adjacent", " ")])
def test_mapping_trace_restates_every_rule_and_resolves_through_it(fmt, sep):
    from unisandbox.models.sandbox.mixture import probe_steps, trace_steps
    from unisandbox.tasks.mapping import mapping_items

    for level in (1, 2, 3):
        for it in mapping_items(3, level, 20, "train"):
            trace = trace_steps(it, fmt)
            assert trace[1:-1] == [st.replace(" -> ", sep) for st in it.steps[:-1]]
            assert trace[-1] == it.steps[-1]
            listed = trace[0].removeprefix("rules: ").split(", ")
            assert listed == [f"{a}{sep}{b}" for a, b in it.meta["rules"]]
            # every resolving step is a rule of the restated list, and they chain from the query
            assert all(step in listed for step in trace[1:-1])
            hops = [st.split(sep) for st in trace[1:-1]]
            assert hops[0][0] == it.meta["query"]
            assert all(x[1] == y[0] for x, y in zip(hops, hops[1:], strict=False))
            assert probe_steps(it, fmt)[:-1] == trace[:-1]
            assert probe_steps(it, fmt)[-1] == f"answer: {it.probe.answer}"


def test_rule_format_is_checked():
    from unisandbox.models.sandbox.mixture import trace_steps
    from unisandbox.tasks.mapping import mapping_items

    with pytest.raises(ValueError, match="rule_format"):
        MixtureConfig(rule_format="colon")
    with pytest.raises(ValueError, match="rule_format"):
        trace_steps(mapping_items(3, 1, 1, "train")[0], "colon")


def test_math_trace_is_the_items_steps():
    from unisandbox.models.sandbox.mixture import trace_steps
    from unisandbox.tasks.math import math_items

    it = math_items(3, 2, 1, "train")[0]
    assert trace_steps(it) == list(it.steps)


def test_lookup_stage_pool_is_mapping_understanding_at_its_levels(built):
    from unisandbox.models.sandbox.train import TrainConfig, lookup_pool
    from unisandbox.tasks.mapping import mapping_items

    raw, codec, pools = built
    cfg = TrainConfig(mixture=MixtureConfig.quick(), lookup_levels=(1, 2), seed=0, lookup_steps=10)
    pool = lookup_pool(cfg, codec)
    n = MixtureConfig.quick().mapping_items
    assert len(pool) == 2 * 2 * (n[1] + n[2])  # 2 items per pair, probe and prompt sequence each
    assert all(s.kind == "und" and not any(s.cells) for s in pool)
    # The same sequences the und pool holds for those items: the stage adds focus, not new data.
    und = {s.ids for s in pools["und"]}
    assert all(s.ids in und for s in pool)
    sep = codec.special(SEP)

    def head(question: str) -> tuple[int, ...]:
        ids = codec.understanding(question, ["answer: x"]).ids
        return tuple(ids[: ids.index(sep)])

    heads = {tuple(s.ids[: s.ids.index(sep)]) for s in pool}
    assert all(head(it.probe.question) in heads for it in mapping_items(cfg.seed + 1000, 1, n[1], "train"))
    assert not any(
        head(it.probe.question) in heads for it in mapping_items(cfg.seed + 1000, 3, n[3], "train")
    )


def test_lookup_stage_trains_the_network_first(built):
    import torch

    from unisandbox.models.sandbox import train as T
    from unisandbox.models.sandbox.model import GPT, GPTConfig

    _, codec, _ = built
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(vocab_size=codec.vocab_size, block_size=192, n_layer=1, n_head=2, n_embd=32, rope=True)
    )
    before = [p.detach().clone() for p in model.parameters()]
    logged: list[dict] = []
    cfg = T.TrainConfig(mixture=MixtureConfig.quick(), lookup_steps=3, batch_size=4, log_every=1, warmup=1)
    T._lookup_stage(model, cfg, codec, "cpu", logged.append)
    assert [r["stage"] for r in logged] == ["lookup"] * 3
    assert all(set(r["loss_by_kind"]) == {"lookup"} for r in logged)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    logged.clear()
    T._lookup_stage(model, T.TrainConfig(mixture=MixtureConfig.quick()), codec, "cpu", logged.append)
    assert logged == []  # lookup_steps=0 (the profiles' setting): no stage
