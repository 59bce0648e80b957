"""Sandbox judge throughput: PNG bytes in, captions out. Target: >= 300 images/s on 2 cores.

Usage: python bench/bench_judge_sandbox.py [--n 1200] [--workers 2] [--style free|grid|both]

Images are the calibration mix (scenes with 1-9 icons, portraits, singles, negatives). Prototype
building (once per process, ~1 s) is done before the clock starts.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor


def _images(n: int, style: str) -> list[bytes]:
    from unisandbox.judges.calibrate import make_sample, split_counts
    from unisandbox.world.render import encode_png

    styles = ["free", "grid"] if style == "both" else [style]
    out = []
    for k, st in enumerate(styles):
        for cat, count in split_counts(n // len(styles)).items():
            for i in range(count):
                out.append(encode_png(make_sample(cat, i, seed=100 + k, style=st).image))
    return out


def _warm() -> None:
    from unisandbox.judges.sandbox_icons import prototypes

    prototypes()


def _caption(chunk: list[bytes]) -> list[str | None]:
    from unisandbox.judges.sandbox import SandboxJudge

    return [c.text for c in SandboxJudge().caption(chunk)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--style", default="both", choices=["free", "grid", "both"])
    args = ap.parse_args()
    images = _images(args.n, args.style)
    _warm()
    t = time.perf_counter()
    _caption(images)
    one = len(images) / (time.perf_counter() - t)
    print(f"1 process : {one:7.1f} images/s  ({len(images)} images, style={args.style})")
    if args.workers > 1:
        chunks = [images[i :: args.workers * 4] for i in range(args.workers * 4)]
        with ProcessPoolExecutor(args.workers) as pool:
            list(pool.map(_warm_and_count, range(args.workers)))  # build prototypes in every worker first
            t = time.perf_counter()
            n = sum(len(r) for r in pool.map(_caption, chunks))
            many = n / (time.perf_counter() - t)
        print(f"{args.workers} processes: {many:7.1f} images/s  (target >= 300 on 2 cores)")


def _warm_and_count(_: int) -> int:
    _warm()
    return 0


if __name__ == "__main__":
    main()
