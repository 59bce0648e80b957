"""`unisandbox run` on the official split reproduces a stored summary.json byte for byte (issue 18).

Refactors, renames and formatting must not move a number. The stored file changes only with a commit
that changes what the run measures (a new shipped checkpoint, a judge or task change); regenerate it with
`unisandbox run --out DIR && cp DIR/summary.json tests/data/run_summary_shipped_shared.json` and say why
in that commit.
"""

import subprocess
import sys
from pathlib import Path

import pytest

STORED = Path(__file__).parent / "data" / "run_summary_shipped_shared.json"


@pytest.mark.slow
def test_run_summary_is_byte_identical_to_the_stored_one(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run(
        [sys.executable, "-m", "unisandbox", "run", "--out", str(out)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "summary.json").read_bytes() == STORED.read_bytes()
