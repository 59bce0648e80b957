"""A run directory: manifest, planned items, append-only records (with shard files) and images.

```
<out>/manifest.json        model, judge, configuration, seeds, versions, git commit
<out>/items.jsonl          the planned items, fixed when the run is created
<out>/samples.jsonl        one SampleRecord per generated sample   (+ samples.<shard>.jsonl)
<out>/understanding.jsonl  one UnderstandingRecord per probe         (+ understanding.<shard>.jsonl)
<out>/verdicts.jsonl       one VerdictRecord per judged sample
<out>/images/<mode>/s<k>/<item id>.png         (--layout study: test/<mode>/<file stem>/<id>.png)
<out>/summary.json, results.csv, report.md, report.html
```
A record line that cannot be read (bad JSON or a record that fails its schema, anywhere but a torn last
line) is moved to `<file>.damaged` when the run is opened, and its work is redone.
Records of parallel workers go to shard files (`samples.rank0of2.jsonl`, `samples.shard1of4.jsonl`);
readers take the union of the main file and all shard files, and `merge` folds shards into the main
file once the work they hold is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from unisandbox.runs.config import ConfigError, RunConfig
from unisandbox.runs.io import JsonlAppender, atomic_write_bytes, atomic_write_text
from unisandbox.runs.records import SampleRecord, UnderstandingRecord, VerdictRecord
from unisandbox.tasks.base import Item, dump_items, read_items

MANIFEST_SCHEMA_VERSION = 1
DAMAGED_SUFFIX = ".damaged"
"""Side file of a record file that receives its unreadable lines (`samples.jsonl.damaged`)."""
RECORD_KINDS = ("samples", "understanding", "verdicts")
# describe() keys that say where a component runs, not what it is; a resume may change them.
_RUNTIME_KEYS = frozenset({"device", "num_threads", "batch_size", "concurrency"})


def git_commit() -> str | None:
    """The source tree's git commit (with '+dirty' if modified), or None outside a checkout."""
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe_hash(describe: dict[str, Any]) -> str:
    """12 hex digits identifying a component's describe() (runtime keys excluded)."""
    ident = {k: v for k, v in describe.items() if k not in _RUNTIME_KEYS}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]


def items_hash(items: Sequence[Item]) -> str:
    """sha256 of the items' canonical JSONL."""
    return hashlib.sha256(dump_items(items).encode()).hexdigest()


def _key_of(kind: str, raw: dict[str, Any]) -> tuple[Any, ...]:
    if kind == "understanding":
        return (raw["item_id"],)
    return (raw["item_id"], raw["mode"], raw["sample_index"])


_PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "samples": SampleRecord.model_validate,
    "understanding": UnderstandingRecord.model_validate,
    "verdicts": VerdictRecord.model_validate,
}

_FAILED: dict[str, Callable[[Any], bool]] = {
    "samples": lambda r: r.image is None,
    "understanding": lambda r: r.correct is None,
    "verdicts": lambda r: r.verdict in ("error", "missing"),
}


