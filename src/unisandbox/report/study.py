"""The study's evaluation_results.csv, one per image folder (`test/<mode>/<file stem>/`).

Columns follow the study's released evaluation scripts (eval/eval_math.py, eval_mapping.py,
eval_knowledge.py): math `ID, Question, Answer, Image_Path, Result, Score, Analysis`; mapping one row
per pair with `_A`/`_B` columns plus `Both_Correct, Final_Score`; knowledge adds `Caption`. Result is
YES / NO / ERROR / IMAGE_NOT_FOUND as there. Image_Path is relative to the run directory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from unisandbox.metrics.outcomes import unit_verdict
from unisandbox.models.fake import describe_answer
from unisandbox.runs.io import atomic_write_text
from unisandbox.runs.rundir import RunDir, study_stem
from unisandbox.tasks.base import Item

MATH_COLUMNS = ["ID", "Question", "Answer", "Image_Path", "Result", "Score", "Analysis"]
KNOWLEDGE_COLUMNS = ["ID", "Question", "Answer", "Image_Path", "Caption", "Result", "Score", "Analysis"]
MAPPING_COLUMNS = [
    "ID",
    "Question_A",
    "Answer_A",
    "Image_A_Path",
    "A_Result",
    "A_Score",
    "A_Analysis",
    "Question_B",
    "Answer_B",
    "Image_B_Path",
    "B_Result",
    "B_Score",
    "B_Analysis",
    "Both_Correct",
    "Final_Score",
]
_RESULT = {"correct": "YES", "wrong": "NO", "error": "ERROR", "missing": "IMAGE_NOT_FOUND"}
_OUTCOME = {v: k for k, v in _RESULT.items()}


def study_answer(item: Item) -> str:
    """The answer text of the study's files: its own if the item came from there, else ours in words."""
    answer = item.meta.get("study_answer")
    return str(answer) if answer is not None else describe_answer(item.expected)


def study_id(item: Item) -> str:
    """The study's ID: the original one for imported items; the pair id for mapping."""
    sid = item.meta.get("study_id")
    if sid is not None:
        return str(sid)
    return item.group if item.task == "mapping" and item.group else item.id


def _outcome(
    key: tuple[str, str, int], samples: Mapping[Any, Any], verdicts: Mapping[Any, Any]
) -> tuple[str, str, str]:
    v = verdicts.get(key)
    if v is None:
        s = samples.get(key)
        reason = (s.error if s else None) or "Image file not found"
        return "IMAGE_NOT_FOUND", "", reason
    analysis = f"Caption: {v.caption}" if v.caption is not None else (v.error or "")
    return _RESULT[v.verdict], v.caption or "", analysis


def _single_row(
    run: RunDir,
    item: Item,
    mode: str,
    samples: Mapping[Any, Any],
    verdicts: Mapping[Any, Any],
    knowledge: bool,
) -> dict[str, Any]:
    result, caption, analysis = _outcome((item.id, mode, 0), samples, verdicts)
    row = {
        "ID": study_id(item),
        "Question": item.prompt,
        "Answer": study_answer(item),
        "Image_Path": run.image_relpath(item, mode, 0, "study"),
        "Result": result,
        "Score": 1 if result == "YES" else 0,
        "Analysis": analysis,
    }
    if knowledge:
        row["Caption"] = caption
    return row


def _pair_row(
    run: RunDir, members: Sequence[Item], mode: str, samples: Mapping[Any, Any], verdicts: Mapping[Any, Any]
) -> dict[str, Any]:
    row: dict[str, Any] = {"ID": study_id(members[0])}
    outcomes = []
    for item in members:
        side = "B" if item.id.endswith("B") else "A"
        result, _, analysis = _outcome((item.id, mode, 0), samples, verdicts)
        row.update(
            {
                f"Question_{side}": item.prompt,
                f"Answer_{side}": study_answer(item),
                f"Image_{side}_Path": run.image_relpath(item, mode, 0, "study"),
                f"{side}_Result": result,
                f"{side}_Score": 1 if result == "YES" else 0,
                f"{side}_Analysis": analysis,
            }
        )
        outcomes.append(_OUTCOME[result])
    both = (
        len(outcomes) == 2 and unit_verdict(outcomes) == "correct"
    )  # the one scoring rule (metrics.outcomes)
    row.update({"Both_Correct": both, "Final_Score": 1 if both else 0})
    return row


def write_study_csvs(
    run: RunDir,
    items: Sequence[Item],
    modes: Sequence[str],
    samples: Mapping[Any, Any],
    verdicts: Mapping[Any, Any],
) -> list[str]:
    """Write evaluation_results.csv into every study image folder; return their relative paths."""
    folders: dict[str, list[Item]] = {}
    for it in items:
        folders.setdefault(study_stem(it), []).append(it)
    written = []
    for stem, its in folders.items():
        for mode in modes:
            if its[0].task == "mapping":
                pairs: dict[str, list[Item]] = {}
                for it in its:
                    pairs.setdefault(it.group or it.id, []).append(it)
                columns = MAPPING_COLUMNS
                rows = [_pair_row(run, ms, mode, samples, verdicts) for ms in pairs.values()]
            else:
                knowledge = its[0].task == "knowledge"
                columns = KNOWLEDGE_COLUMNS if knowledge else MATH_COLUMNS
                rows = [_single_row(run, it, mode, samples, verdicts, knowledge) for it in its]
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            rel = f"test/{mode}/{stem}/evaluation_results.csv"
            atomic_write_text(run.root / rel, buf.getvalue())
            written.append(rel)
    return written
