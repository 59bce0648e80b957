"""Knowledge injection on a small knowledge-only sandbox model: does retrieval in think mode transfer to
facts injected as text after pretraining?

Through the real code paths: pretrain a shared-backbone (or query) model on drawing plus the
knowledge-retrieval mixture of pretraining clubs (`knowledge_mixture`), measure think mode on the
pretraining clubs' held-out characters (known from plain QA only, like injected ones), inject the official
corpus (`training.inject`), and measure forward / inverse generation in both modes and the probes, the
probes also per kind (portrait, fruit, flower, inverse) before and after injection and on the held-out
characters. `--portrait-trace recite` trains portrait traces that start with the corpus profile's
opening (`KnowledgeMixtureConfig.portrait_trace`). Prints the figures; writes everything under --out.

    python bench/bench_inject_small.py --out /tmp/inject_small [--arch shared] [--steps 1500] [--threads 1]
        [--portrait-trace appearance|recite|attributes] [--inverse-trace pair|restate] [--split-possessive] [--worlds 3]
        [--plain-attention] [--copy-questions 20000 [--copy-weight 0.15]]

The model is the shipped recipe's (rotary positions, causal qkv convolution) at width 128;
`--plain-attention` drops both, as in the runs before issue 13. `--copy-questions N` adds the `kcopy` pool
(`KnowledgeMixtureConfig.copy_questions`: in-context lookups over fresh names), drawn with `--copy-weight`
of the batches (the other pools keep their ratios).
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
    ap.add_argument("--inject-steps", type=int, default=600)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--portrait-trace", default="appearance", choices=["appearance", "recite", "attributes"])
    ap.add_argument("--inverse-trace", default="pair", choices=["pair", "restate"])
    ap.add_argument("--split-possessive", action="store_true", help="MixtureConfig.split_possessive")
    ap.add_argument("--worlds", type=int, default=3, help="KnowledgeMixtureConfig.worlds")
    ap.add_argument("--copy-questions", type=int, default=0, help="KnowledgeMixtureConfig.copy_questions")
    ap.add_argument("--copy-weight", type=float, default=0.15, help="share of kcopy batches")
    ap.add_argument(
        "--plain-attention",
        action="store_true",
        help="no rotary positions and no qkv convolution (the model of the figures in docs/study.md)",
    )
    args = ap.parse_args()

    import torch

    from unisandbox.judges.sandbox import SandboxJudge
    from unisandbox.models.sandbox import train
    from unisandbox.models.sandbox.knowledge_mixture import KnowledgeMixtureConfig, knowledge_mixture
    from unisandbox.models.sandbox.mixture import MixtureConfig
    from unisandbox.training import inject
    from unisandbox.training.common import load_adapter
    from unisandbox.training.evaluate import (
        Score,
        generate_all,
        image_array,
        judge_arrays,
        official_items,
        probe_scores,
    )

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    pre = args.out / "pretrained"
    base = train.profile("full", args.arch, args.seed)
    attention = {"rope": False, "qkv_conv": False} if args.plain_attention else {}
    kcfg = KnowledgeMixtureConfig(
        portrait_trace=args.portrait_trace,
        inverse_trace=args.inverse_trace,
        worlds=args.worlds,
        copy_questions=args.copy_questions,
    )
    weights = {"draw": 0.35, "know": 0.35, "kthink": 0.3}
    if args.copy_questions:
        weights = {k: w * (1 - args.copy_weight) for k, w in weights.items()} | {"kcopy": args.copy_weight}
    if not (pre / "model.safetensors").is_file():
        cfg = replace(
            base,
            steps=args.steps,
            lm_steps=args.steps,
            batch_size=64,
            lr=2e-3,
            warmup=100,
            threads=args.threads,
            log_every=100,
            model={**base.model, "n_embd": 128, **attention},
            mixture=MixtureConfig(
                math_items={},
                mapping_items={},
                facts=False,
                n_draw=12000,
                knowledge=kcfg,
                split_possessive=args.split_possessive,
            ),
            weights=weights,
        )
        train.main(
            cfg,
            pre,
            command=["python", "bench/bench_inject_small.py", "--out", str(args.out)],
            echo=lambda s: print(s, flush=True) if '"step"' not in s or "00," in s else None,
        )
    t_pre = time.perf_counter() - t0
    judge = SandboxJudge()
    km = knowledge_mixture(kcfg, args.seed)
    model = load_adapter(pre, args.arch)

    def think(items):
        gens = generate_all(model, items, "think")
        return Score.of([v == "correct" for v in judge_arrays(judge, [image_array(g) for g in gens], items)])

    def probes(m, items):
        return {k: s.text() for k, s in sorted(probe_scores(m, items, key=lambda it: it.subtask).items())}

    official = official_items("knowledge_forward") + official_items("knowledge_inverse")
    transfer = {
        "think_characters": think(km.think_items).to_dict(),
        "heldout_characters": think(km.heldout_items).to_dict(),
        "heldout_probes": probes(model, km.heldout_items),
        "official_probes_before": probes(model, official),
    }
    report = inject.run(
        pre,
        args.arch,
        args.out / "inject",
        inject.InjectConfig(steps=args.inject_steps, seed=args.seed),
        log=lambda s: None,
    )
    a, b = report["after"], report["before"]
    transfer["official_probes_after"] = probes(
        load_adapter(args.out / "inject" / "checkpoint", args.arch), official
    )
    print(
        json.dumps(
            {
                "arch": args.arch,
                "pretrain_seconds": round(t_pre),
                "pretraining_clubs_think_mode": transfer,
                "before_injection": b,
                "after_injection": a,
                "generation_pathway": report["generation_pathway"],
                "total_seconds": round(time.perf_counter() - t0),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
