import base64
import hashlib
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from unisandbox.judges.fake_server import FakeVLM, Faults
from unisandbox.judges.sandbox import SandboxJudge
from unisandbox.judges.vlm import (
    VLMJudge,
    build_messages,
    load_prompt,
    parse_reply,
    prompt_hash,
    render_caption_prompt,
)
from unisandbox.registry import load_judge
from unisandbox.world import render, vocab

GOLDEN = Path(__file__).with_name("judges_golden_caption_v1.txt")
KEY = "sk-test-Zq8VERYSECRETKEY42"


def _images(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    names = [x.singular for x in vocab.OBJECTS]
    out = []
    for i in range(n):
        out.append(render.encode_png(render.render_scene(names[i % len(names)], 1 + i % 9, rng, "grid")))
    return out


def _truth(images: list[bytes]) -> list[str]:
    return [c.text for c in SandboxJudge().caption(images)]


def _judge(server: FakeVLM, tmp_path: Path, **kw) -> VLMJudge:
    opts = {
        "model": "fake-vl",
        "base_url": server.base_url,
        "api_key": KEY,
        "cache_dir": tmp_path / "cache",
        "timeout": 2.0,
        "retries": 4,
        "backoff": 0.05,
        "backoff_max": 2.0,
    }
    opts.update(kw)
    return VLMJudge(**opts)


# --- prompts and parser (golden) -------------------------------------------------------------------


def test_rendered_prompt_is_golden():
    name, template = load_prompt("caption_v1")
    text = render_caption_prompt(template)
    assert name == "caption_v1"
    assert text == GOLDEN.read_text(encoding="utf-8")
    for noun in vocab.ALL_NOUNS:
        assert noun.singular in text
    assert prompt_hash(text) == hashlib.sha256(GOLDEN.read_bytes()).hexdigest()


def test_request_body_is_golden():
    png = render.encode_png(render.blank())
    msgs = build_messages("PROMPT", png)
    assert msgs == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "PROMPT"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
                },
            ],
        }
    ]


@pytest.mark.parametrize(
    "reply,caption",
    [
        ("3 apples", "3 apples"),
        ("3 apples.", "3 apples"),
        ("Caption: 2 cups", "2 cups"),
        ("```\nPerson: dark; red; kid; female\n```", "Person: dark; red; kid; female"),
        ("I count the shapes carefully.\nThere are three.\n3 stars", "3 stars"),
        ("**Fruit: banana**", "Fruit: banana"),
        ('"Error"', "Error"),
        ("", None),
        ("   ", None),
        (None, None),
        ("I see some apples", None),
        ("Person: dark; red; kid", None),
    ],
)
def test_reply_parser_golden(reply, caption):
    assert parse_reply(reply) == caption


