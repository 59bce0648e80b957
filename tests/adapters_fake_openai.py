"""A real HTTP server on localhost that speaks the two OpenAI endpoints the adapters use (test helper).

POST /v1/chat/completions  -> a reply chosen by `FakeOpenAI.reply(prompt)`
POST /v1/images/generations -> a PNG drawn with PIL from the prompt and the seed, as b64_json

Every request is kept (path, headers, JSON body) so tests can check what the adapters sent. A prompt
containing FAIL gets HTTP 500; one containing NOIMAGE gets a 200 whose b64_json is not an image.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw


def draw(prompt: str, seed: int | None, size: int = 64) -> bytes:
    """A PNG whose background colour comes from the prompt and seed, with one dot per number in it."""
    h = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()
    img = Image.new("RGB", (size, size), (h[0], h[1], h[2]))
    d = ImageDraw.Draw(img)
    m = re.search(r"\d+", prompt)
    for k in range(int(m.group()) if m else 0):
        x = 4 + (k % 6) * 10
        y = 4 + (k // 6) * 10
        d.ellipse([x, y, x + 6, y + 6], fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def default_reply(prompt: str) -> str:
    if "Request:" in prompt:
        request = prompt.rsplit("Request:", 1)[1].strip()
        return f"The request is: {request}\nSo the image shows two cups.\nPrompt: 2 cups"
    return "8 / 4 = 2\nAnswer: 2"


class FakeOpenAI:
    """Start with `with FakeOpenAI() as server:`; `server.base_url` ends in /v1."""

    def __init__(self, reply=default_reply):
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                if self.path.endswith("/chat/completions"):
                    prompt = body["messages"][-1]["content"]
                    if "FAIL" in prompt:
                        return self._send(500, {"error": {"message": "injected failure"}})
                    text = outer.reply(prompt)
                    return self._send(
                        200,
                        {
                            "id": "chat-1",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text},
                                }
                            ],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                        },
                    )
                if self.path.endswith("/images/generations"):
                    prompt = body["prompt"]
                    if "FAIL" in prompt:
                        return self._send(500, {"error": {"message": "injected failure"}})
                    b64 = (
                        base64.b64encode(b"not a png").decode()
                        if "NOIMAGE" in prompt
                        else base64.b64encode(draw(prompt, body.get("seed"))).decode()
                    )
                    return self._send(200, {"created": 0, "data": [{"b64_json": b64}]})
                self._send(404, {"error": {"message": f"no route {self.path}"}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
