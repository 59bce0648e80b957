"""Agreement between two verdict files: raw agreement and Cohen's kappa (two judges, or one judge twice).

A verdict file is JSONL with one verdict per line. A sample's key is `(item_id, mode, sample_index)` when
those fields are present (the pipeline's verdicts.jsonl), else `id` or `sample_id`. When a key appears
more than once, the last line wins (the pipeline appends a new verdict when it re-judges errors). A torn
last line (no newline, bad JSON: a crash mid-append) is skipped, as the run readers do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unisandbox.judges.base import VERDICTS
from unisandbox.runs.io import parse_jsonl
from unisandbox.tasks.base import InputError

DECIDED = ("correct", "wrong")


def _key(rec: dict[str, Any], path: Path, lineno: int) -> Hashable:
    if all(k in rec for k in ("item_id", "mode", "sample_index")):
        return (str(rec["item_id"]), str(rec["mode"]), int(rec["sample_index"]))
    for k in ("id", "sample_id"):
        if k in rec:
            return str(rec[k])
    raise InputError(f"{path}:{lineno}: field 'id': no key (need item_id+mode+sample_index, id or sample_id)")


def read_verdicts(path: str | Path) -> dict[Hashable, str]:
    """Key -> verdict from a verdict JSONL file; InputError names the file, line and field.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "verdicts.jsonl"
    ...     _ = path.write_text('{"id": "m1", "verdict": "correct"}\\n{"id": "m2", "verdict": "error"}\\n')
    ...     read_verdicts(path)
    {'m1': 'correct', 'm2': 'error'}
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    last = len(text.splitlines())
    out: dict[Hashable, str] = {}
    for lineno, rec, problem in parse_jsonl(text):
        if rec is None:
            if lineno == last and not text.endswith("\n") and str(problem).startswith("malformed JSON"):
                break  # a torn last append (crash mid-write), as runs/io readers skip it
            raise InputError(f"{path}:{lineno}: {problem}")
        verdict = rec.get("verdict")
        if verdict not in VERDICTS:
            raise InputError(f"{path}:{lineno}: field 'verdict': {verdict!r} is not one of {VERDICTS}")
        try:
            out[_key(rec, path, lineno)] = verdict
        except (TypeError, ValueError) as e:
            raise InputError(f"{path}:{lineno}: field 'sample_index': {e}") from e
    return out


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two equally long label sequences; None when undefined (chance agreement is 1).

    >>> cohen_kappa(["correct", "wrong", "correct"], ["correct", "wrong", "wrong"])
    0.4
    """
    if len(a) != len(b):
        raise ValueError("sequences differ in length")
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if pe >= 1.0:
        return None
    return round((po - pe) / (1.0 - pe), 12)


@dataclass(frozen=True)
class Agreement:
    """Agreement of two verdict files over the samples both contain."""

    n_common: int
    """Samples present in both files."""
    only_a: int
    """Samples only in the first file."""
    only_b: int
    """Samples only in the second file."""
    agreement: float | None
    """Fraction of common samples with the same verdict (all four verdicts)."""
    kappa: float | None
    """Cohen's kappa over all four verdicts."""
    n_decided: int
    """Common samples where both verdicts are correct or wrong."""
    decided_agreement: float | None
    """Agreement restricted to decided samples."""
    decided_kappa: float | None
    """Cohen's kappa restricted to decided samples."""
    confusion: dict[str, dict[str, int]]
    """confusion[verdict in A][verdict in B] = count over common samples."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def agreement(a: Mapping[Hashable, str], b: Mapping[Hashable, str]) -> Agreement:
    """Compare two key -> verdict maps."""
    common = sorted(set(a) & set(b), key=repr)
    va, vb = [a[k] for k in common], [b[k] for k in common]
    decided = [(x, y) for x, y in zip(va, vb, strict=True) if x in DECIDED and y in DECIDED]
    da, db = [x for x, _ in decided], [y for _, y in decided]
    confusion: dict[str, dict[str, int]] = {x: {y: 0 for y in VERDICTS} for x in VERDICTS}
    for x, y in zip(va, vb, strict=True):
        confusion[x][y] += 1
    return Agreement(
        n_common=len(common),
        only_a=len(set(a) - set(b)),
        only_b=len(set(b) - set(a)),
        agreement=(sum(x == y for x, y in zip(va, vb, strict=True)) / len(common)) if common else None,
        kappa=cohen_kappa(va, vb),
        n_decided=len(decided),
        decided_agreement=(sum(x == y for x, y in decided) / len(decided)) if decided else None,
        decided_kappa=cohen_kappa(da, db),
        confusion=confusion,
    )
