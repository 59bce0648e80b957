"""Knowledge-injection data for any model: fresh fictional characters, their training corpus, their tests.

`write(out, characters, seed)` invents a club (`tasks.knowledge.knowledge_world`, the generator of the
official split, untouched), refuses a world that shares a character name with the official test world
(so what a model is taught is never what the official split tests), and writes:

```
<out>/knowledge_world.json                      the club, its characters and pairs (as in the official split)
<out>/training/knowledge_corpus.jsonl           every text-only training turn, our format
<out>/training/knowledge_conversations.jsonl    the same turns, the study's conversation format
<out>/knowledge_forward.jsonl                   forward test items (name -> portrait / fruit / flower)
<out>/knowledge_inverse.jsonl                   inverse test items (two names and a favourite -> portrait)
<out>/study/...                                 the test files in the study's format (`data generate --study`)
<out>/study/data/knowledge/<Name>.jsonl         the study's per-character training file (forward setting)
<out>/study/data/knowledge/<A>_<B>.jsonl        both characters of a pair in one file (inverse setting)
<out>/study/benchmark/test_knowledge/<Name>.jsonl, <A>_<B>.jsonl   the matching tests {"ID","Question","Answer"}
<out>/study/data/configs/Knowledge/{Forward,Inverse}/<name>.yaml     the study's `vlm_sft` configs
<out>/study/dataset_info.json                   the `DATASET_INFO["vlm_sft"]` entries for those files
<out>/manifest.json                             arguments, counts, sha256 of every file
```

The core files come from `tasks.suite.generate_suite(seed, ("knowledge",), characters=N, study=True)`, the
function behind `unisandbox data generate`, so the two commands agree byte for byte on what they share.

>>> files = build(4, seed=7)
>>> sorted(f for f in files if f.startswith("study/data/knowledge/"))[:1]
['study/data/knowledge/Kvafos.jsonl']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unisandbox.runs.config import ConfigError
from unisandbox.runs.io import atomic_write_text

INJECT_DATA_VERSION = 1


def official_names() -> set[str]:
    """The character names of the official test world."""
    from unisandbox.runs.items import OFFICIAL_DIR

    data = json.loads((OFFICIAL_DIR / "knowledge_world.json").read_text(encoding="utf-8"))
    return {c["name"] for c in data["characters"]}


def _jsonl(records: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _vlm_yaml(name: str, n: int) -> str:
    """The study's vlm_sft config (data/configs/Knowledge/Forward/Aurelius.yaml in its release)."""
    return (
        f"vlm_sft:\n  dataset_names:\n  - {name}\n  image_transform_args:\n    image_stride: 14\n"
        f"    max_image_size: 980\n    min_image_size: 378\n    max_pixels: 2_007_040\n  frame_sampler_args:\n"
        f"    max_num_frames: 12\n    min_num_frames: 8\n  is_mandatory: true\n  shuffle_lines: True\n"
        f"  shuffle_seed: 0\n  num_used_data:\n  - {n}\n  weight: 1\n"
    )


def study_files(world: Any) -> dict[str, str]:
    """Per-character and per-pair training files, tests, configs and DATASET_INFO entries (study layout)."""
    from unisandbox.tasks.study_format import to_study_record

    turns: dict[str, list[dict[str, Any]]] = {}
    for t in world.corpus:
        turns.setdefault(t.character, []).append(t.to_conversation())
    forward = [it for it in world.items if it.subtask != "inverse"]
    inverse = [it for it in world.items if it.subtask == "inverse"]
    sets: list[tuple[str, str, list[dict[str, Any]], list[Any]]] = []
    for c in world.characters:
        sets.append(
            (
                "Forward",
                c.name,
                turns.get(c.name, []),
                [it for it in forward if it.meta["characters"] == [c.name]],
            )
        )
    for _, a, b in world.pairs:
        sets.append(
            (
                "Inverse",
                f"{a}_{b}",
                turns.get(a, []) + turns.get(b, []),
                [it for it in inverse if it.meta["characters"] == [a, b]],
            )
        )
    files: dict[str, str] = {}
    info: dict[str, dict[str, Any]] = {}
    for setting, name, conv, tests in sets:
        files[f"study/data/knowledge/{name}.jsonl"] = _jsonl(conv)
        files[f"study/benchmark/test_knowledge/{name}.jsonl"] = _jsonl([to_study_record(it) for it in tests])
        files[f"study/data/configs/Knowledge/{setting}/{name}.yaml"] = _vlm_yaml(name, len(conv))
        info[name] = {
            "data_dir": "path/to/images",
            "jsonl_path": f"./data/knowledge/{name}.jsonl",
            "num_total_samples": len(conv),
        }
    files["study/dataset_info.json"] = json.dumps({"vlm_sft": info}, indent=2, ensure_ascii=False) + "\n"
    return files


def build(characters: int, seed: int) -> dict[str, str]:
    """Every output file as {relative path: text}; ConfigError for a world that meets the official one."""
    from unisandbox.tasks.knowledge import knowledge_world
    from unisandbox.tasks.suite import generate_suite

    if not 2 <= characters <= 60:
        raise ConfigError(f"--characters must be within 2..60, got {characters}")
    world = knowledge_world(seed, characters)
    clash = sorted({c.name for c in world.characters} & official_names())
    if clash:
        raise ConfigError(
            f"--seed {seed}: characters {', '.join(clash)} are in the official test world; "
            "choose another seed so the injected knowledge is never what the official split tests"
        )
    files = {
        k: v
        for k, v in generate_suite(seed, ("knowledge",), characters=characters, study=True).items()
        if k != "manifest.json"
    }
    files.update(study_files(world))
    files = dict(sorted(files.items()))
    manifest = {
        "schema_version": INJECT_DATA_VERSION,
        "command": f"unisandbox inject-data --characters {characters} --seed {seed} --out DIR",
        "arguments": {"characters": characters, "seed": seed},
        "club": world.club,
        "counts": {
            "characters": len(world.characters),
            "pairs": len(world.pairs),
            "turns": len(world.corpus),
            "forward_items": sum(1 for it in world.items if it.subtask != "inverse"),
            "inverse_items": sum(1 for it in world.items if it.subtask == "inverse"),
        },
        "files": {
            k: {"sha256": hashlib.sha256(v.encode()).hexdigest(), "lines": v.count("\n")}
            for k, v in files.items()
        },
    }
    files["manifest.json"] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return files


def write(out: str | Path, characters: int, seed: int) -> dict[str, Any]:
    """Write every file under `out` (refusing a non-empty folder that holds other data); return the manifest.

    Rerunning with the same arguments rewrites the same bytes.
    """
    out = Path(out)
    files = build(characters, seed)
    old = out / "manifest.json"
    if old.exists():
        args = json.loads(old.read_text(encoding="utf-8")).get("arguments")
        if args != {"characters": characters, "seed": seed}:
            raise ConfigError(f"{out} holds inject-data made with {args}; pass a new --out")
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no inject-data; pass a new --out")
    for rel, text in files.items():
        atomic_write_text(out / rel, text)
    manifest: dict[str, Any] = json.loads(files["manifest.json"])
    return manifest
