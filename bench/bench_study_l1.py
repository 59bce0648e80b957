"""STARS on a small math-level-1 sandbox model: does distilling think mode into normal mode work here?

A development-size replication of the prototype in DESIGN.md, through the real code paths: pretrain a
shared-backbone (or query-based) model on math level 1 only (understanding with traces, drawing, think mode; never a
reasoning prompt paired with an image without its trace), measure normal and think mode on the official
math level-1 test items, run one curriculum-free STARS round on fresh train items, measure again.
Prints the figures; writes everything under --out.

    python bench/bench_study_l1.py --out /tmp/stars_l1 [--arch shared|query] [--steps 1500] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--arch", default="shared", choices=["shared", "query"])
    ap.add_argument("--steps", type=int, default=1500, help="pretraining steps")
    ap.add_argument("--stars-steps", type=int, default=500)
    ap.add_argument("--train-items", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from unisandbox.judges.sandbox import SandboxJudge
    from unisandbox.models.sandbox import train
    from unisandbox.models.sandbox.mixture import MixtureConfig
    from unisandbox.training import stars
    from unisandbox.training.common import ReplayConfig, load_adapter
    from unisandbox.training.evaluate import EvalConfig, measure

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    pre = args.out / "pretrained"
    if not (pre / "model.safetensors").is_file():
        cfg = replace(
            train.profile("full", args.arch, args.seed),
            steps=args.steps,
            lm_steps=args.steps,
            batch_size=64,
            lr=2e-3,
            warmup=100,
            threads=args.threads,
            log_every=100,
            model={"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 192},  # the prototype's size
            mixture=MixtureConfig(
                math_items={1: 4000}, mapping_items={}, facts=False, n_draw=12000, knowledge=None
            ),
            weights={"und": 0.3, "draw": 0.35, "think": 0.35},
        )
        train.main(
            cfg,
            pre,
            command=["python", "bench/bench_study_l1.py", "--out", str(args.out)],
            echo=lambda s: print(s, flush=True) if '"step"' not in s or "00," in s else None,
        )
    t_pre = time.perf_counter() - t0
    judge = SandboxJudge()
    ecfg = EvalConfig(tasks=("math",), modes=("normal", "think"))
    base = measure(load_adapter(pre, args.arch), judge, ecfg)
    scfg = stars.StarsConfig(
        tasks=("math",),
        levels=(1,),
        train_items=args.train_items,
        samples_per_item=2,
        steps=args.stars_steps,
        curriculum=False,
        seed=args.seed,
        replay=ReplayConfig(math_items=600, mapping_items=0, n_draw=3000),
    )
    report = stars.run(
        pre,
        args.arch,
        args.out / "stars",
        scfg,
        before={"generation": {"normal": base["generation"]["normal"]}, "probes": base["probes"]},
        log=lambda s: None,
    )
    l1 = report["normal"]["math/1"]
    print(
        json.dumps(
            {
                "arch": args.arch,
                "pretrain_seconds": round(t_pre),
                "probe_l1": base["probes"]["math/1"].to_dict(),
                "think_l1": base["generation"]["think"]["math/1"].to_dict(),
                "normal_l1_before": l1["before"],
                "normal_l1_after": l1["after"],
                "change": l1["change"],
                "acceptance": report["acceptance"],
                "probe_l1_after": report["probes"]["math/1"]["after"],
                "total_seconds": round(time.perf_counter() - t0),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
