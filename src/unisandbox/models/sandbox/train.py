"""Pretraining of the sandbox model: `main(config)` builds the mixture, trains, writes the checkpoint.

Shared backbone: one network trained on the whole mixture (understanding, drawing, think mode).
Query-based: stage 1 trains the understanding LM on the text part (understanding sequences and the text
of think-mode sequences up to `<img>`); stage 2 freezes it and trains the queries and the image decoder
on drawing and think-mode sequences.

Every random choice flows from `config.seed`. The resolved config is printed and saved in config.json;
the loss curve goes to train_log.jsonl (append-only, fsynced).
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from unisandbox.models.sandbox.mixture import MixtureConfig, build_mixture
from unisandbox.models.sandbox.sequences import Codec, Seq, pack_batch, pack_layout, pad_batch


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a pretraining run."""

    arch: str = "shared"
    """"shared" (one transformer) or "query" (frozen LM + queries + decoder)."""
    profile: str = "full"
    seed: int = 0
    steps: int = 4400
    """Optimizer steps on the whole mixture (query: stage-2 steps; stage 1 uses `lm_steps`)."""
    lookup_steps: int = 0
    """Steps of an optional first stage, from scratch, on mapping understanding alone (levels
    `lookup_levels`; query arch: its LM). The rule lookup formed on mapping data alone
    (bench/bench_mapping_lookup.py) but not inside the whole mixture; 1,200-step (levels 1-2) and 2,000-step
    (level 1) stages did not make it form either (docs/sandbox.md), so the profiles do not use it."""
    lookup_levels: tuple[int, ...] = (1, 2)
    lm_steps: int = 2400
    """Query arch only: stage-1 steps of the understanding LM on text."""
    batch_size: int = 64
    lr: float = 2e-3
    min_lr_frac: float = 0.05
    """Cosine decay ends at lr * min_lr_frac."""
    warmup: int = 200
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    model: dict[str, Any] = field(
        default_factory=lambda: {"n_layer": 4, "n_head": 4, "n_embd": 160, "block_size": 192}
    )
    """GPTConfig overrides (vocab_size comes from the tokenizers)."""
    query: dict[str, Any] = field(
        default_factory=lambda: {"n_queries": 8, "dec_layer": 3, "dec_embd": 128, "dec_head": 4}
    )
    """QueryConfig overrides (query arch)."""
    mixture: MixtureConfig = field(default_factory=MixtureConfig)
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "und": 0.28,
            "fact": 0.14,
            "draw": 0.2,
            "think": 0.3,
            "know": 0.05,
            "kthink": 0.03,
        }
    )
    """Probability that a batch is drawn from each kind (batches are one kind: similar lengths, less padding)."""
    log_every: int = 50
    threads: int = 2
    """torch threads; on a CPU shared with other jobs, 1 can be faster than 2 (less spin-waiting)."""
    bf16: bool | None = None
    """Autocast matmuls to bfloat16 (weights and optimizer state stay float32). None = on CUDA only: on
    a CPU without bf16 matrix units it is slower (0.43 vs 0.32 s/step with 2 threads, measured here)."""
    device: str | None = None
    """None = cuda if available, else cpu."""
    temperature: float = 1.0
    """Image-code sampling temperature stored in config.json as the checkpoint's default."""
    length_group: int = 1
    """Batches of a kind drawn at once and sorted by length (`BatchSampler`): less padding, the same
    sequences. 1 = off (the shipped checkpoints); in the full mixture at 1, 44% of the padded tokens are
    padding (`python bench/bench_padding.py`)."""
    pack: bool = False
    """Pack each batch's sequences end to end into rows of up to `block_size` tokens
    (`sequences.pack_batch`), attention and the qkv convolution kept within each sequence: the same
    batches, sequences and loss as unpacked (equal up to float rounding, tested), on fewer padded
    positions. Shared network and the query model's LM; off = the shipped checkpoints' padded batches."""
    init_lm: str | None = None
    """Query arch only: reuse the frozen LM of this query checkpoint (built from the same mixture config
    and seed) and skip stage 1; its LM log is copied into the new log."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of `to_dict` (also reads the `train` record of a checkpoint's config.json)."""
        d = dict(d)
        d["mixture"] = MixtureConfig.from_dict(d["mixture"])
        if "lookup_levels" in d:
            d["lookup_levels"] = tuple(int(x) for x in d["lookup_levels"])
        return cls(**d)


