"""Helpers for the pipeline tests: a small pixel judge for grid-style scenes and a CLI launcher.

GridJudge reads only the PNG: it matches each 16x16 cell against the renderer's canonical icons
(grid style puts one icon per cell with at most 1 px of jitter) and writes "N objects" or "Error".
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unisandbox.judges.base import Caption

TESTS = Path(__file__).resolve().parent


class GridJudge:
    name = "grid-test"

    def __init__(self, delay_ms: float = 0.0):
        self.delay_ms = delay_ms

    @classmethod
    def from_spec(cls, path: str | None, **options: Any) -> GridJudge:
        # "grid-test:20" sleeps 20 ms per image so that tests can interrupt judging.
        return cls(float(path) if path else 0.0)

    def describe(self) -> dict[str, Any]:
        return {"kind": "grid-test", "version": 1}

    def caption(self, images: Sequence[bytes]) -> list[Caption]:
        import time

        time.sleep(self.delay_ms * len(images) / 1000)
        return [self._one(b) for b in images]

    def _one(self, data: bytes) -> Caption:
        from unisandbox.judges.match import count_caption
        from unisandbox.world import vocab
        from unisandbox.world.render import BACKGROUND, CELL, GRID, UNIT, canonical_icon, decode_png

        img = decode_png(data).astype(np.int16)
        names = []
        for r in range(GRID):
            for c in range(GRID):
                patch = img[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL]
                if not (patch != np.array(BACKGROUND)).any():
                    continue
                found = None
                for noun in vocab.OBJECTS:
                    icon = canonical_icon(noun.singular)
                    mask = icon[:, :, 3] > 0
                    for dy in (1, 2, 3):
                        for dx in (1, 2, 3):
                            region = patch[dy : dy + UNIT, dx : dx + UNIT]
                            if (region[mask] == icon[:, :, :3][mask]).all():
                                found = noun.singular
                                break
                        if found:
                            break
                    if found:
                        break
                if found is None:
                    return Caption("Error")
                names.append(found)
        if not names or len(set(names)) != 1:
            return Caption("Error")
        return Caption(count_caption(len(names), names[0]))


LAUNCH = (
    "import sys; sys.path.insert(0, {tests!r});"
    "from unisandbox import registry; registry.JUDGES['grid-test'] = 'pipeline_testkit:GridJudge';"
    "from unisandbox.cli import main; sys.argv = ['unisandbox'] + sys.argv[1:]; main()"
)


def cli_command(*args: str) -> list[str]:
    """argv that runs the CLI with the grid-test judge registered."""
    return [sys.executable, "-c", LAUNCH.format(tests=str(TESTS)), *args]


def run_cli(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess (one torch thread), returning its output."""
    proc = subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def run_torchrun(*args: str, port: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `unisandbox ARGS` on 2 CPU ranks (gloo) under torchrun, rendezvous on `port` or standalone.

    The ranks see this process's import path (the tests' helpers included); the run must exit 0.
    """
    rendezvous = ["--master-port", port] if port else ["--standalone"]
    cmd = [sys.executable, "-m", "torch.distributed.run", *rendezvous, "--nproc-per-node", "2"]
    proc = subprocess.run(
        [*cmd, "-m", "unisandbox", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def tree_digest(root: Path, pattern: str = "**/*.png") -> dict[str, str]:
    """sha256 of every file matching `pattern`, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.glob(pattern))
    }
