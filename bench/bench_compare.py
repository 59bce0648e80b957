"""Time of `unisandbox compare` on 10 runs of the official split (math and mapping, levels 1-3, both modes).

One real run is made with the fake model and the sandbox judge (or given with --base); nine more are
synthesised by copying it and flipping each verdict with probability 0.2 (seeded), so the paired tests
have discordant units to count. Prints the seconds of the comparison in process (read the runs, compare,
write compare.json/.csv/.md/.png/.html) and of the whole command in a fresh interpreter.

    python bench/bench_compare.py [--runs 10] [--repeat 3] [--base RUN_DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_base(root: Path) -> Path:
    """A complete run of the official math + mapping test split with the fake model, judged by the sandbox judge."""
    from unisandbox.runs.pipeline import (
        load_judge,
        load_model,
        open_run,
        stage_generate,
        stage_judge,
        stage_report,
    )

    out = root / "base"
    opened = open_run(out, {"model": "fake:p_normal=0.4,p_think=0.7"}, create=True)
    model = load_model(opened)
    stage_generate(opened, model, batch_size=256)
    stage_judge(opened, load_judge(opened), batch_size=256)
    stage_report(opened)
    return out


def synthesise(base: Path, root: Path, n: int) -> list[Path]:
    """`n` run directories: the base and copies whose verdicts are flipped with probability 0.2."""
    runs = [base]
    for i in range(1, n):
        dest = root / f"copy{i}"
        shutil.copytree(base, dest)
        rng = random.Random(i)
        lines = []
        for line in (dest / "verdicts.jsonl").read_text().splitlines():
            rec = json.loads(line)
            if rec["verdict"] in ("correct", "wrong") and rng.random() < 0.2:
                rec["verdict"] = "wrong" if rec["verdict"] == "correct" else "correct"
            lines.append(json.dumps(rec, sort_keys=True))
        (dest / "verdicts.jsonl").write_text("\n".join(lines) + "\n")
        manifest = json.loads((dest / "manifest.json").read_text())
        manifest["model"] = {**manifest["model"], "spec": f"copy{i}"}
        (dest / "manifest.json").write_text(json.dumps(manifest))
        runs.append(dest)
    return runs


def in_process(runs: list[Path], out: Path) -> float:
    from unisandbox.report.compare import compare, load_runs, write_comparison

    t0 = time.perf_counter()
    views = load_runs(runs)
    write_comparison(out, views, compare(views))
    return time.perf_counter() - t0


def command(runs: list[Path], out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "unisandbox", "compare", *map(str, runs), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--base", type=Path, default=None, help="A complete run of the official split to copy.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        base = args.base or make_base(root)
        print(f"base run: {base} ({time.perf_counter() - t0:.1f} s to make)")
        runs = synthesise(base, root, args.runs)
        n_items = sum(1 for _ in (base / "items.jsonl").open())
        inner = [in_process(runs, root / "cmp") for _ in range(args.repeat)]
        outer = [command(runs, root / "cmp") for _ in range(args.repeat)]
        print(
            f"{args.runs} runs x {n_items} items: compare in process {statistics.median(inner):.2f} s, "
            f"whole command {statistics.median(outer):.2f} s (median of {args.repeat})"
        )


if __name__ == "__main__":
    main()
