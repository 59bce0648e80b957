"""VLM judge throughput against a localhost OpenAI-compatible server with a fixed reply latency.

Target: with 200 ms latency and concurrency 16, at least 90% of the bound 16 / 0.2 s = 80 images/s.

Usage: python bench/bench_judge_vlm.py [--n 400] [--latency 0.2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
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
    # The server runs in its own process so that its work does not share the client's interpreter lock,
    # and answers a fixed caption: a real server's model runs elsewhere, the client is what is measured.
    proc = subprocess.Popen([sys.executable, "-m", "unisandbox.judges.fake_server", "--port", str(port),
                             "--latency", str(latency), "--fixed-reply", "3 apples", "--keep-alive"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().startswith("serving")
    return proc


def main() -> None:
    from unisandbox.judges.vlm import VLMJudge
    from unisandbox.world import render, vocab

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    names = [x.singular for x in vocab.OBJECTS]
    images = [render.encode_png(render.render_scene(names[i % len(names)], 1 + i % 9, rng))
              for i in range(args.n)]
    port = _free_port()
    proc = _serve(port, args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            judge = VLMJudge(model="fake", base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", cache_dir=tmp,
                             concurrency=args.concurrency, timeout=30)
            judge.caption(images[:args.concurrency])  # warm-up
            t = time.perf_counter()
            caps = judge.caption(images[args.concurrency:])
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
    print(f"{n} images in {dt:.2f} s: {rate:.1f} images/s; bound {bound:.1f}/s; "
          f"{rate / bound:.1%} of bound (target >= 90%); errors {errors}")


if __name__ == "__main__":
    main()
