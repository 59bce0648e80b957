"""A real HTTP server on localhost that speaks the OpenAI chat-completions protocol (for tests and benches).

It answers from the sandbox judge (so captions are right for sandbox images) and injects failures on
demand: random HTTP 500s, 429 with Retry-After, slow replies, empty and malformed replies, and being
killed (in-flight requests dropped, new connections refused) and restarted on the same port.

>>> import numpy as np
>>> from unisandbox.judges.vlm import VLMJudge
>>> from unisandbox.world.render import encode_png, render_scene
>>> png = encode_png(render_scene("cup", 3, np.random.default_rng(0)))
>>> with FakeVLM(Faults(rate_limit_first=1, retry_after="0")) as server:  # a 429 first, then the caption
...     judge = VLMJudge(model="fake", base_url=server.base_url, use_cache=False, backoff=0.01)
...     text, requests = judge.caption([png])[0].text, server.log.requests
>>> text, requests
('3 cups', 2)
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from unisandbox.judges.sandbox import SandboxJudge


@dataclass
class Faults:
    """What the server does wrong. Per-image faults apply to the first `first_n` attempts per image."""

    fail_rate: float = 0.0
    """Probability of an HTTP 500 on any request (seeded)."""
    rate_limit_first: int = 0
    """Answer 429 with Retry-After to the first N attempts per image."""
    retry_after: str = "1"
    slow_first: int = 0
    """Sleep `slow_seconds` before answering the first N attempts per image."""
    slow_seconds: float = 0.0
    empty_first: int = 0
    """Answer an empty message content to the first N attempts per image."""
    malformed_first: int = 0
    """Answer a body that is not a chat completion to the first N attempts per image."""
    latency: float = 0.0
    """Fixed delay before every answer."""
    prefix: str = ""
    """Text put before the caption in every reply (exercises the reply parser)."""
    seed: int = 0
    keep_alive: bool = False
    """Serve HTTP/1.1 keep-alive connections (as real servers do); off by default so that `kill` cuts
    every client off at once."""
    fixed_reply: str | None = None
    """Answer this caption to every request instead of reading the image (costs the server no CPU, like
    a real server whose model runs on an accelerator; used by the throughput bench)."""


@dataclass
class Log:
    """What the server saw."""

    requests: int = 0
    per_image: Counter[str] = field(default_factory=Counter)
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    auth: set[str | None] = field(default_factory=set)
    models: set[str | None] = field(default_factory=set)


class FakeVLM:
    """Start with `start()`, stop with `kill()`, bring back on the same port with `start()`."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.log = Log()
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = _free_port()
        self.alive = False
        self._judge: SandboxJudge | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeVLM:
        from unisandbox.judges.sandbox import SandboxJudge

        self._judge = self._judge or SandboxJudge()
        handler = _make_handler(self)
        self._server = _Server(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.alive = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def kill(self) -> None:
        self.alive = False
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeVLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()

    # Called by the handler.
    def respond(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes | None]:
        url = body["messages"][0]["content"][1]["image_url"]["url"]
        png = base64.b64decode(url.split(",", 1)[1])
        sha = hashlib.sha256(png).hexdigest()
        f = self.faults
        with self._lock:
            self.log.requests += 1
            self.log.per_image[sha] += 1
            self.log.times[sha].append(time.monotonic())
            self.log.models.add(body.get("model"))
            n = self.log.per_image[sha]
            fail = self._rng.random() < f.fail_rate
        if f.latency:
            time.sleep(f.latency)
        if n <= f.slow_first:
            time.sleep(f.slow_seconds)
        if not self.alive:
            return 0, {}, None  # killed while this request was in flight: drop the connection
        if fail:
            return 500, {}, b'{"error": "injected"}'
        if n <= f.rate_limit_first:
            return 429, {"Retry-After": f.retry_after}, b'{"error": "rate limited"}'
        if n <= f.empty_first:
            return 200, {}, _completion("")
        if n <= f.malformed_first:
            return 200, {}, b'{"id": "x", "object": "chat.completion"'
        if f.fixed_reply is not None:
            return 200, {}, _completion(f.fixed_reply)
        from unisandbox.world.render import decode_png

        assert self._judge is not None, "start() loads the judge before the server answers"
        caption = self._judge.caption_array(np.asarray(decode_png(png)))
        return 200, {}, _completion(f.prefix + caption)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 refuses connections under 16 concurrent clients
    daemon_threads = True


def _completion(content: str) -> bytes:
    return json.dumps(
        {
            "id": "cmpl-test",
            "object": "chat.completion",
            "model": "fake",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
            ],
        }
    ).encode()


def _make_handler(server: FakeVLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0 is one request per connection, so a kill really cuts clients off.
        protocol_version = "HTTP/1.1" if server.faults.keep_alive else "HTTP/1.0"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            with server._lock:
                server.log.auth.add(self.headers.get("Authorization"))
            status, headers, payload = server.respond(body)
            if status == 0:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload or b"")))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

    return Handler


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    """Serve until killed: `python -m unisandbox.judges.fake_server --port 8123 --latency 0.2`."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--fail-rate", type=float, default=0.0)
    ap.add_argument("--fixed-reply", default=None, help="Answer this caption without reading images.")
    ap.add_argument("--keep-alive", action="store_true", help="Serve HTTP/1.1 keep-alive connections.")
    args = ap.parse_args(argv)
    server = FakeVLM(
        Faults(
            latency=args.latency,
            fail_rate=args.fail_rate,
            fixed_reply=args.fixed_reply,
            keep_alive=args.keep_alive,
        )
    )
    server.port = args.port
    server.start()
    print(f"serving {server.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.kill()


if __name__ == "__main__":
    main()
