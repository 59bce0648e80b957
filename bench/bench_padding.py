"""Padding in pretraining batches, and what sorting a group of batches by length saves.

A batch is padded to its longest sequence, and the padded positions cost the same matmuls as real ones.
For each `--groups` value G (`TrainConfig.length_group`: G batches of a kind drawn at once, sorted by
length, handed out one per step), samples `--batches` batches of the profile's mixture with the
profile's weights and prints the share of padded positions that are real tokens, per kind and overall.
`--time-steps N` also times N optimizer steps of the shared model (the profile's architecture and
settings) per G, the settings interleaved so machine load hits each alike; the step count is the same,
so the ratio of the times is the ratio of the pretraining loops.

    python bench/bench_padding.py [--profile full] [--groups 1 8 16] [--batches 2000]
        [--time-steps 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="full", choices=("quick", "full"))
    ap.add_argument("--groups", type=int, nargs="+", default=[1, 8, 16])
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--time-steps", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from unisandbox.models.sandbox import train
    from unisandbox.models.sandbox.mixture import build_mixture
    from unisandbox.models.sandbox.model import GPT, GPTConfig

    torch.set_num_threads(args.threads)
    cfg = train.profile(args.profile, "shared", args.seed)
    t0 = time.perf_counter()
    codec, pools = build_mixture(cfg.mixture, seed=cfg.seed)
    print(
        f"mixture built in {time.perf_counter() - t0:.0f}s: "
        + ", ".join(f"{k}={len(v)}" for k, v in pools.items())
    )

    for g in args.groups:
        sampler = train.BatchSampler(pools, cfg.weights, cfg.batch_size, cfg.seed, g)
        real: dict[str, int] = {}
        padded: dict[str, int] = {}
        for _ in range(args.batches):
            kind, batch = sampler.next()
            real[kind] = real.get(kind, 0) + sum(len(s.ids) for s in batch)
            padded[kind] = padded.get(kind, 0) + len(batch) * max(len(s.ids) for s in batch)
        per_kind = " ".join(f"{k}={real[k] / padded[k]:.2f}" for k in sorted(real))
        total = sum(real.values()) / sum(padded.values())
        print(f"length_group={g}: real tokens / padded positions = {total:.3f} ({per_kind})")

    if args.time_steps:
        models = {g: GPT(GPTConfig(vocab_size=codec.vocab_size, **cfg.model)).train() for g in args.groups}
        samplers = {
            g: train.BatchSampler(pools, cfg.weights, cfg.batch_size, cfg.seed, g) for g in args.groups
        }
        opts = {g: torch.optim.AdamW(models[g].parameters(), lr=cfg.lr) for g in args.groups}
        seconds = dict.fromkeys(args.groups, 0.0)
        loss_fns = {g: train.shared_loss_fn(models[g], "cpu") for g in args.groups}
        for _ in range(args.time_steps):
            for g in args.groups:
                t = time.perf_counter()
                _, batch = samplers[g].next()
                loss = loss_fns[g](batch) * samplers[g].loss_scale
                opts[g].zero_grad(set_to_none=True)
                loss.backward()
                opts[g].step()
                seconds[g] += time.perf_counter() - t
        base = seconds[args.groups[0]]
        for g in args.groups:
            print(
                f"length_group={g}: {args.time_steps} steps in {seconds[g]:.1f}s = "
                f"{seconds[g] / args.time_steps:.3f} s/step ({seconds[g] / base:.2f} x length_group={args.groups[0]})"
            )


if __name__ == "__main__":
    main()