def with_overrides(cfg: TrainConfig, settings: Sequence[str]) -> TrainConfig:
    """`cfg` with `KEY=VALUE` settings applied; KEY is a dotted path into `to_dict()` ("model.rope",
    "mixture.rule_format", "weights.und") and VALUE is JSON (a bare word is taken as a string).

    >>> with_overrides(profile("quick"), ["model.rope=true", "mixture.rule_format=adjacent"]).model["rope"]
    True
    """
    d = cfg.to_dict()
    for item in settings:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise ValueError(f"setting {item!r}: expected KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *parents, last = key.split(".")
        node = d
        for k in parents:
            if not isinstance(node.get(k), dict):
                raise ValueError(f"setting {item!r}: {k!r} is not a group of settings")
            node = node[k]
        # Top-level keys and the fields of dataclass groups must exist; free-form dicts (model, weights,
        # query, the mixture's per-level counts) accept new keys, as their consumers define them.
        if last not in node and (
            not parents or parents == ["mixture"] or parents == ["mixture", "knowledge"]
        ):
            raise ValueError(f"setting {item!r}: unknown key {key!r}")
        node[last] = value
    try:
        return TrainConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise ValueError(f"settings {list(settings)}: {e}") from e


def profile(name: str, arch: str = "shared", seed: int = 0) -> TrainConfig:
    """The named preset: `full` (shipped checkpoints) or `quick` (tests, about a minute on 2 cores)."""
    if name == "full":
        # The shipped recipe (issue 13): rope positions, the causal qkv convolution that lets the copy
        # circuit form in one layer, and mapping rules written as adjacent pairs.
        base = TrainConfig(arch=arch, profile=name, seed=seed)
        base = replace(
            base,
            model={**base.model, "rope": True, "qkv_conv": True},
            mixture=replace(base.mixture, rule_format="adjacent"),
        )
        if arch == "query":
            # The frozen LM sees only the text kinds: 3600 steps give it about the text steps the shared
            # network gets in 4400; the decoder stage then learns drawing, counts and portraits.
            return replace(base, lm_steps=3600, steps=1800)
        return base
    if name == "quick":
        return TrainConfig(
            arch=arch,
            profile=name,
            seed=seed,
            steps=250,
            lm_steps=150,  # enough to see the loss fall and drawing start to work
            batch_size=32,
            lr=3e-3,
            warmup=30,
            model={"n_layer": 2, "n_head": 2, "n_embd": 64, "block_size": 192},  # tiny: seconds per 100 steps
            query={"n_queries": 4, "dec_layer": 1, "dec_embd": 64, "dec_head": 2},
            mixture=MixtureConfig.quick(),
            log_every=25,
        )
    raise ValueError(f"unknown profile {name!r}; expected 'full' or 'quick'")


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, total - cfg.warmup)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _device(cfg_device: str | None) -> str:
    import torch

    return cfg_device or ("cuda" if torch.cuda.is_available() else "cpu")


