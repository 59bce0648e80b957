"""VLM judge throughput against a localhost OpenAI-compatible server with a fixed reply latency.

Target: with 200 ms latency and concurrency 16, at least 90% of the bound 16 / 0.2 s = 80 images/s.

Usage: python bench/bench_judge_vlm.py [--n 400] [--latency 0.2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int, latency: float) -> subprocess.Popen:
    # The server runs in its own process (this script with --serve) so that its work does not share the
    # client's interpreter lock. It is asyncio-based with HTTP/1.1 keep-alive, like the servers that host
    # VLMs (vLLM and SGLang answer through uvicorn): the thread-per-connection test server of
    # judges/fake_server.py, built for fault injection, costs ~3 ms of serial work per request, which under
    # a fixed latency all 16 requests pay in lockstep, so it measures itself rather than the client.
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith("serving")
    return proc


def _reply() -> bytes:
    body = json.dumps(
        {
            "id": "bench",
            "object": "chat.completion",
            "model": "fake",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "3 apples"}}
            ],
        }
    ).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def serve(port: int, latency: float) -> None:
    """A minimal OpenAI-compatible chat endpoint: every POST is answered "3 apples" after `latency` s."""
    reply = _reply()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                await asyncio.sleep(latency)
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def run() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=128)
        print("serving", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


def main() -> None:
    from unisandbox.judges.vlm import VLMJudge
    from unisandbox.world import render, vocab

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        serve(args.serve, args.latency)
        return
    rng = np.random.default_rng(0)
    names = [x.singular for x in vocab.OBJECTS]
    images = [
        render.encode_png(render.render_scene(names[i % len(names)], 1 + i % 9, rng)) for i in range(args.n)
    ]
    port = _free_port()
    proc = _serve(port, args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            judge = VLMJudge(
                model="fake",
                base_url=f"http://127.0.0.1:{port}/v1",
                api_key="bench",
                cache_dir=tmp,
                concurrency=args.concurrency,
                timeout=30,
            )
            judge.caption(images[: args.concurrency])  # warm-up
            t = time.perf_counter()
            caps = judge.caption(images[args.concurrency :])
            dt = time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    n = len(caps)
    errors = sum(c.error is not None for c in caps)
    rate = n / dt
    if args.latency <= 0:
        print(f"{n} images in {dt:.2f} s: {rate:.1f} images/s with no server latency; errors {errors}")
        return
    bound = args.concurrency / args.latency
    print(
        f"{n} images in {dt:.2f} s: {rate:.1f} images/s; bound {bound:.1f}/s; "
        f"{rate / bound:.1%} of bound (target >= 90%); errors {errors}"
    )


if __name__ == "__main__":
    main()
