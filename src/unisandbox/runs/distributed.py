"""Splitting generation across processes: torchrun ranks or scheduler shards (`--shard i/n`).

Items are dealt round-robin by their position in items.jsonl, so a worker's share depends only on
(position, index, count). Seeds depend only on (item, mode, sample index), so the images are the same
for any number of workers. Each worker appends to its own shard file; the union is read back.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from unisandbox.runs.config import ConfigError


@dataclass(frozen=True)
class Shard:
    """One worker's share of the items."""

    index: int
    """This worker's index, 0 <= index < count."""
    count: int
    """Number of workers."""
    label: str | None
    """Shard-file infix (e.g. "rank1of2", "shard0of4"); None for the whole run in one process."""

    def owns(self, position: int) -> bool:
        """True if the item at `position` in the plan belongs to this worker."""
        return position % self.count == self.index


WHOLE = Shard(0, 1, None)


def parse_shard(text: str) -> Shard:
    """`parse_shard("1/4") == Shard(1, 4, "shard1of4")`; ConfigError on bad input."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise ConfigError(f"--shard must look like i/n (e.g. 0/4), got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text}: need 0 <= i < n")
    return Shard(i, n, f"shard{i}of{n}")


def torchrun_env() -> tuple[int, int] | None:
    """(rank, world size) when started by torchrun with more than one process, else None."""
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if rank is None or world is None:
        return None
    try:
        r, w = int(rank), int(world)
    except ValueError as e:
        raise ConfigError(f"RANK={rank!r} / WORLD_SIZE={world!r} are not integers") from e
    return (r, w) if w > 1 else None


class Group:
    """A torch.distributed process group (gloo, so CPU-only machines work) or a no-op for one process."""

    def __init__(self, env: tuple[int, int] | None):
        self.rank, self.world = env if env else (0, 1)
        self._dist = None
        self._owned = False
        """True when this Group created the process group (one it joined, e.g. a trainer's, stays up)."""
        if env:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group(backend="gloo")
                self._owned = True
            self._dist = dist

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that prepares, merges, judges and reports)."""
        return self.rank == 0

    @property
    def shard(self) -> Shard:
        """This process's share."""
        return WHOLE if self.world == 1 else Shard(self.rank, self.world, f"rank{self.rank}of{self.world}")

    def barrier(self) -> None:
        """Wait for every rank."""
        if self._dist is not None:
            self._dist.barrier()

    def broadcast_ok(self, ok: bool) -> bool:
        """Rank 0 tells everyone whether to go on (so a failure on rank 0 stops all ranks cleanly)."""
        if self._dist is None:
            return ok
        box = [ok]
        self._dist.broadcast_object_list(box, src=0)
        return bool(box[0])

    def close(self) -> None:
        """Tear the group down if this Group created it."""
        if self._dist is not None and self._owned and self._dist.is_initialized():
            self._dist.destroy_process_group()
        self._dist = None