class RunDir:
    """Paths and records of one run directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def items_path(self) -> Path:
        return self.root / "items.jsonl"

    def record_path(self, kind: str, shard: str | None = None) -> Path:
        """`<kind>.jsonl`, or `<kind>.<shard>.jsonl` for one worker's share."""
        return self.root / (f"{kind}.{shard}.jsonl" if shard else f"{kind}.jsonl")

    def shard_paths(self, kind: str) -> list[Path]:
        """This kind's shard files, sorted by name."""
        return sorted(p for p in self.root.glob(f"{kind}.*.jsonl") if p.name.count(".") == 2)

    def image_relpath(self, item: Item, mode: str, sample_index: int, layout: str) -> str:
        """Where a sample's image goes, relative to the run directory; unique per (item, mode, k)."""
        if layout == "study":
            return f"test/{mode}/{study_stem(item)}/{item.meta.get('study_name', item.id)}.png"
        return f"images/{mode}/s{sample_index}/{item.id}.png"

    # -- manifest and items --------------------------------------------------------------------
    def exists(self) -> bool:
        """True if this directory holds a run (a manifest)."""
        return self.manifest_path.exists()

    def read_manifest(self) -> dict[str, Any]:
        """The manifest as a dict; ConfigError if it is missing or unreadable."""
        try:
            manifest: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            return manifest
        except FileNotFoundError as e:
            raise ConfigError(f"{self.root}: not a run directory (no manifest.json)") from e
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{self.manifest_path}: unreadable manifest: {e}") from e

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically."""
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    def read_items(self) -> list[Item]:
        """The planned items."""
        return read_items(self.items_path)

    def create(
        self, config: RunConfig, items: Sequence[Item], selection: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Write items.jsonl and a fresh manifest (model and judge blocks are filled by their stages).

        `selection` records what the item selection left out and why (items.select_items)."""
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.items_path, dump_items(items))
        manifest = {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "unisandbox_version": _version("unisandbox"),
            "git_commit": git_commit(),
            "python": platform.python_version(),
            "torch": _version("torch"),
            "config": config.identity(),
            "items_sha256": items_hash(items),
            "n_items": len(items),
            "selection": dict(selection or {}),
            "model": None,
            "judge": None,
        }
        self.write_manifest(manifest)
        return manifest

    def check_config(self, manifest: dict[str, Any], config: RunConfig, items: Sequence[Item]) -> None:
        """Refuse to continue a run with a different configuration or item set."""
        old = manifest.get("config", {})
        new = config.identity()
        diffs = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k) and k != "items_files"]
        if items_hash(items) != manifest.get("items_sha256"):
            diffs.append("items (the selected items differ from items.jsonl)")
        if diffs:
            detail = "; ".join(
                f"{k}: run has {old.get(k)!r}, now {new.get(k)!r}" if k in old or k in new else k
                for k in diffs
            )
            raise ConfigError(
                f"{self.root} holds a run with another configuration ({detail}). "
                "Resume it with its own options (or none: `unisandbox report --out DIR`), "
                "or pass a new --out for a new run."
            )

    def bind_component(
        self, manifest: dict[str, Any], role: str, spec: str, describe: dict[str, Any]
    ) -> dict[str, Any]:
        """Record the model or judge in the manifest, or refuse if the run used another one."""
        block = {"spec": spec, "describe": describe, "hash": describe_hash(describe)}
        old = manifest.get(role)
        if old is None:
            manifest = {**manifest, role: block}
            self.write_manifest(manifest)
            return manifest
        if old["spec"] != spec or old["hash"] != block["hash"]:
            raise ConfigError(
                f"{self.root} was {'generated' if role == 'model' else 'judged'} with {role} "
                f"{old['spec']!r} (hash {old['hash']}); now {spec!r} (hash {block['hash']}). "
                "Records of two different components would mix: pass a new --out."
            )
        return manifest

    def remove_stale_temps(self) -> int:
        """Delete temp files a killed write left behind (`.<name>.*.tmp`); call when no writer runs."""
        stale = [p for p in self.root.rglob(".*.tmp") if p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        return len(stale)

    # -- records -------------------------------------------------------------------------------
    def _valid(self, kind: str, line: bytes) -> tuple[tuple[Any, ...], Any] | None:
        """(key, parsed record) of one line, or None if it is not a valid record of this kind."""
        try:
            raw = json.loads(line)
            return _key_of(kind, raw), _PARSERS[kind](raw)
        except (ValueError, KeyError, TypeError):
            return None

    def _records(self, kind: str, path: Path) -> list[tuple[tuple[Any, ...], Any]]:
        # Complete lines only: a last line without its newline is a torn append (the appender repairs it).
        if not path.exists():
            return []
        lines = path.read_bytes().split(b"\n")[:-1]
        return [rec for line in lines if line.strip() and (rec := self._valid(kind, line)) is not None]

    def quarantine_damaged(self) -> list[str]:
        """Move unreadable record lines to `<file>.damaged`; return one warning per file touched.

        Call when no other process is writing this run (opening it): the file is rewritten atomically.
        """
        warnings = []
        for kind in RECORD_KINDS:
            for path in [self.record_path(kind), *self.shard_paths(kind)]:
                if not path.exists():
                    continue
                *lines, tail = path.read_bytes().split(b"\n")
                bad = [
                    no for no, line in enumerate(lines, 1) if line.strip() and self._valid(kind, line) is None
                ]
                if not bad:
                    continue
                side = path.with_name(path.name + DAMAGED_SUFFIX)
                with open(side, "ab") as f:  # the raw bytes, appended first: a crash loses no line
                    f.write(b"".join(lines[no - 1] + b"\n" for no in bad))
                    f.flush()
                    os.fsync(f.fileno())
                drop = set(bad)
                keep = [line for no, line in enumerate(lines, 1) if no not in drop]
                atomic_write_bytes(path, b"".join(line + b"\n" for line in keep) + tail)
                shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
                warnings.append(
                    f"warning: {len(bad)} damaged line(s) in {path} (line {shown}) moved to "
                    f"{side.name}; their work will be redone"
                )
        return warnings

    def read_records(self, kind: str) -> dict[tuple[Any, ...], Any]:
        """Union of the main file and all shard files; torn last lines are skipped.

        The first record of a key wins, unless it records a failure (no image, no answer, judge
        error or missing image) and a later record (a retry) does not.
        """
        failed = _FAILED[kind]
        out: dict[tuple[Any, ...], Any] = {}
        for path in [self.record_path(kind), *self.shard_paths(kind)]:
            for key, rec in self._records(kind, path):
                old = out.get(key)
                if old is not None and not failed(old):
                    continue
                if old is None or not failed(rec):
                    out[key] = rec
        return out

    def appender(self, kind: str, shard: str | None = None) -> JsonlAppender:
        """An appender on the main file or on one shard file."""
        return JsonlAppender(self.record_path(kind, shard))

    def merge(self, kind: str, order: Callable[[tuple[Any, ...]], Any]) -> bool:
        """Fold shard files into the main file (sorted by `order`), atomically; True if anything moved.

        Call only when no worker is still writing this kind (all planned work is recorded, or after
        a barrier): a record appended to a shard after it was read would be lost with the shard.
        """
        shards = self.shard_paths(kind)
        if not shards:
            return False
        records = self.read_records(kind)
        lines = [
            json.dumps(r.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) + "\n"
            for _, r in sorted(records.items(), key=lambda kv: order(kv[0]))
        ]
        atomic_write_text(self.record_path(kind), "".join(lines))
        # Readers dedupe by key, so a crash between the rename and these unlinks loses nothing.
        for p in shards:
            p.unlink(missing_ok=True)
        return True


def study_stem(item: Item) -> str:
    """The study's folder name for an item: its source file's stem, else the study's naming."""
    source = item.meta.get("source_file")
    if isinstance(source, str) and source:
        return source
    if item.task == "math":
        return f"math_{item.level}"
    if item.task == "mapping":
        return f"mapping{item.level}"
    return str(item.meta.get("character") or item.subtask or "knowledge")


def dump_records(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Records as JSON-ready dicts."""
    return [r.model_dump(mode="json") for r in records]
