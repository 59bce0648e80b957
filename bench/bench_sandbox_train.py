"""Pretraining time of the sandbox model: runs a profile from scratch and prints the wall time.

    python bench/bench_sandbox_train.py [--profile quick|full] [--arch shared|query] [--threads 2]
        [--seed 0] [--out DIR]

Targets (issue 4): quick <= 2 minutes, full <= 30 minutes on 2 CPU cores. The machine's load is printed
too: on a shared machine the figure measures the machine as well as the code.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", choices=("quick", "full"))
    ap.add_argument("--arch", default="shared", choices=("shared", "query"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from unisandbox.models.sandbox import train

    cfg = replace(train.profile(args.profile, args.arch, args.seed), threads=args.threads)
    out = args.out or tempfile.mkdtemp(prefix=f"sandbox-{args.arch}-{args.profile}-")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    train.main(cfg, out, command=["bench/bench_sandbox_train.py"], echo=lambda s: None)
    dt = time.perf_counter() - t0
    steps = cfg.steps + (cfg.lm_steps if args.arch == "query" else 0)
    print(f"profile={args.profile} arch={args.arch} threads={args.threads} steps={steps} "
          f"wall={dt:.1f}s ({dt / 60:.2f} min) load_avg_start={load0:.2f} load_avg_end={os.getloadavg()[0]:.2f} "
          f"out={out}")


if __name__ == "__main__":
    main()
