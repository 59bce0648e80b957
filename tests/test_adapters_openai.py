"""The openai adapter against a real HTTP server started on localhost by the test."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from adapters_fake_openai import FakeOpenAI, draw
from adapters_tiny import make_item
from unisandbox.models.base import CapabilityError, UnifiedModel, require
from unisandbox.registry import load_model
from unisandbox.tasks.base import InputError

SECRET = "sk-test-model-secret-456"


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI() as s:
        yield s


@pytest.fixture
def env(monkeypatch):
    for name in (
        "UNISANDBOX_MODEL_BASE_URL",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "UNISANDBOX_MODEL_IMAGE_BASE_URL",
        "UNISANDBOX_MODEL_CHAT_BASE_URL",
        "UNISANDBOX_MODEL_IMAGE_API_KEY",
        "UNISANDBOX_MODEL_CHAT_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UNISANDBOX_MODEL_API_KEY", SECRET)


def test_generate_normal_sends_prompt_seed_and_key(server, env):
    model = load_model("openai:unified-test", base_url=server.base_url, max_retries="0")
    assert isinstance(model, UnifiedModel) and model.capabilities.understands and model.capabilities.thinks
    items = [
        make_item(1, "3 cups"),
        make_item(2, "FAIL now"),
        make_item(3, "NOIMAGE"),
        make_item(4, "5 keys"),
    ]
    n0 = len(server.requests)
    out = model.generate(items, "normal", [101, 102, 103, 104])
    assert len(out) == 4
    ok, failed, not_png, ok2 = out
    expected = Image.open(io.BytesIO(draw("3 cups", 101))).convert("RGB")
    assert ok.image.tobytes() == expected.tobytes() and ok.error is None
    assert ok2.image is not None and ok2.image.tobytes() != ok.image.tobytes()
    assert failed.image is None and "image request failed" in failed.error and "500" in failed.error
    assert not_png.image is None and "not an image" in not_png.error
    sent = [r for r in server.requests[n0:] if r["path"].endswith("/images/generations")]
    assert sorted((r["body"]["prompt"], r["body"]["seed"]) for r in sent) == sorted(
        [("3 cups", 101), ("FAIL now", 102), ("NOIMAGE", 103), ("5 keys", 104)]
    )
    assert all(
        r["body"]["model"] == "unified-test" and r["body"]["response_format"] == "b64_json" for r in sent
    )
    assert all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in sent)
    assert SECRET not in json.dumps(model.describe())


def test_think_mode_then_draws_the_rewritten_prompt(server, env):
    model = load_model("openai:unified-test", base_url=server.base_url, max_retries="0")
    (g,) = model.generate([make_item(1, "Generate as many cups as the result of 8 / 4.")], "think", [7])
    assert g.rewritten_prompt == "2 cups" and g.extra["rewrite_parsed"] is True
    assert "8 / 4" in g.text
    assert g.image.tobytes() == Image.open(io.BytesIO(draw("2 cups", 7))).convert("RGB").tobytes()
    assert model.describe()["decoupled_think"] is False
    assert load_model("openai:img", chat_model="chat", base_url=server.base_url).describe()["decoupled_think"]


def test_understand_parses_answers_in_order(server, env):
    replies = {"q1": "Let me see.\nAnswer: 2", "q2": "chairs", "q3": "**Answer:** lemons"}

    with FakeOpenAI(reply=lambda p: replies[p.split("\n")[0]]) as s:
        model = load_model("openai:unified-test", base_url=s.base_url, concurrency="3")
        out = model.understand(["q1", "q2", "q3"])
        assert [u.answer for u in out] == ["2", "chairs", "lemons"]
        assert out[0].text == replies["q1"]
        chats = [r["body"] for r in s.requests]
        assert all(b["temperature"] == 0.0 for b in chats)
        assert all("Answer: <answer>" in b["messages"][0]["content"] for b in chats)


def test_understand_failure_is_loud(server, env):
    model = load_model("openai:unified-test", base_url=server.base_url, max_retries="0")
    with pytest.raises(RuntimeError, match="question 1 failed"):
        model.understand(["fine", "FAIL"])


def test_no_chat_model_refuses_understanding_and_think(server, env):
    model = load_model("openai:dall-e", chat_model="none", base_url=server.base_url, send_seed="false")
    with pytest.raises(CapabilityError):
        require(model, mode="think")
    with pytest.raises(CapabilityError):
        require(model, understanding=True)
    n0 = len(server.requests)
    (g,) = model.generate([make_item(1, "4 stars")], "normal", [3])
    assert g.image is not None
    assert "seed" not in server.requests[n0]["body"]


def test_bad_options(env):
    with pytest.raises(InputError, match="needs a model name"):
        load_model("openai")
    with pytest.raises(InputError, match="'send_seed'"):
        load_model("openai:m", send_seed="maybe")
    with pytest.raises(InputError, match="unknown option"):
        load_model("openai:m", bse_url="x")


def test_key_from_openai_fallback(server, monkeypatch):
    monkeypatch.delenv("UNISANDBOX_MODEL_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    monkeypatch.setenv("UNISANDBOX_MODEL_BASE_URL", server.base_url)
    model = load_model("openai:unified-test")
    n0 = len(server.requests)
    model.generate([make_item(1, "1 cup")], "normal", [1])
    assert server.requests[n0]["headers"]["authorization"] == "Bearer sk-fallback"
    assert model.describe()["endpoint"]["base_url"] == server.base_url


def test_images_and_text_on_separate_servers_with_separate_keys(env, monkeypatch):
    """An image server and a chat server (e.g. a diffusion server and vLLM), each with its own key."""
    monkeypatch.setenv("UNISANDBOX_MODEL_CHAT_API_KEY", "sk-chat-only")
    with FakeOpenAI() as images, FakeOpenAI() as chat:
        model = load_model(
            "openai:flux-server",
            image_base_url=images.base_url,
            chat_base_url=chat.base_url,
            chat_model="qwen-chat",
            max_retries="0",
        )
        (g,) = model.generate([make_item(1, "Generate as many cups as the result of 8 / 4.")], "think", [7])
        assert g.rewritten_prompt == "2 cups"
        assert g.image.tobytes() == Image.open(io.BytesIO(draw("2 cups", 7))).convert("RGB").tobytes()
        assert model.understand(["What is 8 / 4?"])[0].answer == "2"
        assert {r["path"] for r in images.requests} == {"/v1/images/generations"}
        assert {r["path"] for r in chat.requests} == {"/v1/chat/completions"}
        assert {r["body"]["model"] for r in images.requests} == {"flux-server"}
        assert {r["body"]["model"] for r in chat.requests} == {"qwen-chat"}
        assert {r["headers"]["authorization"] for r in images.requests} == {f"Bearer {SECRET}"}
        assert {r["headers"]["authorization"] for r in chat.requests} == {"Bearer sk-chat-only"}
        d = model.describe()
        assert d["decoupled_think"] is True
        assert (
            d["endpoint"]["base_url"] == images.base_url and d["chat_endpoint"]["base_url"] == chat.base_url
        )
        assert d["options"]["chat_base_url"] == chat.base_url
        assert SECRET not in json.dumps(d) and "sk-chat-only" not in json.dumps(d)


def test_same_model_name_on_two_servers_is_decoupled(env, monkeypatch):
    with FakeOpenAI() as images, FakeOpenAI() as chat:
        monkeypatch.setenv("UNISANDBOX_MODEL_IMAGE_BASE_URL", images.base_url)
        monkeypatch.setenv("UNISANDBOX_MODEL_CHAT_BASE_URL", chat.base_url)
        model = load_model("openai:same-name", max_retries="0")
        assert model.describe()["decoupled_think"] is True
        model.understand(["q"])
        model.generate([make_item(1, "1 cup")], "normal", [1])
        assert [r["path"] for r in chat.requests] == ["/v1/chat/completions"]
        assert [r["path"] for r in images.requests] == ["/v1/images/generations"]
        # An explicit base_url puts both sides on one server again.
        assert load_model("openai:same-name", base_url=images.base_url).describe()["decoupled_think"] is False