class BatchSampler:
    """Draws one-kind batches from a mixture with a seeded numpy Generator.

    `length_group` > 1 draws that many batches of a kind at once (every sequence uniformly, as with 1),
    sorts them by length and hands them out one per step in random order: a batch is padded to its longest
    sequence, so batches of similar lengths waste less compute on padding. Each batch's mean loss then
    counts its scored tokens unlike a mixed batch would (a batch of short sequences has few), so
    `loss_scale` (scored tokens of the batch / their mean over its group) restores the weight every scored
    token has in an ungrouped batch, when `scored_tokens` is on; it stays 1.0 otherwise, and with
    `length_group=1` (the shipped checkpoints: the same random draws as before the option existed).
    """

    def __init__(
        self,
        pools: dict[str, list[Seq]],
        weights: dict[str, float],
        batch_size: int,
        seed: int,
        length_group: int = 1,
        scored_tokens: bool = True,
    ):
        self.kinds = [k for k in weights if weights[k] > 0 and pools.get(k)]
        if not self.kinds:
            raise ValueError("empty training mixture")
        if length_group < 1:
            raise ValueError(f"length_group must be >= 1, got {length_group}")
        w = np.array([weights[k] for k in self.kinds], dtype=np.float64)
        self.p = w / w.sum()
        self.pools = pools
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.length_group = length_group
        self.scored_tokens = scored_tokens
        self.loss_scale = 1.0
        """Factor for the last batch's mean loss (see the class docstring)."""
        self._ready: dict[str, list[tuple[np.ndarray, float]]] = {}

    def next(self) -> tuple[str, list[Seq]]:
        kind = self.kinds[int(self.rng.choice(len(self.kinds), p=self.p))]
        pool = self.pools[kind]
        if self.length_group == 1:
            idx = self.rng.integers(0, len(pool), size=self.batch_size)
        else:
            ready = self._ready.setdefault(kind, [])
            if not ready:
                ready.extend(self._group(pool))
            idx, self.loss_scale = ready.pop()
        return kind, [pool[i] for i in idx]

    def _group(self, pool: list[Seq]) -> list[tuple[np.ndarray, float]]:
        """`length_group` batches of one kind, each with its loss scale, in random order."""
        idx = self.rng.integers(0, len(pool), size=self.batch_size * self.length_group)
        idx = idx[np.argsort([len(pool[i].ids) for i in idx], kind="stable")]
        batches = idx.reshape(self.length_group, self.batch_size)
        scored = np.array([sum(sum(pool[i].loss) for i in b) for b in batches], dtype=np.float64)
        scales = scored / scored.mean() if self.scored_tokens and scored.mean() > 0 else np.ones(len(batches))
        order = self.rng.permutation(self.length_group)
        return [(batches[k], float(scales[k])) for k in order]


def text_only(seq: Seq) -> Seq:
    """The text part of a sequence for the understanding LM: think mode cut after `<img>`."""
    if not any(seq.cells):
        return seq
    n = next(i for i, c in enumerate(seq.cells) if c > 0)  # first image code
    return Seq("und-" + seq.kind, seq.ids[:n], seq.loss[:n], (0,) * n)


def split_image_seq(seq: Seq, code_offset: int) -> tuple[list[int], list[int]]:
    """(prefix ending with `<img>`, 9 codes) of a drawing or think-mode sequence."""
    n = next(i for i, c in enumerate(seq.cells) if c > 0)
    return list(seq.ids[:n]), [i - code_offset for i in seq.ids[n:]]


class FlopMeter:
    """Training FLOPs of a stage: counted exactly (torch's FlopCounterMode, forward and backward) on the
    first `exact_steps` batches of each kind, extrapolated to the other batches of that kind by their
    padded token count (the attention term, quadratic in length, is a few percent here)."""

    def __init__(self, exact_steps: int = 3):
        self.exact_steps = exact_steps
        self.counted: dict[str, list[tuple[float, int]]] = {}  # kind -> (flops, tokens) per counted batch
        self.estimated_tokens: dict[str, int] = {}

    def counting(self, kind: str) -> bool:
        """Whether the next batch of `kind` is counted exactly."""
        return len(self.counted.get(kind, [])) < self.exact_steps

    def add(self, kind: str, tokens: int, flops: float | None) -> None:
        """Record a batch: its exact FLOPs, or None to estimate them from its tokens."""
        if flops is None:
            self.estimated_tokens[kind] = self.estimated_tokens.get(kind, 0) + tokens
        else:
            self.counted.setdefault(kind, []).append((float(flops), tokens))

    def total(self) -> float:
        """FLOPs so far: counted plus estimated."""
        out = 0.0
        for kind, batches in self.counted.items():
            flops, tokens = sum(f for f, _ in batches), sum(t for _, t in batches)
            out += flops + self.estimated_tokens.get(kind, 0) * flops / max(tokens, 1)
        return out


def padded_positions(batch: list[Seq]) -> int:
    """Positions a right-padded batch computes (`pad_batch`): rows x (its longest sequence - 1)."""
    return len(batch) * (max(len(s.ids) for s in batch) - 1)


