"""The whole task suite as files: what `unisandbox data generate` writes, computed in memory first.

`generate_suite` returns {file name: text}; nothing touches the disk until every file is generated, so a
failure (an exhausted pool, a bad option) writes nothing. The manifest records the command, the seed and
every generator version, and holds no paths or times, so the same arguments give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from unisandbox.tasks import knowledge, mapping
from unisandbox.tasks import math as math_task
from unisandbox.tasks.base import Item, dump_items
from unisandbox.tasks.mapping import MappingConfig, mapping_items
from unisandbox.tasks.math import MathConfig, math_items
from unisandbox.tasks.study_format import study_jsonl

TASKS = ("math", "mapping", "knowledge")
LEVELS = (1, 2, 3)


def generate_suite(
    seed: int,
    tasks: Sequence[str] = TASKS,
    split: str = "test",
    size: int = 100,
    levels: Sequence[int] = LEVELS,
    characters: int = 10,
    math_config: MathConfig | None = None,
    mapping_config: MappingConfig | None = None,
    study: bool = False,
) -> dict[str, str]:
    """All files of the suite as {relative file name: text}, deterministic for the arguments.

    Per math level `size` items (`math_l{level}.jsonl`), per mapping level `size` A/B pairs
    (`mapping_l{level}.jsonl`); knowledge: `knowledge_forward.jsonl` and `knowledge_inverse.jsonl` (test
    split only), the training corpus `training/knowledge_corpus.jsonl` (ours) and
    `training/knowledge_conversations.jsonl` (the study's format), and `knowledge_world.json`. With `study`, the
    test files are also written in the study's formats under `study/`.
    """
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f"unknown task(s) {bad}; choose from {', '.join(TASKS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    if any(lv not in LEVELS for lv in levels) or not levels:
        raise ValueError(f"levels must be among 1, 2, 3, got {list(levels)}")
    mcfg, pcfg = math_config or MathConfig(), mapping_config or MappingConfig()
    files: dict[str, str] = {}
    item_sets: dict[str, list[Item]] = {}
    if "math" in tasks:
        for lv in levels:
            item_sets[f"math_l{lv}.jsonl"] = math_items(seed, lv, size, split, mcfg)
    if "mapping" in tasks:
        for lv in levels:
            item_sets[f"mapping_l{lv}.jsonl"] = mapping_items(seed, lv, size, split, pcfg)
    if "knowledge" in tasks:
        world = knowledge.knowledge_world(seed, characters)
        if split == "test":
            item_sets["knowledge_forward.jsonl"] = [it for it in world.items if it.subtask != "inverse"]
            item_sets["knowledge_inverse.jsonl"] = [it for it in world.items if it.subtask == "inverse"]
        files["training/knowledge_corpus.jsonl"] = world.corpus_jsonl()
        files["training/knowledge_conversations.jsonl"] = world.conversations_jsonl()
        files["knowledge_world.json"] = _world_json(world)
    for name, items in item_sets.items():
        files[name] = dump_items(items)
        if study:
            files[f"study/{name}"] = study_jsonl(items)
    args = {
        "seed": seed,
        "tasks": list(tasks),
        "split": split,
        "size": size,
        "levels": list(levels),
        "characters": characters,
        "math_config": asdict(mcfg),
        "mapping_config": asdict(pcfg),
        "study": study,
    }
    files = dict(sorted(files.items()))
    files["manifest.json"] = _manifest(args, files)
    return files


def _world_json(world: knowledge.KnowledgeWorld) -> str:
    data = {
        "seed": world.seed,
        "club": world.club,
        "characters": [asdict(c) for c in world.characters],
        "pairs": [list(p) for p in world.pairs],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def command_line(args: dict[str, Any]) -> str:
    """The `unisandbox data generate` command that reproduces a manifest (defaults omitted)."""
    parts = ["unisandbox data generate --out DIR", f"--seed {args['seed']}", f"--split {args['split']}"]
    parts.append(f"--size {args['size']}")
    if list(args["tasks"]) != list(TASKS):
        parts.append(f"--tasks {','.join(args['tasks'])}")
    if list(args["levels"]) != list(LEVELS):
        parts.append(f"--levels {','.join(map(str, args['levels']))}")
    if args["characters"] != 10:
        parts.append(f"--characters {args['characters']}")
    mc, pc = MathConfig(), MappingConfig()
    m, p = args["math_config"], args["mapping_config"]
    holdout_objects = sorted(set(m["holdout_objects"]) | set(p["holdout_objects"]))
    if holdout_objects:
        parts.append(f"--holdout-objects {','.join(holdout_objects)}")
    holdout_phrasings = sorted(set(m["holdout_phrasings"]) | set(p["holdout_phrasings"]))
    if holdout_phrasings:
        parts.append(f"--holdout-phrasings {','.join(holdout_phrasings)}")
    if m["test_fraction"] != mc.test_fraction:
        parts.append(f"--test-fraction {m['test_fraction']}")
    if m["max_operand"] != mc.max_operand:
        parts.append(f"--max-operand {m['max_operand']}")
    if m["split_key"] != mc.split_key:
        parts.append(f"--split-key {m['split_key']}")
    del pc
    if args["study"]:
        parts.append("--study")
    return " ".join(parts)


def _manifest(args: dict[str, Any], files: dict[str, str]) -> str:
    data = {
        "command": command_line(args),
        "arguments": args,
        "generators": {
            math_task.GENERATOR: math_task.GENERATOR_VERSION,
            mapping.GENERATOR: mapping.GENERATOR_VERSION,
            knowledge.GENERATOR: knowledge.GENERATOR_VERSION,
        },
        "files": {
            name: {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "lines": text.count("\n")}
            for name, text in files.items()
        },
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=list) + "\n"


def write_suite(out: str | Path, files: dict[str, str]) -> None:
    """Write each file atomically (temp name, then rename) under `out`."""
    from unisandbox.runs.io import atomic_write_text

    out = Path(out)
    for name, text in files.items():
        atomic_write_text(out / name, text)
