"""Development experiment: which mapping trace format can a small transformer learn to look up?

    python bench/bench_mapping_lookup.py --format arrow|adjacent|steps [--rope] [--steps 1500]
        [--levels 1 2] [--items 3000] [--layers 4] [--threads 1] [--seed 0]

Trains a small sandbox GPT (4 layers, d=128; `--rope`: rotary instead of learned absolute positions) from
scratch on mapping understanding only (probe question -> trace -> answer, train split), then decodes greedily on fresh test-split items (validation seed 77,
never the official split) and prints probe accuracy per level, per item and per A/B pair.

Formats of the trace for "Y means diamonds. Houses are represented by L. ... the letter Y?":
- ``steps``:    `Y -> diamond ; answer: diamond` (the task's own steps)
- ``arrow``:    `rules: Y -> diamond, L -> house ; Y -> diamond ; answer: diamond` (the shipped mixture)
- ``adjacent``: `rules: Y diamond, L house ; Y diamond ; answer: diamond` (the lookup is a one-hop
  induction: the token after the earlier copy of the current token; `MixtureConfig.rule_format`)

It isolates the lookup from the rest of the mixture; it does not reproduce the full model's numbers.
"""

from __future__ import annotations

import argparse
import time


def trace(item, fmt: str) -> list[str]:
    """The probe trace of a mapping item in format `fmt` ("arrow" and "adjacent" as the mixture writes them)."""
    from unisandbox.models.sandbox.mixture import probe_steps

    if fmt == "steps":
        return [*item.steps[:-1], f"answer: {item.probe.answer}"]
    return probe_steps(item, fmt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--format", default="arrow", choices=("steps", "arrow", "adjacent"))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--items", type=int, default=3000, help="train pairs per level")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rope", action="store_true", help="rotary positions instead of learned absolute ones")
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()

    import torch

    from unisandbox.models.sandbox import train as T
    from unisandbox.models.sandbox.model import GPT, GPTConfig
    from unisandbox.models.sandbox.sampling import greedy_text, text_logit_mask
    from unisandbox.models.sandbox.sequences import STEP_SEP, Seq, parse_answer
    from unisandbox.models.sandbox.tokenizers import EOS, SEP, SPECIALS, UND, TextTokenizer
    from unisandbox.tasks.mapping import mapping_items

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_items = [it for lv in args.levels for it in mapping_items(args.seed + 1000, lv, args.items, "train")]
    test_items = {lv: mapping_items(77, lv, 100, "test") for lv in args.levels}
    texts = [t for it in train_items for t in (it.probe.question, *trace(it, args.format))]
    texts += [it.probe.question for its in test_items.values() for it in its]
    tok = TextTokenizer.build(texts + ["answer:", ";"])
    sid = {s: i for i, s in enumerate(SPECIALS)}

    def seq(it) -> Seq:
        head = [sid[UND], *tok.encode(it.probe.question), sid[SEP]]
        tail = [*tok.encode(STEP_SEP.join(trace(it, args.format))), sid[EOS]]
        return Seq("und", tuple(head + tail), (0,) * len(head) + (1,) * len(tail), (0,) * (len(head) + len(tail)))

    pools = {"und": [seq(it) for it in train_items]}
    block = max(len(s.ids) for s in pools["und"]) + 8
    model = GPT(GPTConfig(vocab_size=tok.size, block_size=block, n_layer=args.layers, n_head=4, n_embd=128,
                            rope=args.rope))
    cfg = T.TrainConfig(steps=args.steps, batch_size=64, lr=2e-3, warmup=100, threads=args.threads, log_every=250)
    sampler = T.BatchSampler(pools, {"und": 1.0}, cfg.batch_size, args.seed)
    t0 = time.perf_counter()
    T.train_steps(model.train(), sampler, T.shared_loss_fn(model, "cpu"), list(model.parameters()), cfg,
                  args.steps, lambda r: print(f"  step {r['step']} loss {r['loss']:.4f}", flush=True), "lookup")
    model.eval()
    allowed = text_logit_mask(tok.size, tok.size, sid)  # a text-only vocabulary: no image codes
    print(f"format={args.format} rope={args.rope} layers={args.layers} steps={args.steps} "
          f"train_pairs_per_level={args.items} train_s={time.perf_counter() - t0:.0f}")
    for lv, its in test_items.items():
        prompts = [[sid[UND], *tok.encode(it.probe.question), sid[SEP]] for it in its]
        outs = greedy_text(model, prompts, [sid[EOS]], 60, allowed)
        ok = [parse_answer(tok.decode(ids)) == it.probe.answer for (ids, _), it in zip(outs, its, strict=True)]
        pairs: dict[str, bool] = {}
        for it, good in zip(its, ok, strict=True):
            pairs[it.group] = pairs.get(it.group, True) and good
        print(f"level {lv}: probe accuracy per item {sum(ok) / len(ok):.2f}, per pair "
              f"{sum(pairs.values()) / len(pairs):.2f} ({len(ok)} items)")


if __name__ == "__main__":
    main()
