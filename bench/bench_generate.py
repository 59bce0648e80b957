"""Generate 100,000 items (train split, all math and mapping levels) and print the time taken.

Target: under 30 s on 2 CPU cores. Run: `python bench/bench_generate.py [--audit]`.
"""

from __future__ import annotations

import argparse
import time

from unisandbox.tasks.mapping import mapping_items
from unisandbox.tasks.math import math_items

# (task, level, n): math n items, mapping n pairs (2n items); 100,000 items in all.
PLAN = [
    ("math", 1, 15_000),
    ("math", 2, 20_000),
    ("math", 3, 20_000),
    ("mapping", 1, 7_500),
    ("mapping", 2, 7_500),
    ("mapping", 3, 7_500),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--audit", action="store_true", help="also audit every generated item and time it")
    args = parser.parse_args()
    items = []
    start = time.perf_counter()
    for task, level, n in PLAN:
        t0 = time.perf_counter()
        make = math_items if task == "math" else mapping_items
        batch = make(args.seed, level, n, "train")
        items += batch
        print(f"{task:8s} level {level}: {len(batch):6d} items in {time.perf_counter() - t0:6.2f} s")
    total = time.perf_counter() - start
    print(f"generated {len(items)} items in {total:.2f} s ({len(items) / total:,.0f} items/s)")
    if args.audit:
        from unisandbox.tasks.audit import audit_item

        t0 = time.perf_counter()
        bad = sum(audit_item(it).kind != "ok" for it in items)
        dt = time.perf_counter() - t0
        print(f"audited {len(items)} items in {dt:.2f} s: {bad} problems")


if __name__ == "__main__":
    main()
