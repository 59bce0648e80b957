"""The VLM judge's circuit breaker, its pre-run check and its tolerant cache (fake OpenAI server)."""

from __future__ import annotations

import time

import pytest

from unisandbox.judges.fake_server import FakeVLM, Faults, _free_port
from unisandbox.judges.vlm import JudgeConfigError, JudgeUnavailable, VLMJudge
from unisandbox.world.render import encode_png, render_answer


def _images(n: int) -> list[bytes]:
    import numpy as np

    from unisandbox.tasks.base import CountAnswer

    rng = np.random.default_rng(0)
    return [encode_png(render_answer(CountAnswer(count=1 + i % 4, object="apple"), rng)) for i in range(n)]


def _judge(base_url: str, tmp_path, **kw) -> VLMJudge:
    opts = {"model": "m", "base_url": base_url, "cache_dir": tmp_path, "backoff": 0.01, "backoff_max": 0.05}
    return VLMJudge(**{**opts, **kw})


def test_breaker_trips_after_n_failures_spanning_the_window_and_stays_open(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens: every call is refused at once
    judge = _judge(url, tmp_path, retries=3, concurrency=2, max_consecutive_failures=5, breaker_seconds=0.3)
    start = time.monotonic()
    with pytest.raises(JudgeUnavailable, match="failed .* calls in a row") as e:
        for _ in range(100):
            judge.caption(_images(2))
    assert time.monotonic() - start >= 0.3
    assert e.value.exit_code == 3 and url in str(e.value)
    with pytest.raises(JudgeUnavailable):  # open for good: no further call is made
        judge.caption(_images(1))


def test_a_short_outage_does_not_trip_it(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    judge = _judge(url, tmp_path, retries=1, max_consecutive_failures=2, breaker_seconds=60)
    caps = judge.caption(_images(3))  # all fail, but within a window shorter than breaker_seconds
    assert all(c.error for c in caps)


def test_replies_outside_the_grammar_do_not_count(tmp_path):
    with FakeVLM(Faults(fixed_reply="I see something nice")) as server:
        judge = _judge(server.base_url, tmp_path, retries=2, max_consecutive_failures=2, breaker_seconds=0)
        caps = judge.caption(_images(4))
    assert all(c.error and "grammar" in c.error for c in caps)  # errors per image, the judge still runs


def test_check_refuses_an_endpoint_that_is_not_there(tmp_path):
    with pytest.raises(JudgeConfigError, match="does not answer"):
        _judge(f"http://127.0.0.1:{_free_port()}/v1", tmp_path).check()
    with FakeVLM() as server:
        _judge(server.base_url, tmp_path).check()  # any HTTP answer shows a server is there


def test_bad_options_name_the_option(monkeypatch):
    with pytest.raises(JudgeConfigError, match="timeout=-5"):
        VLMJudge(model="m", timeout=-5)
    for name in ("UNISANDBOX_JUDGE_MODEL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(JudgeConfigError, match="--judge-option model="):
        VLMJudge(base_url="http://127.0.0.1:9/v1")


def test_a_damaged_cache_line_costs_a_call_not_the_run(tmp_path):
    images = _images(2)
    with FakeVLM() as server:
        first = _judge(server.base_url, tmp_path).caption(images)
        cache = tmp_path / "vlm_captions.jsonl"
        lines = cache.read_text().splitlines()
        cache.write_text(lines[0][:20] + "\n" + "\n".join(lines[1:]) + "\n")
        again = _judge(server.base_url, tmp_path).caption(images)
    assert [c.text for c in again] == [c.text for c in first]
