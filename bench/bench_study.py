"""How long `unisandbox study --profile full` takes on this machine, measured part by part.

Times, on a checkpoint (default: the shipped one of each architecture): think-mode sampling, normal-mode
generation, judging, understanding probes and fine-tuning steps; then projects the full profile's
duration from the profile's own sizes. A projection, not a run: `unisandbox study --profile full` prints
its real duration at the end (findings.json "seconds").

    python bench/bench_study.py [--arch shared|query|both] [--checkpoint DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import time


def _rate(fn, n: int) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) / n


def bench_arch(arch: str, checkpoint: str | None) -> dict[str, float]:
    """Seconds per unit of each study part for one architecture."""
    from unisandbox.judges.sandbox import SandboxJudge
    from unisandbox.models.base import sample_seed
    from unisandbox.models.sandbox.checkpoint import load_checkpoint
    from unisandbox.models.sandbox.train import finetune
    from unisandbox.training import study
    from unisandbox.training.common import checkpoint_dir, load_adapter
    from unisandbox.training.evaluate import image_array, judge_arrays, official_items
    from unisandbox.training.stars import replay_for, stars_items

    prof = study.profile("full")
    model = load_adapter(checkpoint, arch)
    items = stars_items(prof.stars)[::20][:256]
    seeds = [sample_seed(it.id, "think", 0) for it in items]
    gens: list = []
    think = _rate(lambda: gens.extend(model.generate(items, "think", seeds)), len(items))
    normal = _rate(lambda: model.generate(items, "normal", seeds), len(items))
    arrays = [image_array(g) for g in gens]
    judge = _rate(lambda: judge_arrays(SandboxJudge(), arrays, items), len(items))
    test = official_items("math", limit=50)
    probe = _rate(lambda: model.understand([it.probe.question for it in test]), len(test))
    ckpt = load_checkpoint(checkpoint_dir(checkpoint, arch), arch)
    t = time.perf_counter()
    replay = replay_for(ckpt, prof.stars)
    replay_s = time.perf_counter() - t
    seqs = replay[:256]
    step = _rate(
        lambda: finetune(ckpt.model, ckpt.codec, seqs, steps=20, batch_size=prof.stars.batch_size, arch=arch),
        20,
    )
    return {
        "think_s": think,
        "normal_s": normal,
        "judge_s": judge,
        "probe_s": probe,
        "step_s": step,
        "replay_build_s": replay_s,
    }


def project(r: dict[str, float]) -> float:
    """Projected seconds of one architecture in the full profile."""
    from unisandbox.training import study

    prof = study.profile("full")
    s = prof.stars
    n_train = len(s.tasks) * len(s.levels) * s.train_items * 1.5  # mapping pairs are two items: (1 + 2) / 2
    samples = n_train * s.samples_per_item
    test = 300 + 600  # official math items + mapping items
    baseline = test * (r["normal_s"] + r["think_s"] + 2 * r["judge_s"] + r["probe_s"])
    sampling = samples * (r["think_s"] + r["judge_s"])
    per_variant = (
        s.steps * r["step_s"] + r["replay_build_s"] + test * (r["normal_s"] + r["judge_s"] + r["probe_s"])
    )
    knowledge = 2 * 50 * (r["normal_s"] + r["think_s"] + 2 * r["judge_s"] + r["probe_s"])
    inject = (
        prof.inject.steps * r["step_s"] * prof.inject.batch_size / s.batch_size
        + r["replay_build_s"]
        + knowledge
    )
    return baseline + sampling + 3 * per_variant + inject


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="both", choices=["shared", "query", "both"])
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory (one arch only)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    arches = ["shared", "query"] if args.arch == "both" else [args.arch]
    total = 0.0
    for arch in arches:
        r = bench_arch(arch, args.checkpoint)
        p = project(r)
        total += p
        print(
            f"{arch}: think {r['think_s'] * 1e3:.1f} ms/sample, normal {r['normal_s'] * 1e3:.1f} ms/sample, "
            f"judge {r['judge_s'] * 1e3:.1f} ms/image, probe {r['probe_s'] * 1e3:.1f} ms/question, "
            f"fine-tune {r['step_s']:.3f} s/step, replay build {r['replay_build_s']:.1f} s; "
            f"projected full-profile time {p / 60:.1f} min"
        )
    print(
        f"projected `unisandbox study --profile full --arch {args.arch}`: {total / 60:.1f} min "
        f"on {args.threads} threads"
    )


if __name__ == "__main__":
    main()
