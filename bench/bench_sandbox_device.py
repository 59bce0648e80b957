"""Device check: the same code trains and samples on CUDA (falls back to CPU and says so).

    python bench/bench_sandbox_device.py [--device cuda|cpu] [--steps 200]

Trains the quick profile on the device, then checks on that device: the loss fell, batched sampling
gives the same image for the same (item, mode, seed) in any batch, and the checkpoint written from the
device reloads on CPU with identical weights. Prints what it measured; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--arch", default="shared", choices=("shared", "query"))
    args = ap.parse_args()

    import numpy as np
    import torch

    from unisandbox.models.base import sample_seed
    from unisandbox.models.sandbox import train
    from unisandbox.models.sandbox.adapter import SandboxModel, SandboxQueryModel
    from unisandbox.models.sandbox.checkpoint import load_checkpoint
    from unisandbox.runs.io import iter_jsonl
    from unisandbox.tasks.math import math_items

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    print(f"device={device} ({name}) torch={torch.__version__} cuda_available={torch.cuda.is_available()}")
    out = tempfile.mkdtemp(prefix="sandbox-device-")
    cfg = replace(train.profile("quick", args.arch, 0), device=device, steps=args.steps, lm_steps=args.steps)
    t0 = time.perf_counter()
    train.main(cfg, out, command=["bench/bench_sandbox_device.py"], echo=lambda s: None)
    log = [r for r in iter_jsonl(__import__("pathlib").Path(out) / "train_log.jsonl")]
    print(
        f"train: {len(log)} log lines, first loss {log[0]['loss']:.3f}, last loss {log[-1]['loss']:.3f}, "
        f"{time.perf_counter() - t0:.1f}s"
    )
    ok = log[-1]["loss"] < log[0]["loss"]
    cls = SandboxModel if args.arch == "shared" else SandboxQueryModel
    model = cls.from_spec(out, device=device, batch_size=64)
    items = math_items(1, 1, 64, "test")
    seeds = [sample_seed(it.id, "think", 0) for it in items]
    t1 = time.perf_counter()
    gens = model.generate(items, "think", seeds)
    dt = time.perf_counter() - t1
    alone = model.generate(items[5:6], "think", seeds[5:6])[0]
    same = np.array_equal(np.asarray(alone.image), np.asarray(gens[5].image))
    print(f"sample: {len(gens)} think-mode images on {model.device} in {dt:.2f}s; batch-invariant={same}")
    cpu = load_checkpoint(out, args.arch, device="cpu")
    dev = {k: v.detach().cpu() for k, v in model.model.state_dict().items()}
    identical = all(torch.equal(v, dev[k]) for k, v in cpu.model.state_dict().items())
    print(f"checkpoint reloads on cpu with identical weights: {identical}")
    ok = ok and same and identical
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
