"""Development experiment: which mapping trace format can a small transformer learn to look up?

    python bench/bench_mapping_lookup.py --format arrow|adjacent|steps [--rope] [--conv] [--steps 1500]
        [--levels 1 2] [--items 3000] [--layers 4] [--width 128] [--eval-every N]
        [--warm copy|recall --warm-steps N] [--threads 1] [--seed 0]

Trains a small sandbox GPT (4 layers, d=128; `--rope`: rotary instead of learned absolute positions;
`--conv`: the causal depthwise convolution over q, k, v, `GPTConfig.qkv_conv`) from
scratch on mapping understanding only (probe question -> trace -> answer, train split), then decodes
greedily on fresh test-split items (validation seed 77, never the official split) and prints probe
accuracy per level, per item and per A/B pair. `--eval-every N` also decodes the level-1 pairs every N
steps (when the lookup forms); `--warm` first trains on a synthetic task of random words (copy a string,
or recall values by key) to see whether it makes the lookup form sooner.

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

import numpy as np


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
    ap.add_argument(
        "--conv", action="store_true", help="causal depthwise qkv convolution (GPTConfig.qkv_conv)"
    )
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=128, help="embedding width (the full profile uses 160)")
    ap.add_argument("--eval-every", type=int, default=0, help="also decode level-1 test pairs every N steps")
    ap.add_argument(
        "--warm-steps",
        type=int,
        default=0,
        help="first train N steps on a synthetic task of random words (no task text), --warm",
    )
    ap.add_argument(
        "--warm",
        default="copy",
        choices=("copy", "recall"),
        help="copy: repeat a random word string; recall: key-value pairs, then queried keys",
    )
    args = ap.parse_args()

    import torch

    from unisandbox.models.sandbox import train as T
    from unisandbox.models.sandbox.model import GPT, GPTConfig
    from unisandbox.models.sandbox.sampling import greedy_text, text_logit_mask
    from unisandbox.models.sandbox.sequences import STEP_SEP, Seq, parse_answer
    from unisandbox.models.sandbox.tokenizers import EOS, SEP, SPECIALS, UND, TextTokenizer
    from unisandbox.tasks.mapping import mapping_items
    from unisandbox.training.evaluate import unit_outcomes

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_items = [
        it for lv in args.levels for it in mapping_items(args.seed + 1000, lv, args.items, "train")
    ]
    test_items = {lv: mapping_items(77, lv, 100, "test") for lv in args.levels}
    texts = [t for it in train_items for t in (it.probe.question, *trace(it, args.format))]
    texts += [it.probe.question for its in test_items.values() for it in its]
    tok = TextTokenizer.build(texts + ["answer:", ";"])
    sid = {s: i for i, s in enumerate(SPECIALS)}

    def seq(it) -> Seq:
        head = [sid[UND], *tok.encode(it.probe.question), sid[SEP]]
        tail = [*tok.encode(STEP_SEP.join(trace(it, args.format))), sid[EOS]]
        return Seq(
            "und", tuple(head + tail), (0,) * len(head) + (1,) * len(tail), (0,) * (len(head) + len(tail))
        )

    pools = {"und": [seq(it) for it in train_items]}
    block = max(len(s.ids) for s in pools["und"]) + 8
    if args.warm_steps:
        block = max(block, 128)  # room for the warm-up sequences
    model = GPT(
        GPTConfig(
            vocab_size=tok.size,
            block_size=block,
            n_layer=args.layers,
            n_head=4,
            n_embd=args.width,
            rope=args.rope,
            qkv_conv=args.conv,
        )
    )
    allowed = text_logit_mask(tok.size, tok.size, sid)  # a text-only vocabulary: no image codes

    def evaluate(levels) -> str:
        model.eval()
        parts = []
        for lv in levels:
            its = test_items[lv]
            prompts = [[sid[UND], *tok.encode(it.probe.question), sid[SEP]] for it in its]
            outs = greedy_text(model, prompts, [sid[EOS]], 60, allowed)
            ok = [
                parse_answer(tok.decode(ids)) == it.probe.answer
                for (ids, _), it in zip(outs, its, strict=True)
            ]
            pairs = unit_outcomes(its, ["correct" if good else "wrong" for good in ok])
            parts.append(
                f"level {lv}: probe accuracy per item {sum(ok) / len(ok):.2f}, per pair "
                f"{sum(p == 'correct' for p in pairs) / len(pairs):.2f} ({len(ok)} items)"
            )
        model.train()
        return "; ".join(parts)

    def log(r) -> None:
        line = f"  {r['stage']} step {r['step']} loss {r['loss']:.4f} ({r['elapsed_s']:.0f} s)"
        if r["stage"] == "lookup" and args.eval_every and r["step"] % args.eval_every == 0:
            line += " | " + evaluate(args.levels[:1])
        print(line, flush=True)

    t0 = time.perf_counter()
    every = args.eval_every or 250
    if args.warm_steps:
        rng = np.random.default_rng(args.seed + 5)
        words = [w for w in tok.words if w.isalnum()]
        make = recall_seq if args.warm == "recall" else copy_seq
        pool = [make(rng, words, tok, sid) for _ in range(20_000)]
        rcfg = T.TrainConfig(batch_size=64, lr=2e-3, warmup=50, threads=args.threads, log_every=every)
        T.train_steps(
            model.train(),
            T.BatchSampler({args.warm: pool}, {args.warm: 1.0}, 64, args.seed),
            T.shared_loss_fn(model, "cpu"),
            list(model.parameters()),
            rcfg,
            args.warm_steps,
            log,
            args.warm,
        )
    cfg = T.TrainConfig(
        steps=args.steps, batch_size=64, lr=2e-3, warmup=100, threads=args.threads, log_every=every
    )
    sampler = T.BatchSampler(pools, {"und": 1.0}, cfg.batch_size, args.seed)
    T.train_steps(
        model.train(),
        sampler,
        T.shared_loss_fn(model, "cpu"),
        list(model.parameters()),
        cfg,
        args.steps,
        log,
        "lookup",
    )
    print(
        f"format={args.format} rope={args.rope} conv={args.conv} layers={args.layers} width={args.width} "
        f"warm={args.warm}:{args.warm_steps} steps={args.steps} train_pairs_per_level={args.items} "
        f"train_s={time.perf_counter() - t0:.0f}"
    )
    print(evaluate(args.levels).replace("; ", "\n"))


def copy_seq(rng, words: list[str], tok, sid):
    """A synthetic copy sequence: `<und> w1 .. wn <sep> w1 .. wn <eos>`, loss on the copy; a third of the
    words are invented (spelled byte by byte), as names are."""
    from unisandbox.models.sandbox.sequences import Seq
    from unisandbox.models.sandbox.tokenizers import EOS, SEP, UND

    n = int(rng.integers(3, 9))
    ws = []
    for _ in range(n):
        if rng.random() < 0.33:
            ws.append("".join(chr(97 + int(c)) for c in rng.integers(0, 26, size=int(rng.integers(3, 7)))))
        else:
            ws.append(words[int(rng.integers(len(words)))])
    body = tok.encode(" ".join(ws))
    ids = [sid[UND], *body, sid[SEP], *body, sid[EOS]]
    loss = [0] * (len(body) + 2) + [1] * (len(body) + 1)
    return Seq("und", tuple(ids), tuple(loss), (0,) * len(ids))


def recall_seq(rng, words: list[str], tok, sid):
    """A synthetic key-value recall sequence: `<und> <sep> k1 v1, .., kn vn ; kq vq ; kq' vq' <eos>`, loss on
    the recalled values (keys distinct, random vocabulary words)."""
    from unisandbox.models.sandbox.sequences import Seq
    from unisandbox.models.sandbox.tokenizers import EOS, SEP, UND

    n = int(rng.integers(2, 7))
    picks = rng.choice(len(words), size=2 * n, replace=False)
    keys, vals = [words[i] for i in picks[:n]], [words[i] for i in picks[n:]]
    ids = [sid[UND], sid[SEP]]
    loss = [0, 0]
    for j, (k, v) in enumerate(zip(keys, vals, strict=True)):
        if j:
            ids.append(tok.id(","))
            loss.append(0)
        ids += [tok.id(k), tok.id(v)]
        loss += [0, 0]
    for q in rng.choice(n, size=min(n, 3), replace=False):
        ids += [tok.id(";"), tok.id(keys[q]), tok.id(vals[q])]
        loss += [0, 0, 1]
    ids.append(sid[EOS])
    loss.append(1)
    return Seq("und", tuple(ids), tuple(loss), (0,) * len(ids))


if __name__ == "__main__":
    main()
