"""Pretraining time and model FLOPs utilisation of the sandbox model: runs a profile from scratch.

    python bench/bench_sandbox_train.py [--profile quick|full] [--arch shared|query] [--threads 2]
        [--seed 0] [--out DIR] [--set KEY=VALUE ...]

Targets (issue 13): full <= 30 minutes per architecture on 2 CPU cores, quick <= 2 minutes. Prints the wall
time, the machine's load, and the model FLOPs utilisation (MFU): the training FLOPs (forward and backward,
counted by torch's FlopCounterMode on the first batches of each kind and extrapolated by tokens; see
`train.FlopMeter`) per second of the training loops, against this machine's fp32 matmul peak measured in
the same run (a 2048x2048 matmul on the same thread count). `--set` takes the same overrides as
`unisandbox sandbox train`. On a shared machine the figures measure the machine as well as the code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def matmul_peak(threads: int, n: int = 2048, reps: int = 10) -> float:
    """fp32 FLOP/s of an n x n matmul on `threads` threads (best of `reps`)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def stage_figures(log_path: Path) -> dict[str, tuple[float, float]]:
    """{stage: (training FLOPs, seconds)} from the last record of each stage in train_log.jsonl."""
    last: dict[str, dict] = {}
    for line in log_path.read_text().splitlines():
        rec = json.loads(line)
        last[rec["stage"]] = rec
    return {k: (float(r.get("train_flops", 0.0)), float(r["elapsed_s"])) for k, r in last.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", choices=("quick", "full"))
    ap.add_argument("--arch", default="shared", choices=("shared", "query"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    from unisandbox.models.sandbox import train
    from unisandbox.models.sandbox.checkpoint import LOG

    cfg = replace(train.profile(args.profile, args.arch, args.seed), threads=args.threads)
    cfg = train.with_overrides(cfg, args.settings)
    out = args.out or tempfile.mkdtemp(prefix=f"sandbox-{args.arch}-{args.profile}-")
    peak = matmul_peak(args.threads)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    train.main(
        cfg, out, command=["python", "bench/bench_sandbox_train.py", *sys.argv[1:]], echo=lambda s: None
    )
    dt = time.perf_counter() - t0
    stages = stage_figures(Path(out) / LOG)
    flops = sum(f for f, _ in stages.values())
    loop_s = sum(s for _, s in stages.values())
    steps = cfg.steps + cfg.lookup_steps + (cfg.lm_steps if args.arch == "query" and not cfg.init_lm else 0)
    print(
        f"profile={args.profile} arch={args.arch} threads={args.threads} steps={steps} "
        f"wall={dt:.1f}s ({dt / 60:.2f} min) load_avg_start={load0:.2f} load_avg_end={os.getloadavg()[0]:.2f} "
        f"out={out}"
    )
    print(
        f"matmul_peak={peak / 1e9:.1f} GFLOP/s train_flops={flops:.3e} loops={loop_s:.1f}s "
        f"achieved={flops / max(loop_s, 1e-9) / 1e9:.2f} GFLOP/s MFU={flops / max(loop_s, 1e-9) / peak:.3f}"
    )
    for name, (f, s) in stages.items():
        print(f"  stage {name}: {f:.3e} FLOPs in {s:.1f}s = {f / max(s, 1e-9) / 1e9:.2f} GFLOP/s")


if __name__ == "__main__":
    main()
