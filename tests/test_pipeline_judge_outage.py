"""A VLM judge endpoint that dies or hangs mid-run: the run stops with exit 3 in well under 2 minutes,
and a rerun once the endpoint is back completes with the summary of an undisturbed run.

Uses the repository's fake OpenAI-compatible server (judges/fake_server.py), a real HTTP server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from unisandbox.judges.fake_server import FakeVLM, Faults

RUN = (
    "run",
    "--model",
    "fake:delay_ms=30",
    "--tasks",
    "math",
    "--levels",
    "1",
    "--limit",
    "30",
    "--judge",
    "vlm",
)


def _cmd(base_url: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "unisandbox",
        *RUN,
        "--judge-option",
        "model=fake-vlm",
        "--judge-option",
        f"base_url={base_url}",
        "--out",
        str(out),
        *extra,
    ]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "UNISANDBOX_JUDGE_CACHE": str(cache)}


def _records(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_dead_endpoint_stops_with_exit_3_then_rerun_completes(tmp_path):
    server = FakeVLM().start()
    try:
        undisturbed = tmp_path / "undisturbed"
        proc = subprocess.run(
            _cmd(server.base_url, undisturbed),
            capture_output=True,
            text=True,
            env=_env(tmp_path / "cache-a"),
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr

        out = tmp_path / "outage"
        child = subprocess.Popen(
            _cmd(server.base_url, out),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path / "cache-b"),
        )
        deadline = time.monotonic() + 120
        while _records(out / "samples.jsonl") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill()  # after the run's checks passed, before any image was judged: the endpoint is gone
        killed_at = time.monotonic()
        stdout, stderr = child.communicate(timeout=300)
        took = time.monotonic() - killed_at
        assert child.returncode == 3, stderr
        assert took < 120, took  # default settings: 20 failed calls in a row over >= 10 s
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("stopped: the judge endpoint failed") and "rerun the same command" in last
        assert server.base_url in last
        assert "Traceback" not in stderr
        assert "INCOMPLETE" in (out / "report.md").read_text()  # the report says what the run holds

        server.start()  # back on the same port
        proc = subprocess.run(
            _cmd(server.base_url, out),
            capture_output=True,
            text=True,
            env=_env(tmp_path / "cache-b"),
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert "0 images, 0 probes this call" in proc.stderr  # nothing generated twice
        assert json.loads((out / "summary.json").read_text()) == json.loads(
            (undisturbed / "summary.json").read_text()
        )
    finally:
        server.kill()


def test_hanging_endpoint_trips_the_breaker_and_writes_no_verdicts(tmp_path):
    # Every chat request hangs (the server accepts the connection and never answers); /models answers.
    with FakeVLM(Faults(slow_first=10**6, slow_seconds=300)) as server:
        out = tmp_path / "hang"
        start = time.monotonic()
        proc = subprocess.run(
            _cmd(
                server.base_url,
                out,
                "--judge-option",
                "timeout=1",
                "--judge-option",
                "concurrency=4",
                "--judge-option",
                "breaker_seconds=3",
            ),
            capture_output=True,
            text=True,
            env=_env(tmp_path / "cache"),
            timeout=300,
        )
        took = time.monotonic() - start
    assert proc.returncode == 3, proc.stderr
    assert re.search(r"failed (\d+) calls in a row", proc.stderr) and "timeout" in proc.stderr
    assert took < 60, took
    assert _records(out / "verdicts.jsonl") == 0  # images in flight are left for the rerun, not "error"
    assert _records(out / "samples.jsonl") == 60
