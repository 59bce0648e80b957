"""Screenshot a run's report.html with headless Chromium (Debian package `chromium`), offline.

    python bench/bench_report_screenshot.py                       # makes a small fake-model run first
    python bench/bench_report_screenshot.py --run runs/my-run --out shot.png --height 3000

Chromium runs with networking blocked (a dead proxy for every host), so the screenshot also shows that
the page needs nothing from the network. Prints the PNG's path and size; exit 2 if Chromium is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """Path of a Chromium binary on PATH, or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def make_run(out: Path) -> None:
    """A small run of the fake model over math, mapping and knowledge (level 1, a few items each)."""
    cmd = [
        sys.executable,
        "-m",
        "unisandbox",
        "run",
        "--model",
        "fake:p_no_image=0.05",
        "--tasks",
        "math,mapping,knowledge",
        "--levels",
        "1",
        "--limit",
        "6",
        "--allow-incomplete",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode not in (0, 3):
        print(
            f"error: the run failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}", file=sys.stderr
        )
        sys.exit(2)


def screenshot(chromium: str, page: Path, out: Path, width: int, height: int) -> float:
    """Render `page` to `out`; return the seconds it took."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--proxy-server=127.0.0.1:9",
                "--proxy-bypass-list=<-loopback>",
                f"--window-size={width},{height}",
                f"--screenshot={out}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="Run directory holding report.html (default: make a small one).")
    ap.add_argument("--out", type=Path, default=Path("report_screenshot.png"))
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=2400)
    args = ap.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("error: no Chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        sys.exit(2)
    run = args.run
    if run is None:
        run = Path(tempfile.mkdtemp(prefix="unisandbox-report-")) / "run"
        make_run(run)
    page = run / "report.html"
    if not page.is_file():
        print(f"error: no report.html ({run})", file=sys.stderr)
        sys.exit(2)
    took = screenshot(chromium, page, args.out, args.width, args.height)
    print(f"{args.out}: {args.out.stat().st_size} bytes, {args.width}x{args.height}, {took:.1f} s ({page})")


if __name__ == "__main__":
    main()