def packed_positions(capacity: int) -> Callable[[list[Seq]], int]:
    """Positions a batch computes when packed into rows of `capacity` (`sequences.pack_batch`)."""

    def count(batch: list[Seq]) -> int:
        _, rows, T = pack_layout(batch, capacity)
        return len(rows) * T

    return count


def train_steps(
    model,
    sampler: BatchSampler,
    loss_fn: Callable[[list[Seq]], Any],
    params,
    cfg: TrainConfig,
    steps: int,
    log: Callable[[dict[str, Any]], None],
    stage: str,
    positions: Callable[[list[Seq]], int] = padded_positions,
) -> list[float]:
    """The optimisation loop shared by every stage and by `finetune`; returns per-step losses.

    Each log record carries `train_flops`, the stage's training FLOPs so far (FlopMeter, which
    extrapolates by `positions`, the positions a batch computes), so that bench/bench_sandbox_train.py
    can report the model FLOPs utilisation."""
    import contextlib

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    decay = [p for p in params if p.dim() >= 2]
    other = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.98),
    )
    losses: list[float] = []
    acc: dict[str, list[float]] = {}
    meter = FlopMeter()
    t0 = time.perf_counter()
    for step in range(steps):
        lr = _lr_at(cfg, step, steps)
        for g in opt.param_groups:
            g["lr"] = lr
        kind, batch = sampler.next()
        counter = FlopCounterMode(display=False) if meter.counting(kind) else None
        with counter or contextlib.nullcontext():
            with _autocast(cfg):
                loss = loss_fn(batch)
            opt.zero_grad(set_to_none=True)
            if sampler.loss_scale != 1.0:
                loss = loss * sampler.loss_scale
            loss.backward()
        meter.add(kind, positions(batch), None if counter is None else counter.get_total_flops())
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        v = float(loss.detach())  # with length groups, scaled: averaged over a group, its token-mean loss
        losses.append(v)
        acc.setdefault(kind, []).append(v)
        if (step + 1) % cfg.log_every == 0 or step + 1 == steps:
            rec = {
                "stage": stage,
                "step": step + 1,
                "lr": round(lr, 6),
                "loss": round(float(np.mean([x for xs in acc.values() for x in xs])), 5),
                "loss_by_kind": {k: round(float(np.mean(xs)), 5) for k, xs in sorted(acc.items())},
                "elapsed_s": round(time.perf_counter() - t0, 2),
                "train_flops": float(f"{meter.total():.4g}"),
            }
            log(rec)
            acc = {}
    return losses


def _autocast(cfg: TrainConfig):
    """bf16 autocast for the matmuls when enabled (`bf16=None`: on CUDA only)."""
    import contextlib

    import torch

    device_type = "cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu"
    use = cfg.bf16 if cfg.bf16 is not None else device_type == "cuda"
    if not use:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16)


def shared_loss_fn(model, device: str, pack: int | None = None) -> Callable[[list[Seq]], Any]:
    """Teacher-forced next-token loss of the shared backbone (or the query model's LM) on a batch of
    sequences: right-padded, or with `pack` packed into rows of that many tokens (`TrainConfig.pack`)."""
    import torch

    def fn(batch: list[Seq]):
        if pack is not None:
            b = pack_batch(batch, pack)
            t = {
                k: torch.from_numpy(getattr(b, k)).to(device)
                for k in ("ids", "targets", "cells", "pos", "doc")
            }
            return model(t["ids"], t["targets"], t["cells"], pos=t["pos"], doc=t["doc"])[1]
        x, y, c = pad_batch(batch)
        _, loss = model(
            torch.from_numpy(x).to(device), torch.from_numpy(y).to(device), torch.from_numpy(c).to(device)
        )
        return loss

    return fn


def query_image_loss_fn(model, code_offset: int, device: str) -> Callable[[list[Seq]], Any]:
    """Decoder loss of the query model on drawing / think-mode sequences (LM frozen)."""
    import torch

    def fn(batch: list[Seq]):
        pairs = [split_image_seq(s, code_offset) for s in batch]
        codes = torch.tensor([p[1] for p in pairs], dtype=torch.long, device=device)
        _, loss = model([p[0] for p in pairs], codes)
        return loss

    return fn


