"""Run the adapter tests against the lowest and the newest transformers / diffusers / accelerate allowed.

Each end gets a throwaway virtual environment outside the repository (default /tmp/vm-<end>): torch (the
CPU wheel named by --torch), the package's other dependencies and test tools at their newest, and then

    low   transformers, diffusers and accelerate pinned to the lower bounds in pyproject.toml's extras
    high  the newest releases of the three

The tests run from this checkout (PYTHONPATH=src, nothing is installed from it), or with --from-head
from a `git archive` of the last commit (so that other work in progress in the tree cannot disturb
them), and build their tiny random Janus and Stable Diffusion pipelines with the installed versions. One line per end is printed:
the end, the four installed versions, passed/FAILED and pytest's summary line.

Run (slow: each end installs torch and everything else, then runs the tests on one thread):

    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_version_matrix.py --end both --from-head

The exit status is 1 if the tests fail at any end. `--reuse` keeps an existing environment (only the
tests run again); without it the environment is created from scratch.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINNED = ("transformers", "diffusers", "accelerate")


def lower_bounds(pyproject: Path) -> dict[str, str]:
    """The `>=` bound of each pinned package across the extras: `{"transformers": "4.52.1", ...}`."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    bounds: dict[str, str] = {}
    for reqs in data["project"]["optional-dependencies"].values():
        for req in reqs:
            m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", req)
            if m and m.group(1) in PINNED:
                name, version = m.groups()
                if bounds.setdefault(name, version) != version:
                    raise SystemExit(
                        f"error: {pyproject}: {name} has two lower bounds ({bounds[name]}, {version})"
                    )
    missing = [p for p in PINNED if p not in bounds]
    if missing:
        raise SystemExit(f"error: {pyproject}: no '>=' bound for {', '.join(missing)} in the extras")
    return bounds


def other_requirements(pyproject: Path) -> list[str]:
    """Runtime dependencies and test tools, except torch and the pinned packages."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    reqs = list(data["project"]["dependencies"]) + list(data["project"]["optional-dependencies"]["test"])
    name = re.compile(r"[A-Za-z0-9_.-]+")
    return [r for r in reqs if (m := name.match(r)) and m.group() not in (*PINNED, "torch", "ruff")]


def pip(venv: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *args], check=True)


def build(venv: Path, end: str, torch_req: str, reuse: bool, pyproject: Path) -> None:
    if reuse and (venv / "bin" / "python").exists():
        return
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip(venv, torch_req)
    if end == "low":
        pinned = [f"{n}=={v}" for n, v in lower_bounds(pyproject).items()]
    else:
        pinned = ["-U", *PINNED]
    pip(venv, *other_requirements(pyproject), *pinned)


def versions(venv: Path) -> str:
    code = (
        "import importlib.metadata as m; print('  '.join(f'{n} {m.version(n)}' for n in "
        f"{(*PINNED, 'torch')!r}))"
    )
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def export_head(dest: Path) -> str:
    """Write the last commit's tree to `dest`; return its hash."""
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return commit


def run_tests(venv: Path, tests: list[str], root: Path) -> tuple[bool, str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q", *tests],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:] + proc.stderr[-2000:])
    return proc.returncode == 0, (lines[-1].strip("= ") if lines else proc.stderr[-300:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--end", choices=["low", "high", "both"], default="both")
    ap.add_argument("--venv-root", type=Path, default=Path("/tmp"), help="where vm-low / vm-high are created")
    ap.add_argument("--torch", default="torch==2.13.0", help="torch requirement (the CPU wheel here)")
    ap.add_argument("--reuse", action="store_true", help="keep an existing environment, rerun the tests only")
    ap.add_argument("--tests", nargs="*", default=None, help="test files (default: tests/test_adapters_*.py)")
    ap.add_argument("--from-head", action="store_true", help="test the last commit, not the working tree")
    args = ap.parse_args()
    ok_all = True
    root = ROOT
    if args.from_head:
        root = Path(tempfile.mkdtemp(prefix="vm-src-"))
        print(f"testing commit {export_head(root)} (exported to {root})", flush=True)
    tests = args.tests or sorted(
        str(p.relative_to(root)) for p in (root / "tests").glob("test_adapters_*.py")
    )
    for end in ["low", "high"] if args.end == "both" else [args.end]:
        venv = args.venv_root / f"vm-{end}"
        build(venv, end, args.torch, args.reuse, root / "pyproject.toml")
        t0 = time.perf_counter()
        ok, summary = run_tests(venv, tests, root)
        ok_all &= ok
        print(
            f"{end:5s} {versions(venv)}  {'passed' if ok else 'FAILED'}  {summary} "
            f"(wall {time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    sys.exit(0 if ok_all else 1)


if __name__ == "__main__":
    main()