def test_config_from_environment_and_describe(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://fallback:1/v1")
    monkeypatch.setenv("UNISANDBOX_JUDGE_MODEL", "m-env")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("UNISANDBOX_JUDGE_BASE_URL", raising=False)
    monkeypatch.delenv("UNISANDBOX_JUDGE_API_KEY", raising=False)
    j = load_judge("vlm", cache_dir=tmp_path)
    d = j.describe()
    assert d["model"] == "m-env" and d["base_url"] == "http://fallback:1/v1"
    assert d["sampling"] == {"temperature": 0.0, "max_tokens": 64} and d["concurrency"] == 16
    assert len(d["prompt_sha256"]) == 64 and d["prompt"] == "caption_v1"
    assert KEY not in json.dumps(d) and KEY not in repr(j) and KEY not in json.dumps(j.settings())
    monkeypatch.setenv("UNISANDBOX_JUDGE_BASE_URL", "http://primary:2/v1")
    assert VLMJudge(cache_dir=tmp_path).describe()["base_url"] == "http://primary:2/v1"
    monkeypatch.delenv("UNISANDBOX_JUDGE_MODEL")
    with pytest.raises(ValueError, match="model"):
        VLMJudge(cache_dir=tmp_path)


def test_custom_prompt_file_changes_the_hash(tmp_path):
    p = tmp_path / "my_prompt.txt"
    p.write_text("Count the {objects}. One line.", encoding="utf-8")
    a = VLMJudge(model="m", base_url="http://x/v1", cache_dir=tmp_path)
    b = load_judge(f"vlm:{p}", model="m", base_url="http://x/v1", cache_dir=tmp_path)
    assert b.describe()["prompt"] == "my_prompt"
    assert a.describe()["prompt_sha256"] != b.describe()["prompt_sha256"]
    assert a.config.cache_hash() != b.config.cache_hash()


# --- against a real HTTP server ---------------------------------------------------------------------


def test_happy_path_cache_and_key_hygiene(tmp_path):
    images = _images(24)
    images.append(images[0])  # a duplicate costs no extra call
    truth = _truth(images)
    with FakeVLM(Faults(prefix="Caption: ")) as server:
        judge = _judge(server, tmp_path)
        caps = judge.caption(images)
        assert [c.text for c in caps] == truth
        assert all(c.error is None and not c.cached for c in caps)
        assert server.log.requests == 24
        assert server.log.auth == {f"Bearer {KEY}"} and server.log.models == {"fake-vl"}
        again = _judge(server, tmp_path).caption(images)  # a new judge reads the cache from disk
        assert [c.text for c in again] == truth and all(c.cached for c in again)
        assert server.log.requests == 24
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_injected_500s_are_retried_and_nothing_is_lost(tmp_path):
    images = _images(40, seed=1)
    truth = _truth(images)
    with FakeVLM(Faults(fail_rate=0.3, seed=3)) as server:
        judge = _judge(server, tmp_path, retries=8)
        caps = judge.caption(images)
    assert [c.text for c in caps] == truth
    assert server.log.requests > 40  # some were retried
    assert judge.last_stats.requests == server.log.requests


def test_429_honours_retry_after(tmp_path):
    images = _images(4, seed=2)
    with FakeVLM(Faults(rate_limit_first=1, retry_after="1")) as server:
        caps = _judge(server, tmp_path, backoff=0.01).caption(images)
        assert [c.text for c in caps] == _truth(images)
        for times in server.log.times.values():
            assert len(times) == 2 and times[1] - times[0] >= 0.95


def test_slow_empty_and_malformed_replies_are_retried(tmp_path):
    images = _images(6, seed=3)
    truth = _truth(images)
    for faults in (Faults(slow_first=1, slow_seconds=1.5), Faults(empty_first=1), Faults(malformed_first=2)):
        with FakeVLM(faults) as server:
            caps = _judge(server, tmp_path / str(id(faults)), timeout=0.5).caption(images)
        assert [c.text for c in caps] == truth, faults


def test_errors_after_retries_are_errors_not_wrong_and_rerun_calls_only_what_is_missing(tmp_path):
    images = _images(10, seed=4)
    truth = _truth(images)
    # Every image answers empty twice; with one retry (two attempts) the first run fails them all.
    with FakeVLM(Faults(empty_first=2)) as server:
        caps = _judge(server, tmp_path, retries=1).caption(images)
        assert all(c.text is None and c.error and "caption" in c.error for c in caps)
        assert server.log.requests == 20
        caps = _judge(server, tmp_path, retries=1).caption(images)
        assert [c.text for c in caps] == truth
        assert server.log.requests == 30
        caps = _judge(server, tmp_path, retries=1).caption(images)
        assert all(c.cached for c in caps) and server.log.requests == 30


def test_final_4xx_is_not_retried(tmp_path):
    with FakeVLM() as server:
        judge = _judge(server, tmp_path, base_url=server.base_url.replace("/v1", "/v2"))
        caps = judge.caption(_images(2))
    assert all(c.error and "HTTP 404" in c.error for c in caps)
    assert judge.last_stats.requests == 2


def test_server_killed_and_restarted_mid_run(tmp_path):
    images = _images(40, seed=5)
    truth = _truth(images)
    server = FakeVLM(Faults(latency=0.05)).start()
    judge = _judge(server, tmp_path, concurrency=4, retries=8, backoff=0.2, backoff_max=1.0)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("caps", judge.caption(images)))
    worker.start()
    deadline = time.monotonic() + 10
    while server.log.requests < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()
    time.sleep(1.0)
    server.start()
    worker.join(timeout=30)
    server.kill()
    assert not worker.is_alive()
    caps = result["caps"]
    assert len(caps) == 40
    assert [c.text for c in caps] == truth


def test_server_down_for_good_gives_errors_then_rerun_completes(tmp_path):
    images = _images(12, seed=6)
    truth = _truth(images)
    server = FakeVLM(Faults(latency=0.02)).start()
    judge = _judge(server, tmp_path, concurrency=2, retries=1, backoff=0.05)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("caps", judge.caption(images)))
    worker.start()
    while server.log.requests < 4:
        time.sleep(0.005)
    server.kill()
    worker.join(timeout=30)
    caps = result["caps"]
    done = [c for c in caps if c.error is None]
    failed = [c for c in caps if c.error is not None]
    assert failed and all(c.text is None for c in failed)
    assert all(c.text == t for c, t in zip(caps, truth, strict=True) if c.error is None)
    server.start()
    before = server.log.requests
    caps2 = _judge(server, tmp_path, retries=1).caption(images)
    server.kill()
    assert [c.text for c in caps2] == truth
    assert server.log.requests - before == len(failed)
    assert sum(c.cached for c in caps2) == len(done)
