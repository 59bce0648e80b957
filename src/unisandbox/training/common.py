"""What STARS and knowledge injection share: loading a trainable sandbox checkpoint as an adapter, replay
data from the pretraining generators, saving a tuned checkpoint, torch.distributed bookkeeping.

The adapter (`registry.load_model("sandbox:DIR")`) does every sampling; the network itself
(`checkpoint.load_checkpoint`) is what `train.finetune` updates. After fine-tuning, the network is saved
as a checkpoint directory and a fresh adapter is loaded from it, so evaluation sees exactly the files a
user would get.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from unisandbox.models.sandbox.adapter import SandboxModel, SandboxQueryModel
    from unisandbox.models.sandbox.checkpoint import Checkpoint
    from unisandbox.models.sandbox.sequences import Seq

ARCH_SPECS = {"shared": "sandbox", "query": "sandbox-query"}


def load_adapter(checkpoint: str | Path | None, arch: str) -> SandboxModel | SandboxQueryModel:
    """The sandbox model adapter for a checkpoint directory (None = the shipped one); refuses untrainable."""
    from unisandbox.models.base import require
    from unisandbox.models.sandbox.adapter import SandboxModel, SandboxQueryModel
    from unisandbox.registry import load_model

    if arch not in ARCH_SPECS:
        raise ValueError(f"unknown arch {arch!r}; expected 'shared' or 'query'")
    spec = ARCH_SPECS[arch] if checkpoint is None else f"{ARCH_SPECS[arch]}:{checkpoint}"
    model = load_model(spec)
    require(model, training=True)
    if not isinstance(model, SandboxModel | SandboxQueryModel):
        raise TypeError(f"{spec} did not load a sandbox adapter")  # ARCH_SPECS names only those
    return model


def checkpoint_dir(checkpoint: str | Path | None, arch: str) -> Path:
    """The directory of a checkpoint argument (None = the shipped checkpoint of `arch`)."""
    from unisandbox.models.sandbox.checkpoint import shipped_dir

    return Path(checkpoint) if checkpoint is not None else shipped_dir(arch)


def pretrain_seed(config: dict[str, Any]) -> int:
    """The seed the checkpoint was pretrained with (its data pools are generated from it)."""
    return int(config.get("seed", config.get("train", {}).get("seed", 0)))


@dataclass(frozen=True)
class ReplayConfig:
    """Size of the replay pool rebuilt from the pretraining generators (same seed, smaller pools)."""

    math_items: int = 400
    """Train-split math items per level."""
    mapping_items: int = 200
    """Train-split mapping pairs per level."""
    n_draw: int = 3000
    """Drawing sequences from plain descriptions."""
    facts: bool = True
    """Replay the single-operation math facts too (when the checkpoint learned them)."""
    size: int = 20000
    """Replay sequences drawn from the pools with the checkpoint's pretraining weights."""


TEXT_KINDS = ("und", "fact", "know")
"""Pretraining pools without images."""
IMAGE_KINDS = ("draw", "think", "kthink")
"""Pretraining pools with an image (kthink: knowledge think mode)."""


def replay_pools(ckpt: Checkpoint, cfg: ReplayConfig) -> dict[str, list[Seq]]:
    """Pretraining-style sequences per pool kind, tokenized with the checkpoint's codec.

    Built from the checkpoint's own mixture config (seed, facts, knowledge data) with smaller item pools,
    so replay comes from the same train pools and the same kinds of data the checkpoint learned.
    """
    from dataclasses import replace

    from unisandbox.models.sandbox import mixture as M

    mix = ckpt.config.get("train", {}).get("mixture")
    base = M.MixtureConfig.from_dict(mix) if mix else M.MixtureConfig(knowledge=None)
    # Only the levels the checkpoint was pretrained on, at the replay sizes.
    small = replace(
        base,
        math_items={lv: cfg.math_items for lv, n in base.math_items.items() if n},
        mapping_items={lv: cfg.mapping_items for lv, n in base.mapping_items.items() if n},
        n_draw=cfg.n_draw,
        facts=base.facts and cfg.facts,
    )
    pools = M.tokenize(M.build_raw(small, pretrain_seed(ckpt.config)), ckpt.codec)
    return {k: v for k, v in pools.items() if v}


def weighted_replay(
    ckpt: Checkpoint, pools: dict[str, list[Seq]], kinds: Iterable[str], n: int, seed: int
) -> list[Seq]:
    """`n` replay sequences drawn from `pools` (restricted to `kinds`) with the checkpoint's pretraining
    batch weights, so replay keeps the proportions the model learned with, however large each pool is."""
    import numpy as np

    from unisandbox.models.sandbox.train import TrainConfig

    weights = ckpt.config.get("train", {}).get("weights") or TrainConfig().weights
    kinds = [k for k in kinds if pools.get(k) and weights.get(k, 0) > 0]
    if not kinds or n <= 0:
        return []
    p = np.array([weights[k] for k in kinds], dtype=np.float64)
    rng = np.random.default_rng(seed)
    which = rng.choice(len(kinds), size=n, p=p / p.sum())
    out = []
    for i in which:
        pool = pools[kinds[int(i)]]
        out.append(pool[int(rng.integers(len(pool)))])
    return out


def save_tuned(ckpt: Checkpoint, out: Path, extra: dict[str, Any]) -> Path:
    """Save a fine-tuned network as a checkpoint directory, keeping the parent's config plus `extra`."""
    from unisandbox.models.sandbox.checkpoint import save_checkpoint

    keep = {k: v for k, v in ckpt.config.items() if k not in ("format_version", "arch", "model")}
    history = list(keep.get("finetune", []))
    history.append(extra)
    keep["finetune"] = history
    return save_checkpoint(out, ckpt.arch, ckpt.model.cpu(), ckpt.codec, keep)


def param_hash(named: Iterable[tuple[str, Any]]) -> str:
    """sha256 over parameter names and exact bytes (detects any change to the given parameters)."""
    h = hashlib.sha256()
    for name, p in named:
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def generation_params(model: nn.Module, arch: str) -> list[tuple[str, Any]]:
    """The parameters that only the image-generation pathway uses.

    query: the learnable queries, their projection and the image decoder. shared: none; one network
    reads and writes text and image tokens, so every parameter serves both sides.
    """
    if arch == "query":
        return sorted(
            (n, p) for n, p in model.named_parameters() if n.startswith(("queries", "proj.", "dec."))
        )
    return []


# --- torch.distributed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """This process's place in a torchrun job (world 1, rank 0 when not distributed)."""

    rank: int = 0
    world: int = 1
    device: str | None = None
    """Where this rank trains: "cuda:<local rank>" on GPUs, "cpu" otherwise; None when not distributed."""

    @property
    def main(self) -> bool:
        """True on the process that writes files."""
        return self.rank == 0


def init_dist() -> Dist:
    """Join the torchrun process group (gloo on CPU, nccl on GPU) if launched by torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Dist()
    import torch
    import torch.distributed as dist

    device = "cpu"
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)  # "cuda" now means this rank's GPU, for the adapter too
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device != "cpu" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), device)


def gather(obj: Any, d: Dist) -> list[Any]:
    """Every rank's `obj`, in rank order (a one-element list when not distributed)."""
    if d.world == 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def barrier(d: Dist) -> None:
    """Wait for every rank (no-op when not distributed)."""
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()


def broadcast(obj: Any, d: Dist) -> Any:
    """Rank 0's `obj` on every rank."""
    if d.world == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
