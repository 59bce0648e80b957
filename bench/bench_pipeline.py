"""Framework overhead per sample of the evaluation pipeline, model and judge excluded.

An instant model (hands back one pre-rendered image per request) and an instant judge (a fixed caption)
go through the real stages: generate (PNG encode, temp file + fsync + rename, sample records), probes,
judge (image read, verdict records), then summary and all reports. Prints milliseconds per sample.

    python bench/bench_pipeline.py [--items 600] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from unisandbox.judges.base import Caption
from unisandbox.models.base import Capabilities, Generation, Understanding
from unisandbox.runs.config import RunConfig
from unisandbox.runs.pipeline import Opened, stage_generate, stage_judge, stage_report
from unisandbox.runs.rundir import RunDir
from unisandbox.runs.runner import Plan
from unisandbox.tasks.math import math_items
from unisandbox.world.render import render_scene


class InstantModel:
    name = "instant"
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.image = Image.fromarray(render_scene("cup", 3, np.random.default_rng(0), style="grid"))

    def describe(self) -> dict:
        return {"kind": "instant"}

    def understand(self, questions):
        return [Understanding(answer="3") for _ in questions]

    def generate(self, items, mode, seeds):
        return [Generation(image=self.image, text="Prompt: 3 cups" if mode == "think" else "") for _ in items]


class InstantJudge:
    name = "instant"

    def describe(self) -> dict:
        return {"kind": "instant"}

    def caption(self, images):
        return [Caption("3 cups") for _ in images]


def one_run(items, root: Path) -> dict[str, float]:
    """Seconds per stage for one fresh run."""
    config = RunConfig(model="instant", judge="instant")
    run = RunDir(root)
    manifest = run.create(config, items)
    opened = Opened(run, manifest, config, Plan(tuple(items), config.modes, 1))
    times = {}
    t = time.perf_counter()
    stage_generate(opened, InstantModel())
    times["generate+probe"] = time.perf_counter() - t
    t = time.perf_counter()
    stage_judge(opened, InstantJudge())
    times["judge"] = time.perf_counter() - t
    t = time.perf_counter()
    stage_report(opened)
    times["report"] = time.perf_counter() - t
    t = time.perf_counter()
    stage_generate(opened, InstantModel())
    stage_judge(opened, InstantJudge())
    times["resume (nothing to do)"] = time.perf_counter() - t
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    items = []
    level = 1
    while len(items) < args.items:
        items += math_items(level, 1 + (level - 1) % 3, min(100, args.items - len(items)))
        level += 1
    n_samples = len(items) * 2
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
        try:
            for k, v in one_run(items, root).items():
                best[k] = min(best.get(k, float("inf")), v)
        finally:
            shutil.rmtree(root)
    total = best["generate+probe"] + best["judge"] + best["report"]
    print(f"{len(items)} items, {n_samples} samples (normal + think), best of {args.repeat}")
    for k, v in best.items():
        print(f"  {k:24s} {v:7.3f} s  {1000 * v / n_samples:6.3f} ms/sample")
    print(
        f"framework overhead per sample (generate + probe + judge + report): {1000 * total / n_samples:.3f} ms "
        "(target <= 2 ms)"
    )


if __name__ == "__main__":
    main()
