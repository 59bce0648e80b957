"""Batched sampling throughput of the sandbox model (images per second), normal and think mode.

    python bench/bench_sandbox_sampling.py [--arch shared|query] [--checkpoint DIR] [--n 2048]
        [--batch-size 256] [--threads 2] [--device cpu|cuda]

Prints one line per mode: images, seconds, images/s. Items are official math test items (cycled), so
normal mode is prompt -> 9 image codes and think mode is prompt -> trace -> 9 image codes.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="shared", choices=("shared", "query"))
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default=None)
    ap.add_argument("--modes", default="normal,think")
    args = ap.parse_args()

    import torch

    from unisandbox.models.base import sample_seed
    from unisandbox.models.sandbox.adapter import SandboxModel, SandboxQueryModel
    from unisandbox.models.sandbox.evaluate import official_items

    torch.set_num_threads(args.threads)
    cls = SandboxModel if args.arch == "shared" else SandboxQueryModel
    model = cls.from_spec(args.checkpoint, device=args.device, batch_size=args.batch_size)
    pool = [it for lv in (1, 2, 3) for it in official_items()[("math", lv)]]
    items = [pool[i % len(pool)] for i in range(args.n)]
    print(
        f"device={model.device} threads={torch.get_num_threads()} arch={args.arch} batch={args.batch_size} "
        f"checkpoint={args.checkpoint or 'shipped'}"
    )
    for mode in args.modes.split(","):
        seeds = [sample_seed(it.id, mode, i) for i, it in enumerate(items)]
        model.generate(items[: min(64, len(items))], mode, seeds[:64])  # warm-up
        t0 = time.perf_counter()
        gens = model.generate(items, mode, seeds)
        dt = time.perf_counter() - t0
        assert sum(g.image is not None for g in gens) == len(items)
        print(f"{mode:>6}: {len(items)} images in {dt:.2f}s = {len(items) / dt:.1f} images/s")


if __name__ == "__main__":
    main()
