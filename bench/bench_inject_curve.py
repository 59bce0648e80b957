"""Knowledge injection: probe accuracy against injection step. Where do the portrait and inverse probes stall?

Trains exactly what `unisandbox inject` trains (`training.inject`: the official corpus as understanding
sequences, replay 1:1 drawn from the checkpoint's pretraining data, `finetune` with the same settings) on
a shipped checkpoint, and every --eval-every steps decodes, greedily as the study does:
- the official knowledge probes per kind: portrait ("What does X look like?"), fruit, flower (forward),
  inverse ("which of A and B has the cherry ...?"); portrait and inverse probes are not corpus questions;
- the corpus's own attribute and profile questions (are the injected facts memorised?).
One JSON line per evaluation; the last line is the final state (what `unisandbox inject` would save).
If the corpus is memorised and the portrait / inverse probes stay flat, the gap is retrieval in a new
context, not too few steps.

    python bench/bench_inject_curve.py [--arch shared] [--steps 1200] [--eval-every 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="shared", choices=["shared", "query"])
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the shipped one)")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from unisandbox.runs.items import OFFICIAL_DIR
    from unisandbox.training import inject
    from unisandbox.training.common import load_adapter
    from unisandbox.training.evaluate import official_items, probe_scores

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    cfg = inject.InjectConfig(steps=args.steps, seed=args.seed)
    adapter = load_adapter(args.checkpoint, args.arch)
    ckpt = adapter.checkpoint
    seqs = inject.injection_sequences(ckpt.codec)
    replay = inject.injection_replay(ckpt, cfg)
    probes = official_items("knowledge_forward") + official_items("knowledge_inverse")
    corpus = [
        json.loads(line)
        for line in (OFFICIAL_DIR / "training" / "knowledge_corpus.jsonl").read_text().splitlines()
    ]
    corpus = [t for t in corpus if t["kind"] in ("attribute", "profile")]

    def evaluate(step: int) -> None:
        modes = [m.training for m in ckpt.model.modules()]
        ckpt.model.eval()
        scores = probe_scores(adapter, probes, key=lambda it: it.subtask)
        answers = adapter.understand([t["question"] for t in corpus])
        recalled = sum(
            t["answer"].lower().rstrip(".") in a.text.lower() for t, a in zip(corpus, answers, strict=True)
        )
        for m, was in zip(ckpt.model.modules(), modes, strict=True):
            m.train(was)
        row = {k.removeprefix("forward_"): s.text() for k, s in sorted(scores.items())}
        row["corpus_recalled"] = f"{recalled}/{len(corpus)}"
        print(json.dumps({"step": step, **row, "elapsed_s": round(time.perf_counter() - t0)}), flush=True)

    evaluate(0)
    inject.inject_facts(
        ckpt, cfg, seqs, replay, log=lambda rec: evaluate(rec["step"]), log_every=args.eval_every
    )


if __name__ == "__main__":
    main()
