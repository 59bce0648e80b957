"""Padding in pretraining batches, and what sorting a group of batches by length saves.

A batch is padded to its longest sequence, and the padded positions cost the same matmuls as real ones.
For each `--groups` value G (`TrainConfig.length_group`: G batches of a kind drawn at once, sorted by
length, handed out one per step), samples `--batches` batches of the profile's mixture with the
profile's weights and prints the share of padded positions that are real tokens, per kind and overall.
`--time-steps N` also times N optimizer steps of the shared model (the profile's architecture and
settings) per G, the settings interleaved so machine load hits each alike; the step count is the same,
so the ratio of the times is the ratio of the pretraining loops.
`--pack` adds `TrainConfig.pack` (length_group 1, each batch's sequences packed end to end into rows of
block_size tokens, attention and convolution kept within each sequence) to both figures.

    python bench/bench_padding.py [--profile full] [--groups 1 8 16] [--pack] [--batches 2000]
        [--time-steps 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="full", choices=("quick", "full"))
    ap.add_argument("--groups", type=int, nargs="+", default=[1, 8, 16])
    ap.add_argument("--pack", action="store_true", help="also measure packed batches (TrainConfig.pack)")
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--time-steps", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from unisandbox.models.sandbox import train
    from unisandbox.models.sandbox.mixture import build_mixture
    from unisandbox.models.sandbox.model import GPT, GPTConfig
    from unisandbox.models.sandbox.sequences import Seq

    torch.set_num_threads(args.threads)
    cfg = train.profile(args.profile, "shared", args.seed)
    t0 = time.perf_counter()
    codec, pools = build_mixture(cfg.mixture, seed=cfg.seed)
    print(
        f"mixture built in {time.perf_counter() - t0:.0f}s: "
        + ", ".join(f"{k}={len(v)}" for k, v in pools.items())
    )

    block = int(cfg.model["block_size"])
    # setting name -> (length_group, loss function's pack argument, positions a batch computes)
    settings: dict[str, tuple[int, int | None, Callable[[list[Seq]], int]]] = {
        f"length_group={g}": (g, None, train.padded_positions) for g in args.groups
    }
    if args.pack:
        settings["pack"] = (1, block, train.packed_positions(block))
    for name, (g, _, positions) in settings.items():
        sampler = train.BatchSampler(pools, cfg.weights, cfg.batch_size, cfg.seed, g)
        real: dict[str, int] = {}
        padded: dict[str, int] = {}
        for _ in range(args.batches):
            kind, batch = sampler.next()
            # the model's inputs: every token of a sequence but its last
            real[kind] = real.get(kind, 0) + sum(len(s.ids) - 1 for s in batch)
            padded[kind] = padded.get(kind, 0) + positions(batch)
        per_kind = " ".join(f"{k}={real[k] / padded[k]:.2f}" for k in sorted(real))
        total = sum(real.values()) / sum(padded.values())
        print(f"{name}: real tokens / padded positions = {total:.3f} ({per_kind})")

    if args.time_steps:
        models = {n: GPT(GPTConfig(vocab_size=codec.vocab_size, **cfg.model)).train() for n in settings}
        samplers = {
            n: train.BatchSampler(pools, cfg.weights, cfg.batch_size, cfg.seed, g)
            for n, (g, _, _) in settings.items()
        }
        opts = {n: torch.optim.AdamW(models[n].parameters(), lr=cfg.lr) for n in settings}
        seconds = dict.fromkeys(settings, 0.0)
        loss_fns = {n: train.shared_loss_fn(models[n], "cpu", pack) for n, (_, pack, _) in settings.items()}
        for _ in range(args.time_steps):
            for n in settings:
                t = time.perf_counter()
                _, batch = samplers[n].next()
                loss = loss_fns[n](batch) * samplers[n].loss_scale
                opts[n].zero_grad(set_to_none=True)
                loss.backward()
                opts[n].step()
                seconds[n] += time.perf_counter() - t
        first = next(iter(settings))
        for n in settings:
            print(
                f"{n}: {args.time_steps} steps in {seconds[n]:.1f}s = "
                f"{seconds[n] / args.time_steps:.3f} s/step ({seconds[n] / seconds[first]:.2f} x {first})"
            )


if __name__ == "__main__":
    main()
