"""The diffusers adapter on a tiny randomly initialised Stable Diffusion pipeline built, saved and reloaded here."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from adapters_fake_openai import FakeOpenAI  # noqa: E402
from adapters_tiny import build_tiny_pipeline, make_item  # noqa: E402
from unisandbox.models.base import CapabilityError, UnifiedModel, require  # noqa: E402
from unisandbox.registry import load_model  # noqa: E402
from unisandbox.tasks.base import InputError  # noqa: E402

SECRET = "sk-test-rewriter-secret-123"


@pytest.fixture(scope="module")
def pipe_dir(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny-sd")
    build_tiny_pipeline(root)
    return root / "pipe"


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI() as s:
        yield s


@pytest.fixture
def no_rewriter_env(monkeypatch):
    for name in (
        "UNISANDBOX_REWRITER_BASE_URL",
        "UNISANDBOX_REWRITER_MODEL",
        "UNISANDBOX_REWRITER_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_MODEL",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


OPTS = dict(steps="2", guidance="3.0", height="16", width="16")


def test_normal_mode_is_seeded_and_batch_independent(pipe_dir, no_rewriter_env):
    model = load_model(f"diffusers:{pipe_dir}", batch_size="1", **OPTS)
    assert isinstance(model, UnifiedModel)
    items = [make_item(1, "3 cups"), make_item(2, "2 apples"), make_item(3, "a kite")]
    a = model.generate(items, "normal", [1, 2, 3])
    assert all(g.image is not None and g.image.size == (16, 16) and g.error is None for g in a)
    assert model.generate(items[:1], "normal", [1])[0].image.tobytes() == a[0].image.tobytes()
    assert model.generate(items[:1], "normal", [7])[0].image.tobytes() != a[0].image.tobytes()
    batched = load_model(f"diffusers:{pipe_dir}", batch_size="3", **OPTS)
    b = batched.generate(list(reversed(items)), "normal", [3, 2, 1])
    for x, y in zip(a, reversed(b), strict=True):
        assert x.image.tobytes() == y.image.tobytes()


def test_without_rewriter_think_and_understanding_are_refused(pipe_dir, no_rewriter_env):
    model = load_model(f"diffusers:{pipe_dir}", **OPTS)
    assert not model.capabilities.understands and not model.capabilities.thinks
    with pytest.raises(CapabilityError, match="think mode"):
        require(model, mode="think")
    with pytest.raises(CapabilityError, match="understanding"):
        require(model, understanding=True)
    with pytest.raises(CapabilityError, match="rewriter_model"):
        model.generate([make_item(1, "3 cups")], "think", [1])
    d = model.describe()
    assert d["decoupled_think"] is False and d["pipeline_class"] == "StableDiffusionPipeline"
    json.dumps(d)


def test_think_mode_rewrites_through_the_endpoint(pipe_dir, server, monkeypatch, no_rewriter_env):
    monkeypatch.setenv("UNISANDBOX_REWRITER_API_KEY", SECRET)
    model = load_model(
        f"diffusers:{pipe_dir}",
        rewriter_base_url=server.base_url,
        rewriter_model="qwen-test",
        rewriter_max_retries="0",
        **OPTS,
    )
    assert model.capabilities.thinks and not model.capabilities.understands
    items = [make_item(1, "Generate as many cups as the result of 8 / 4."), make_item(2, "FAIL please")]
    n_before = len(server.requests)
    good, bad = model.generate(items, "think", [10, 11])
    assert good.image is not None and good.rewritten_prompt == "2 cups" and good.extra["rewrite_parsed"]
    assert "8 / 4" in good.text and good.extra["decoupled_think"] is True
    # The image is the rewritten prompt's image: same as drawing "2 cups" in normal mode with that seed.
    direct = model.generate([make_item(9, "2 cups")], "normal", [10])[0]
    assert direct.image.tobytes() == good.image.tobytes()
    # A failed rewrite is an error on that sample only, never a silent drop.
    assert bad.image is None and "rewriter failed" in bad.error
    sent = [r for r in server.requests[n_before:] if r["path"].endswith("/chat/completions")]
    assert {r["body"]["model"] for r in sent} == {"qwen-test"}
    assert all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in sent)
    assert sorted(r["body"]["seed"] for r in sent) == [10, 11]
    d = json.dumps(model.describe())
    assert SECRET not in d and "qwen-test" in d and '"decoupled_think": true' in d


def test_rewriter_from_environment(pipe_dir, server, monkeypatch, no_rewriter_env):
    monkeypatch.setenv("UNISANDBOX_REWRITER_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    model = load_model(f"diffusers:{pipe_dir}", **OPTS)
    assert model.capabilities.thinks
    assert model.describe()["rewriter"]["model"] == "env-model"


def test_bad_inputs(tmp_path, pipe_dir, no_rewriter_env):
    with pytest.raises(InputError, match="no model_index.json"):
        load_model(f"diffusers:{tmp_path}")
    with pytest.raises(InputError, match="'steps'"):
        load_model(f"diffusers:{pipe_dir}", steps="many")
    with pytest.raises(InputError, match="unknown option"):
        load_model(f"diffusers:{pipe_dir}", rewriter="x")


def test_model_cpu_offload_installs_hooks_and_keeps_images(pipe_dir, no_rewriter_env):
    """diffusers' model offload hooks (here with the CPU as the 'GPU') move weights, never change an image."""
    plain = load_model(f"diffusers:{pipe_dir}", **OPTS)
    model = load_model(f"diffusers:{pipe_dir}", offload="model", **OPTS)
    assert model.describe()["options"]["offload"] == "model"
    assert hasattr(model.pipe.unet, "_hf_hook") and hasattr(model.pipe.text_encoder, "_hf_hook")
    items = [make_item(1, "3 cups"), make_item(2, "2 apples")]
    a, b = plain.generate(items, "normal", [1, 2]), model.generate(items, "normal", [1, 2])
    assert [g.image.tobytes() for g in a] == [g.image.tobytes() for g in b]
    with pytest.raises(InputError, match="'offload'"):
        load_model(f"diffusers:{pipe_dir}", offload="gpu")


def test_sequential_cpu_offload_installs_per_layer_hooks(pipe_dir, no_rewriter_env):
    """Sequential offload hooks every leaf module. Drawing needs a real GPU (accelerate cannot offload
    from the CPU to the CPU), so this test stops at the hooks."""
    model = load_model(f"diffusers:{pipe_dir}", offload="sequential", **OPTS)
    leaves = [
        m for m in model.pipe.unet.modules() if not list(m.children()) and list(m.parameters(recurse=False))
    ]
    assert leaves and all(getattr(m._hf_hook, "offload", False) for m in leaves)
    assert model.describe()["options"]["offload"] == "sequential"