def main(
    config: TrainConfig,
    out: str | Path,
    command: Sequence[str] | None = None,
    echo: Callable[[str], None] = print,
) -> Path:
    """Train from scratch with `config` and write the checkpoint to `out`; returns `out`."""
    import torch

    from unisandbox.models.sandbox.checkpoint import LOG, save_checkpoint
    from unisandbox.runs.io import JsonlAppender

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)  # parameter init; data and batches use their own seeded generators
    device = _device(config.device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    echo("resolved config: " + json.dumps(config.to_dict(), sort_keys=True))
    t0 = time.perf_counter()
    codec, pools = build_mixture(config.mixture, seed=config.seed)
    echo(
        f"mixture: {', '.join(f'{k}={len(v)}' for k, v in sorted(pools.items()))}; text vocab "
        f"{codec.text.size}, image codes {codec.image.size} ({time.perf_counter() - t0:.1f}s)"
    )
    unweighted = sorted(k for k, v in pools.items() if v and k not in config.weights)
    if unweighted:
        raise ValueError(
            f"pools {unweighted} have sequences but no weight (set e.g. --set weights.{unweighted[0]}=0.05)"
        )
    (out / LOG).unlink(missing_ok=True)  # a fresh run owns its log
    logf = JsonlAppender(out / LOG)

    def log(rec: dict[str, Any]) -> None:
        logf.append(rec)
        echo(json.dumps(rec))

    if config.arch == "shared":
        model = _train_shared(config, codec, pools, device, log)
    elif config.arch == "query":
        model = _train_query(config, codec, pools, device, log)
    else:
        raise ValueError(f"unknown arch {config.arch!r}")
    logf.close()
    cmd = list(command) if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]]
    meta = {
        "train": config.to_dict(),
        "seed": config.seed,
        "command": shlex.join(cmd),
        "sampling": {"temperature": config.temperature},
        "train_seconds": round(time.perf_counter() - t0, 1),
        "device": device,
    }
    save_checkpoint(out, config.arch, model.cpu(), codec, meta)
    echo(f"checkpoint written to {out} ({time.perf_counter() - t0:.0f}s)")
    return out


def _train_shared(config: TrainConfig, codec: Codec, pools: dict[str, list[Seq]], device: str, log):
    from unisandbox.models.sandbox.model import GPT, GPTConfig

    model = GPT(GPTConfig(vocab_size=codec.vocab_size, **config.model)).to(device).train()
    _check_fits(pools, model.cfg.block_size)
    _lookup_stage(model, config, codec, device, log)
    sampler = BatchSampler(pools, config.weights, config.batch_size, config.seed, config.length_group)
    params = [p for p in model.parameters() if p.requires_grad]
    loss, positions = _text_loss(model, config, device)
    train_steps(model, sampler, loss, params, config, config.steps, log, "shared", positions)
    return model.eval()


def _train_query(config: TrainConfig, codec: Codec, pools: dict[str, list[Seq]], device: str, log):
    from unisandbox.models.sandbox.model import GPTConfig
    from unisandbox.models.sandbox.query import QueryConfig, QueryModel

    lm_cfg = GPTConfig(vocab_size=codec.text.size, **config.model)
    model = QueryModel(lm_cfg, QueryConfig(n_codes=codec.image.size, **config.query)).to(device)
    _check_fits(pools, lm_cfg.block_size)
    if config.init_lm is not None:
        _reuse_lm(model, codec, config.init_lm, log)
    else:
        _train_lm(model, config, codec, pools, device, log)
    # Stage 2: freeze the LM; queries + decoder learn to draw from its states.
    model.freeze_lm()
    img_pools = {k: pools[k] for k in ("draw", "think", "kthink") if pools.get(k)}
    w2 = {k: config.weights.get(k, 0.5) for k in img_pools}
    # The decoder scores the 9 codes of every sequence: only the prefix length varies, no rescaling.
    s2 = BatchSampler(
        img_pools, w2, config.batch_size, config.seed + 1, config.length_group, scored_tokens=False
    )
    params = [model.queries, *model.proj.parameters(), *model.dec.parameters()]
    model.dec.train()
    train_steps(
        model,
        s2,
        query_image_loss_fn(model, codec.code_offset, device),
        params,
        config,
        config.steps,
        log,
        "query",
    )
    return model.eval()


