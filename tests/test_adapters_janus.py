"""The janus adapter on a tiny randomly initialised Janus built here, saved, and loaded back on CPU."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from adapters_tiny import build_tiny_janus, make_item  # noqa: E402
from unisandbox.models.base import CapabilityError, Generation, UnifiedModel, require  # noqa: E402
from unisandbox.registry import load_model  # noqa: E402
from unisandbox.tasks.base import InputError  # noqa: E402


@pytest.fixture(scope="module")
def janus_dir(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("tiny-janus")
    build_tiny_janus(path)
    return path


@pytest.fixture(scope="module")
def model(janus_dir):
    return load_model(f"janus:{janus_dir}", max_new_tokens="12", think_max_new_tokens="24")


def test_loads_through_registry_and_describes(model, janus_dir):
    assert isinstance(model, UnifiedModel)
    assert model.capabilities.understands and model.capabilities.thinks
    d = model.describe()
    assert d["kind"] == "janus" and d["path"] == str(janus_dir) and d["image_tokens"] == 16
    assert d["options"]["max_new_tokens"] == 12 and d["options"]["guidance"] == 5.0
    json.dumps(d)
    require(model, mode="think", understanding=True)
    with pytest.raises(CapabilityError):
        require(model, training=True)


def test_generate_normal_is_seeded_and_batch_independent(janus_dir, model):
    items = [make_item(1, "Generate as many cups as the result of 8 / 4."), make_item(2, "3 apples")]
    a = model.generate(items, "normal", [11, 12])
    assert [type(g) for g in a] == [Generation, Generation]
    assert all(g.image is not None and g.image.size == (16, 16) and g.error is None for g in a)
    again = model.generate(items, "normal", [11, 12])
    assert [g.image.tobytes() for g in again] == [g.image.tobytes() for g in a]
    other_seed = model.generate(items[:1], "normal", [99])
    assert other_seed[0].image.tobytes() != a[0].image.tobytes()
    # The same sample drawn alone or beside another prompt, in a batch of two: same pixels.
    batched = load_model(f"janus:{janus_dir}", batch_size="2")
    b = batched.generate(list(reversed(items)), "normal", [12, 11])
    assert b[1].image.tobytes() == a[0].image.tobytes()
    assert b[0].image.tobytes() == a[1].image.tobytes()


def test_think_mode_records_reasoning_and_rewritten_prompt(model):
    items = [make_item(1, "Generate as many cups as the result of 8 / 4.")]
    (g,) = model.generate(items, "think", [5])
    assert g.image is not None and g.image.size == (16, 16)
    # A random model writes no "Prompt:" line: the adapter must fall back to the whole reply and say so.
    assert g.extra["rewrite_parsed"] is False
    assert g.rewritten_prompt == (" ".join(g.text.split()) or items[0].prompt)


def test_understand_returns_one_answer_per_question_in_order(model):
    qs = ["What is 8 / 4?", "Which object does symbol A stand for?", "2+2?"]
    out = model.understand(qs)
    assert len(out) == 3
    for u in out:
        assert isinstance(u.answer, str) and isinstance(u.text, str)
    # Greedy decoding: asking again gives the same text, and asking alone gives the same as in a batch.
    assert [u.text for u in model.understand(qs)] == [u.text for u in out]
    assert model.understand(qs[1:2])[0].text == out[1].text


def test_bad_path_and_options_are_refused(tmp_path, janus_dir):
    with pytest.raises(InputError, match="needs a local directory"):
        load_model("janus")
    with pytest.raises(InputError, match="not a directory"):
        load_model(f"janus:{tmp_path / 'nope'}")
    with pytest.raises(InputError, match="no config.json"):
        load_model(f"janus:{tmp_path}")
    (tmp_path / "config.json").write_text('{"model_type": "multi_modality"}')
    with pytest.raises(InputError, match="not 'janus'.*convert"):
        load_model(f"janus:{tmp_path}")
    with pytest.raises(InputError, match="unknown option"):
        load_model(f"janus:{janus_dir}", guidence="3")
    with pytest.raises(InputError, match="'batch_size'"):
        load_model(f"janus:{janus_dir}", batch_size="zero")


def test_dtype_reaches_the_weights_on_this_transformers(janus_dir):
    """`dtype` is the keyword from transformers 4.56 on, `torch_dtype` before: either way the weights obey."""
    m = load_model(f"janus:{janus_dir}", dtype="bfloat16")
    assert {p.dtype for p in m.model.parameters()} == {torch.bfloat16}
    assert load_model(f"janus:{janus_dir}", dtype="float32").model.dtype == torch.float32


def test_dtype_keyword_by_version():
    from unisandbox.models.janus import dtype_kwarg

    assert dtype_kwarg("bf16", "4.52.1") == {"torch_dtype": "bf16"}
    assert dtype_kwarg("bf16", "4.55.4") == {"torch_dtype": "bf16"}
    assert dtype_kwarg("bf16", "4.56.0") == {"dtype": "bf16"}
    assert dtype_kwarg("bf16", "5.0.0.dev0") == {"dtype": "bf16"}


def test_image_generation_needs_a_numeric_max_length(model, monkeypatch):
    """Janus' image loop computes max(max_length, ...): the config the adapter passes must hold a number."""
    gc = model._image_config()
    assert isinstance(gc.max_length, int) and gc.max_length >= 16 and gc.guidance_scale == 1
    assert model._config(max_new_tokens=5).max_length is None
