"""Crash-safe file primitives: append-only JSONL with flush+fsync, atomic whole-file writes.

A crash loses at most the record in flight: a reader skips a truncated last line (the only place a
torn write can be) and the writer repairs it before appending.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to a temp file beside `path`, fsync it, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); outputs are meant to be shared like any other file.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of `atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _repair_tail(path: Path) -> None:
    # A torn append leaves a last line without its newline; drop it so the next append starts clean.
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        content = f.read()
        keep = content.rfind(b"\n") + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())


class JsonlAppender:
    """Append one JSON record per line; each append is flushed and fsynced before it returns."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_tail(self.path)
        self._f = open(self.path, "a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def append_many(self, records: Iterable[dict[str, Any]]) -> None:
        """Append several records with one write and one fsync (a crash tears at most the last line)."""
        text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
        if text:
            self._f.write(text)
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_jsonl(text: str) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object, None) or (line number, None, problem) for each non-blank line of JSONL text.

    The one place that reads JSONL lines; callers decide whether a problem rejects the file, skips the
    line, or (a torn last append) ends the reading.

    >>> parse_jsonl('{"id": 1}\\n\\n[2]\\n{"id"')
    [(1, {'id': 1}, None), (3, None, 'expected a JSON object, got list'), (4, None, "malformed JSON: Expecting ':' delimiter (column 6)")]
    """
    out: list[tuple[int, dict[str, Any] | None, str | None]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            out.append((lineno, None, f"malformed JSON: {e.msg} (column {e.colno})"))
            continue
        if not isinstance(raw, dict):
            out.append((lineno, None, f"expected a JSON object, got {type(raw).__name__}"))
            continue
        out.append((lineno, raw, None))
    return out


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield complete records; a torn last line (no newline, bad JSON) is skipped, not raised."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            if line.strip():
                yield json.loads(line)