def _reuse_lm(model, codec: Codec, path: str, log) -> None:
    from unisandbox.models.sandbox.checkpoint import LOG, load_checkpoint
    from unisandbox.runs.io import iter_jsonl

    src = load_checkpoint(path, "query", device="cpu")
    # The LM reads text only, so only the text tokenizer must match (the image codebook may differ).
    if src.codec.text.words != codec.text.words:
        raise ValueError(
            f"{path}: its text tokenizer differs from this mixture's (other seed or mixture config)"
        )
    if src.model.lm.cfg != model.lm.cfg:
        raise ValueError(f"{path}: its LM has other arguments than this config's")
    model.lm.load_state_dict(src.model.lm.state_dict())
    for rec in iter_jsonl(Path(path) / LOG):
        if rec.get("stage") == "lm":
            log({**rec, "reused_from": str(path)})


def _train_lm(
    model, config: TrainConfig, codec: Codec, pools: dict[str, list[Seq]], device: str, log
) -> None:
    """Stage 1: the understanding LM on text only (after the lookup stage)."""
    _lookup_stage(model.lm, config, codec, device, log)
    text_pools = {
        "und": pools.get("und", []),
        "fact": pools.get("fact", []),
        "know": pools.get("know", []),
        "kcopy": pools.get("kcopy", []),
        "think": [text_only(s) for s in pools.get("think", [])],
        "kthink": [text_only(s) for s in pools.get("kthink", [])],
    }
    w1 = {k: config.weights.get(k, 0.0) for k in text_pools}
    s1 = BatchSampler(text_pools, w1, config.batch_size, config.seed, config.length_group)
    model.lm.train()
    lm_params = list(model.lm.parameters())
    loss, positions = _text_loss(model.lm, config, device)
    train_steps(model.lm, s1, loss, lm_params, config, config.lm_steps, log, "lm", positions)


def _text_loss(model, config: TrainConfig, device: str):
    """(loss function, positions counter) of a pretraining stage on a GPT: packed with `config.pack`."""
    if not config.pack:
        return shared_loss_fn(model, device), padded_positions
    capacity = model.cfg.block_size
    return shared_loss_fn(model, device, capacity), packed_positions(capacity)


def lookup_pool(config: TrainConfig, codec: Codec) -> list[Seq]:
    """Mapping understanding sequences of the mixture's train items at `lookup_levels`: probe -> trace and
    prompt -> trace (the same sequences the `und` pool holds for them)."""
    from unisandbox.models.sandbox.mixture import probe_steps, trace_steps, train_items

    items = [
        it for it in train_items(config.mixture, config.seed)["mapping"] if it.level in config.lookup_levels
    ]
    fmt = config.mixture.rule_format
    return [
        s
        for it in items
        for s in (
            codec.understanding(it.probe.question, probe_steps(it, fmt)),
            codec.understanding(it.prompt, trace_steps(it, fmt)),
        )
    ]


def _lookup_stage(model, config: TrainConfig, codec: Codec, device: str, log) -> None:
    """Stage 0: `lookup_steps` steps on mapping understanding alone, with their own warm-up and decay."""
    if config.lookup_steps <= 0:
        return
    pool = lookup_pool(config, codec)
    if not pool:
        raise ValueError(f"lookup stage: no mapping train items at levels {config.lookup_levels}")
    sampler = BatchSampler({"lookup": pool}, {"lookup": 1.0}, config.batch_size, config.seed + 2)
    params = [p for p in model.parameters() if p.requires_grad]
    loss, positions = _text_loss(model, config, device)
    train_steps(model, sampler, loss, params, config, config.lookup_steps, log, "lookup", positions)


def _check_fits(pools: dict[str, list[Seq]], block_size: int) -> None:
    longest = max(len(s.ids) for v in pools.values() for s in v)
    if longest > block_size:
        raise ValueError(f"a training sequence has {longest} tokens > block_size {block_size}")


def _ddp(module, distributed: bool):
    """`module` wrapped for DistributedDataParallel when running under torchrun, else itself.

    Wrapped per stage, after freezing: DDP registers only the parameters that require grad at wrap time,
    so the query model's frozen LM is neither synchronised nor expected to receive gradients.
    """
    if not distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module)


def finetune(
    model,
    codec: Codec,
    sequences: Sequence[Seq],
    steps: int,
    lr: float = 5e-4,
    batch_size: int = 32,
    seed: int = 0,
    replay: Sequence[Seq] = (),
    replay_ratio: float = 0.0,
    arch: str = "shared",
    log: Callable[[dict[str, Any]], None] | None = None,
    log_every: int = 50,
    warmup: int = 20,
    distributed: bool = False,
) -> list[float]:
    """Fine-tune a loaded network in place on `sequences` (optionally mixed with `replay` data).

    Shared arch: every sequence kind trains the whole network. Query arch: text-only sequences ("und")
    train the LM; image sequences ("draw"/"think") train the queries and decoder with the LM frozen.
    With `distributed` (torchrun's process group initialised), each stage trains under DDP; give each
    rank its own `seed` so that ranks draw different batches. Returns the per-step losses.
    Example (STARS): `finetune(ckpt.model, ckpt.codec, seqs, steps=500)`.
    """
    cfg = replace(
        TrainConfig(), lr=lr, batch_size=batch_size, warmup=warmup, log_every=log_every, min_lr_frac=1.0
    )  # constant lr after warmup: short runs, no schedule to tune
    pools = {"new": list(sequences)}
    weights = {"new": 1.0 - replay_ratio}
    if replay and replay_ratio > 0:
        pools["replay"] = list(replay)
        weights["replay"] = replay_ratio
    run = _Finetune(cfg, steps, weights, seed, log or (lambda rec: None), distributed)
    losses = run.shared(model, pools) if arch == "shared" else run.query(model, codec, pools)
    model.eval()
    return losses


@dataclass(frozen=True)
class _Finetune:
    """One fine-tuning run's settings, shared by its stages."""

    cfg: TrainConfig
    steps: int
    weights: dict[str, float]
    seed: int
    log: Callable[[dict[str, Any]], None]
    distributed: bool

    def shared(self, model, pools: dict[str, list[Seq]]) -> list[float]:
        """Every sequence kind trains the whole network."""
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        net = _ddp(model, self.distributed)
        loss = shared_loss_fn(net, _device_of(model))
        return self._steps(net, pools, self.seed, loss, params, "finetune")

    def query(self, model, codec: Codec, pools: dict[str, list[Seq]]) -> list[float]:
        """Text sequences train the LM; then image sequences train queries and decoder, the LM frozen."""
        texts = {k: [s for s in v if not any(s.cells)] for k, v in pools.items()}
        images = {k: [s for s in v if any(s.cells)] for k, v in pools.items()}
        losses: list[float] = []
        if any(texts.values()):
            model.lm.requires_grad_(True)
            model.lm.train()
            lm = _ddp(model.lm, self.distributed)
            loss = shared_loss_fn(lm, _device_of(model))
            losses += self._steps(lm, texts, self.seed, loss, list(model.lm.parameters()), "finetune-lm")
        model.freeze_lm()  # before the image stage's DDP wrap, which must not register the LM's parameters
        if any(images.values()):
            model.dec.train()
            params = [model.queries, *model.proj.parameters(), *model.dec.parameters()]
            net = _ddp(model, self.distributed)
            loss = query_image_loss_fn(net, codec.code_offset, _device_of(model))
            losses += self._steps(net, images, self.seed + 1, loss, params, "finetune-query")
        return losses

    def _steps(self, net, pools: dict[str, list[Seq]], seed: int, loss, params, stage: str) -> list[float]:
        sampler = BatchSampler(pools, self.weights, self.cfg.batch_size, seed)
        return train_steps(net, sampler, loss, params, self.cfg, self.steps, self.log, stage)


def _device_of(model) -> str:
    return str(next(model.parameters()).device)


__all__ = ["TrainConfig", "profile", "main", "finetune", "BatchSampler"]
