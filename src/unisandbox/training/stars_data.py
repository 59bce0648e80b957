"""STARS training data for any model: fresh train items, think-mode samples, blind judging, rejection.

The model-agnostic part of STARS, as a data set another trainer reads:
1. fresh TRAIN-split items from the task generators (seed + `item_seed_offset`), with every item whose
   held-out key is a key of the official test split dropped: no math item whose expression (in symbols,
   whatever the object or phrasing) is a test expression, no mapping pair whose rule set is a test rule
   set (`training.heldout.expression_key`, the rule the study's findings use);
2. K think-mode samples per item with any adapter, through the evaluation pipeline itself: a run
   directory `<out>/run/` (think mode only, no probes), so sampling and judging resume and shard
   (`torchrun`) exactly as `unisandbox run` does;
3. every image judged blind (the judge sees pixels only), then matched in code;
4. rejection: a sample is accepted only when its verdict is "correct" (wrong, judge errors and missing
   images are never accepted; errors and missing are counted apart);
5. the accepted (prompt, trace, image) triples in the curriculum's order: level 1 of every task, then
   level 2, then level 3; within a level, task order (math, mapping), item order, sample index;
6. a manifest: configuration, model, judge, seeds, items, and the acceptance rate per task and level
   and per level with 95% Wilson intervals.

Formats (`formats`): "jsonl" (`jsonl/triples.jsonl` + `jsonl/images/L<level>/<id>.png`), "parquet"
(`parquet/train.parquet` with Hugging Face `datasets` features: `datasets.load_dataset("parquet",
data_files=...)` decodes `image` to PIL), "bagel" (the study's BAGEL trainer: `t2i_pretrain` parquet
folders `bagel/<task><level>_reject/` with columns `image` (PNG bytes) and `captions` (JSON string
{"prompt": ...}), as `data/t2i_dataset.py` of ByteDance-Seed/Bagel reads them, with the
`DATASET_INFO` entries and the per-level YAML configs of the study's release, `data/configs/Math/
math1_reject_5k.yaml`). BAGEL's t2i loss falls on the image given the prompt, so the trace is not in
that format; it is in the other two.

>>> cfg = StarsDataConfig(model="fake", items_per_level=4).validate()
>>> [it.level for it in fresh_items(cfg)][:1]
[1]
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from unisandbox.runs.config import ConfigError
from unisandbox.runs.io import atomic_write_bytes, atomic_write_text
from unisandbox.runs.records import SampleKey
from unisandbox.tasks.base import Item, dump_items, read_items

STARS_DATA_VERSION = 1
FORMATS = ("jsonl", "parquet", "bagel")
TASKS = ("math", "mapping")
CONFIDENCE = 0.95
_MAX_OVERSAMPLE = 64
"""At most this many times `items_per_level` items are drawn to find enough that are not held out."""


class IncompleteData(RuntimeError):
    """Sampling and judging finished, but some samples have no image or no verdict (a rerun retries them)."""

    exit_code = 3


@dataclass(frozen=True)
class StarsDataConfig:
    """What `stars-data` produces; the same configuration resumes the same output folder."""

    model: str = "sandbox"
    """Model spec KIND[:PATH] that samples think mode."""
    judge: str = "sandbox"
    """Judge spec KIND[:PATH] that judges every image blind."""
    tasks: tuple[str, ...] = TASKS
    """math and/or mapping (knowledge is taught by `inject-data`, not by STARS)."""
    levels: tuple[int, ...] = (1, 2, 3)
    """Curriculum levels, trained in increasing order."""
    items_per_level: int = 300
    """Fresh train items per task and level (mapping: A/B pairs, so twice as many items)."""
    samples: int = 3
    """K think-mode samples per item."""
    seed: int = 0
    """Base seed: items come from seed + item_seed_offset, sample seeds from (item, mode, k, seed)."""
    item_seed_offset: int = 5000
    """The same offset as the sandbox's `StarsConfig`, so both draw the same fresh items for a seed."""
    model_options: dict[str, Any] = field(default_factory=dict)
    """Keyword options for the model's from_spec (recorded, like a run's)."""

    def validate(self) -> StarsDataConfig:
        """Raise ConfigError for settings that cannot run; return self."""
        bad = [t for t in self.tasks if t not in TASKS]
        if bad or not self.tasks:
            raise ConfigError(
                f"--tasks: STARS data is made for math and mapping, got {','.join(self.tasks) or 'none'}"
            )
        if not self.levels or any(lv not in (1, 2, 3) for lv in self.levels):
            raise ConfigError(
                f"--levels: levels are 1, 2, 3, got {','.join(map(str, self.levels)) or 'none'}"
            )
        if len(set(self.levels)) != len(self.levels) or len(set(self.tasks)) != len(self.tasks):
            raise ConfigError("--tasks/--levels: repeated entry")
        if self.items_per_level < 1 or self.samples < 1:
            raise ConfigError(
                f"--items-per-level and --samples must be >= 1, got {self.items_per_level} and {self.samples}"
            )
        return self

    def identity(self) -> dict[str, Any]:
        """JSON form stored in the manifest and compared when an output folder is resumed."""
        d = asdict(self)
        d["tasks"], d["levels"] = list(self.tasks), sorted(self.levels)
        return cast(dict[str, Any], json.loads(json.dumps(d, sort_keys=True)))


@dataclass(frozen=True)
class Triple:
    """One accepted think-mode sample: what a trainer learns from."""

    id: str
    """`<item id>-s<k>`, unique in the data set; also the image's file stem."""
    item_id: str
    """The train item the sample was drawn for."""
    task: str
    level: int
    """Curriculum level (the order the triples are written in)."""
    sample_index: int
    """k among the item's K think-mode samples."""
    seed: int | None
    """The seed the model drew the sample with."""
    prompt: str
    """The reasoning prompt exactly as the model saw it (normal-mode training pairs it with the image)."""
    trace: str
    """Everything the model wrote in think mode (its reasoning and rewritten prompt)."""
    rewritten_prompt: str | None
    """The prompt the model wrote for itself, when the adapter reports it."""
    image: str
    """The image's path relative to the run directory."""
    caption: str | None
    """What the blind judge saw (the verdict was "correct")."""
    expected: dict[str, Any]
    """The item's expected answer, computed by code."""


# -- 1. fresh items ---------------------------------------------------------------------------------


def held_out_keys(tasks: Sequence[str]) -> set[tuple[str, Any]]:
    """Held-out keys of the official test split of `tasks` (every level)."""
    return set(_held_out_keys(tuple(tasks)))


@functools.lru_cache(maxsize=4)
def _held_out_keys(tasks: tuple[str, ...]) -> frozenset[tuple[str, Any]]:
    # The official split is fixed data shipped with the package: read it once per process.
    from unisandbox.training.evaluate import official_items
    from unisandbox.training.heldout import expression_key

    return frozenset(k for t in tasks for it in official_items(t) if (k := expression_key(it)) is not None)


def _generator(task: str) -> Callable[..., list[Item]]:
    from unisandbox.tasks.mapping import mapping_items
    from unisandbox.tasks.math import math_items

    generators: dict[str, Callable[..., list[Item]]] = {"math": math_items, "mapping": mapping_items}
    return generators[task]


def _level_items(
    task: str,
    level: int,
    n: int,
    seed: int,
    held: set[tuple[str, Any]],
    stats: dict[str, dict[str, int]] | None = None,
) -> list[Item]:
    """The first `n` units (mapping: pairs) of the generator's train items whose key is not held out.
    `stats` (if given) gets "<task>/<level>": units drawn from the generator, held out among them, kept."""
    from unisandbox.training.heldout import expression_key

    draw = n
    while True:
        drawn = _generator(task)(seed, level, draw, "train")
        items = [it for it in drawn if expression_key(it) not in held]
        units = list(dict.fromkeys(it.group or it.id for it in items))
        if len(units) >= n:
            keep = set(units[:n])
            if stats is not None:
                n_drawn = len(dict.fromkeys(it.group or it.id for it in drawn))
                stats[f"{task}/{level}"] = {"drawn": n_drawn, "held_out": n_drawn - len(units), "kept": n}
            return [it for it in items if (it.group or it.id) in keep]
        if draw >= n * _MAX_OVERSAMPLE:
            raise ConfigError(
                f"only {len(units)} {task} level-{level} train units of {draw} drawn avoid every "
                f"test expression/rule set; ask for at most {len(units)} (--items-per-level)"
            )
        draw *= 2


def fresh_items(cfg: StarsDataConfig, stats: dict[str, dict[str, int]] | None = None) -> list[Item]:
    """The train items, level-major (the curriculum's order), deterministic for cfg.seed. `stats` (if
    given) gets per "<task>/<level>" the units drawn, held out (dropped) among them, and kept."""
    held = held_out_keys(cfg.tasks)
    out: list[Item] = []
    for level in sorted(cfg.levels):
        for task in (t for t in TASKS if t in cfg.tasks):
            out += _level_items(
                task, level, cfg.items_per_level, cfg.seed + cfg.item_seed_offset, held, stats
            )
    if any(it.split != "train" for it in out):
        raise AssertionError("stars-data items must be train-split")
    return out


# -- 2-3. sampling and judging through the run machinery --------------------------------------------


def _state_path(out: Path) -> Path:
    return out / "stars_data_config.json"


def prepare(out: Path, cfg: StarsDataConfig) -> list[Item]:
    """Write `<out>/items.jsonl` and the configuration, or check them on a resume (ConfigError if they differ)."""
    state = _state_path(out)
    if state.exists():
        old = json.loads(state.read_text(encoding="utf-8"))
        if old != cfg.identity():
            diff = [k for k in sorted(set(old) | set(cfg.identity())) if old.get(k) != cfg.identity().get(k)]
            raise ConfigError(
                f"{out} holds stars-data made with another configuration ({', '.join(diff)} differ); "
                "resume it with its own options or pass a new --out"
            )
        return read_items(out / "items.jsonl")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no stars-data; pass a new --out")
    items = fresh_items(cfg)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "items.jsonl", dump_items(items))
    atomic_write_text(state, json.dumps(cfg.identity(), indent=2, sort_keys=True) + "\n")
    return items


def run_options(out: Path, cfg: StarsDataConfig) -> dict[str, Any]:
    """The options of the run that samples think mode (what `open_run` is given)."""
    return {
        "model": cfg.model,
        "judge": cfg.judge,
        "items_files": (str(out / "items.jsonl"),),
        "modes": ("think",),
        "samples_per_item": cfg.samples,
        "probes": False,
        "seed": cfg.seed,
        "model_options": cfg.model_options,
    }


def sample_and_judge(
    out: Path,
    cfg: StarsDataConfig,
    *,
    batch_size: int = 64,
    judge_options: Mapping[str, Any] | None = None,
    progress: Any = None,
) -> bool:
    """Generate and judge every pending think-mode sample (every torchrun rank generates its share; rank 0
    judges). Returns True on the process that should write the outputs (rank 0)."""
    from unisandbox.runs.pipeline import (
        bind_judge,
        bind_model,
        build_judge,
        build_model,
        distributed_group,
        merge_shards,
        open_run,
        stage_generate,
        stage_judge,
    )

    given = run_options(out, cfg)
    group = distributed_group()
    try:
        opened, model, judge_obj, error = None, None, None, None
        if group.is_main:
            try:  # model and judge are built and checked before the first sample (a bad judge costs nothing)
                opened = open_run(out / "run", given, create=True)
                model = build_model(opened)
                judge_obj = build_judge(opened, **dict(judge_options or {}))
                bind_model(opened, model)
                bind_judge(opened, judge_obj)
            except BaseException as e:  # rank 0 tells the others to stop before re-raising
                error = e
        if not group.broadcast_ok(error is None):
            if error is not None:
                raise error
            return False
        if opened is None:
            opened = open_run(out / "run", {}, create=False)
            model = build_model(opened)
        stage_generate(
            opened, model, shard=group.shard, batch_size=batch_size, retry_errors=True, progress=progress
        )
        group.barrier()
        if not group.is_main:
            return False
        merge_shards(opened, force=group.world > 1)
        stage_judge(opened, judge_obj, batch_size=batch_size, retry_errors=True, progress=progress)
        return True
    finally:
        group.close()


# -- 4-5. rejection in curriculum order -------------------------------------------------------------


def curriculum_key(item: Item) -> tuple[int, int]:
    """(level, task rank): level 1 of every task first, then level 2, then level 3."""
    return (item.level, TASKS.index(item.task) if item.task in TASKS else len(TASKS))


def accepted(
    items: Sequence[Item],
    samples_per_item: int,
    samples: Mapping[SampleKey, Any],
    verdicts: Mapping[SampleKey, Any],
) -> list[Triple]:
    """The triples whose verdict is "correct", in curriculum order (stable: item order, then k).

    >>> accepted([], 3, {}, {})
    []
    """
    order = sorted(range(len(items)), key=lambda i: (curriculum_key(items[i]), i))
    out: list[Triple] = []
    for i in order:
        it = items[i]
        for k in range(samples_per_item):
            key: SampleKey = (it.id, "think", k)
            s, v = samples.get(key), verdicts.get(key)
            if s is None or s.image is None or v is None or v.verdict != "correct":
                continue
            out.append(
                Triple(
                    id=f"{it.id}-s{k}",
                    item_id=it.id,
                    task=it.task,
                    level=it.level,
                    sample_index=k,
                    seed=s.seed,
                    prompt=it.prompt,
                    trace=s.text,
                    rewritten_prompt=s.rewritten_prompt,
                    image=s.image,
                    caption=v.caption,
                    expected=it.expected.model_dump(mode="json"),
                )
            )
    return out


def _outcome(key: SampleKey, samples: Mapping[SampleKey, Any], verdicts: Mapping[SampleKey, Any]) -> str:
    v = verdicts.get(key)
    if v is not None:
        return str(v.verdict)
    s = samples.get(key)
    return "missing" if s is None or s.image is None else "pending"


def _rate(outcomes: Sequence[str]) -> dict[str, Any]:
    """Acceptance of think-mode samples: accepted = judged correct, with its Wilson interval."""
    from unisandbox.metrics.outcomes import rate

    r = rate(outcomes)
    return {
        "samples": r.expected,
        "judged": r.n,
        "accepted": r.correct,
        "rate": r.accuracy,
        "ci_low": r.ci_low,
        "ci_high": r.ci_high,
        "errors": r.errors,
        "missing": r.missing,
    }


def acceptance(
    items: Sequence[Item],
    samples_per_item: int,
    samples: Mapping[SampleKey, Any],
    verdicts: Mapping[SampleKey, Any],
) -> dict[str, dict[str, Any]]:
    """Acceptance per "task/level" and per "level N": accepted / judged (correct + wrong) with a 95% Wilson
    interval; judge errors and missing images are counted apart, never as rejections. Samples, not items:
    K samples of one item are not independent, so the interval is a guide, not a test."""
    groups: dict[str, list[str]] = {}
    for it in sorted(items, key=curriculum_key):
        outs = [_outcome((it.id, "think", k), samples, verdicts) for k in range(samples_per_item)]
        groups.setdefault(f"{it.task}/{it.level}", []).extend(outs)
        groups.setdefault(f"level {it.level}", []).extend(outs)
    return {key: _rate(v) for key, v in groups.items()}


# -- 5. formats -------------------------------------------------------------------------------------


def _triple_json(t: Triple, image: str) -> dict[str, Any]:
    return {**asdict(t), "image": image}


def write_jsonl(out: Path, run_root: Path, triples: Sequence[Triple]) -> dict[str, Any]:
    """`jsonl/triples.jsonl` (one Triple per line, `image` relative to `jsonl/`) and the PNGs beside it."""
    root = out / "jsonl"
    if root.exists():
        shutil.rmtree(root)  # a rewrite from the records: nothing stale may stay
    lines = []
    for t in triples:
        rel = f"images/L{t.level}/{t.id}.png"
        atomic_write_bytes(root / rel, (run_root / t.image).read_bytes())
        lines.append(json.dumps(_triple_json(t, rel), ensure_ascii=False, sort_keys=True) + "\n")
    atomic_write_text(root / "triples.jsonl", "".join(lines))
    return {"path": "jsonl/triples.jsonl", "rows": len(triples)}


_HF_FEATURES = {
    "id": "string",
    "item_id": "string",
    "task": "string",
    "level": "int32",
    "sample_index": "int32",
    "seed": "int64",
    "prompt": "string",
    "trace": "string",
    "rewritten_prompt": "string",
    "caption": "string",
    "expected": "string",
}


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ConfigError("--format parquet/bagel needs pyarrow: pip install 'unisandbox[parquet]'") from e
    return pa, pq


def write_parquet(out: Path, run_root: Path, triples: Sequence[Triple]) -> dict[str, Any]:
    """`parquet/train.parquet`: a row per triple; `image` is a Hugging Face Image (struct of bytes, path) and
    `expected` a JSON string; the schema carries the `datasets` features so `load_dataset` decodes images."""
    pa, pq = _pyarrow()
    cols: dict[str, list[Any]] = {k: [] for k in _HF_FEATURES}
    images = []
    for t in triples:
        d = asdict(t)
        for k in _HF_FEATURES:
            cols[k].append(json.dumps(d[k], sort_keys=True) if k == "expected" else d[k])
        images.append({"bytes": (run_root / t.image).read_bytes(), "path": f"{t.id}.png"})
    arrow_type = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64()}
    arrays = {k: pa.array(v, type=arrow_type[_HF_FEATURES[k]]) for k, v in cols.items()}
    arrays["image"] = pa.array(images, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    features = {k: {"dtype": v, "_type": "Value"} for k, v in _HF_FEATURES.items()} | {
        "image": {"_type": "Image"}
    }
    table = pa.table(arrays).replace_schema_metadata(
        {"huggingface": json.dumps({"info": {"features": features}})}
    )
    path = out / "parquet" / "train.parquet"
    _write_table(pq, table, path)
    return {"path": "parquet/train.parquet", "rows": len(triples)}


def _write_table(pq: Any, table: Any, path: Path) -> None:
    import io

    buf = io.BytesIO()
    pq.write_table(table, buf)
    atomic_write_bytes(path, buf.getvalue())


def bagel_name(task: str, level: int) -> str:
    """The study's dataset naming: math1_reject, mapping2_reject (its release adds the size, e.g. _5k)."""
    return f"{task}{level}_reject"


def write_bagel(out: Path, run_root: Path, triples: Sequence[Triple]) -> dict[str, Any]:
    """The study's BAGEL trainer format: per task and level a `t2i_pretrain` folder with one parquet file
    (columns `image`: PNG bytes, `captions`: JSON {"prompt": ...}), `dataset_info.json` (the entries of
    `DATASET_INFO["t2i_pretrain"]`) and `configs/<name>.yaml` (the `--dataset_config_file` per stage)."""
    pa, pq = _pyarrow()
    root = out / "bagel"
    if root.exists():
        shutil.rmtree(root)
    groups: dict[str, list[Triple]] = {}
    for t in triples:  # already in curriculum order, so the groups are too
        groups.setdefault(bagel_name(t.task, t.level), []).append(t)
    info, stages = {}, []
    for name, ts in groups.items():
        table = pa.table(
            {
                "image": pa.array([(run_root / t.image).read_bytes() for t in ts], type=pa.binary()),
                "captions": pa.array(
                    [json.dumps({"prompt": t.prompt}, ensure_ascii=False) for t in ts], type=pa.string()
                ),
            }
        )
        _write_table(pq, table, root / name / "part-00000.parquet")
        info[name] = {"data_dir": str((root / name).resolve()), "num_files": 1, "num_total_samples": len(ts)}
        atomic_write_text(root / "configs" / f"{name}.yaml", _bagel_yaml(name, len(ts)))
        stages.append(
            {
                "level": ts[0].level,
                "task": ts[0].task,
                "dataset": name,
                "config": f"bagel/configs/{name}.yaml",
            }
        )
    atomic_write_text(root / "dataset_info.json", json.dumps({"t2i_pretrain": info}, indent=2) + "\n")
    return {"path": "bagel/", "rows": len(triples), "datasets": info, "stages": stages}


def _bagel_yaml(name: str, n: int) -> str:
    """One stage's dataset config, in the shape of the study's data/configs/Math/math1_reject_5k.yaml."""
    return (
        f"t2i_pretrain:\n  dataset_names:\n  - {name}\n  image_transform_args:\n    image_stride: 16\n"
        f"    max_image_size: 1024\n    min_image_size: 512\n  is_mandatory: true\n"
        f"  num_used_data: # The sum should be larger than NUM_GPUS x NUM_WORKERS\n  - {n}\n  weight: 1\n"
    )


WRITERS = {"jsonl": write_jsonl, "parquet": write_parquet, "bagel": write_bagel}


# -- the whole job ----------------------------------------------------------------------------------


def export(
    out: Path, cfg: StarsDataConfig, formats: Sequence[str], *, allow_incomplete: bool = False
) -> dict[str, Any]:
    """Rebuild every output from the run's records (deterministic, so a resumed job writes the same files)
    and write `<out>/manifest.json`; return the manifest."""
    from unisandbox.runs.rundir import RunDir

    run = RunDir(out / "run")
    items = read_items(out / "items.jsonl")
    samples, verdicts = run.read_records("samples"), run.read_records("verdicts")
    rates = acceptance(items, cfg.samples, samples, verdicts)
    unfinished = sum(r["errors"] + r["missing"] for k, r in rates.items() if k.startswith("level "))
    if unfinished and not allow_incomplete:
        raise IncompleteData(
            f"{unfinished} think-mode samples have no verdict, a judge error or no image; rerun the "
            "same command to retry them, or pass --allow-incomplete to write what was accepted"
        )
    triples = accepted(items, cfg.samples, samples, verdicts)
    written = {f: WRITERS[f](out, run.root, triples) for f in formats}
    run_manifest = run.read_manifest()
    manifest = {
        "schema_version": STARS_DATA_VERSION,
        "config": cfg.identity(),
        "model": run_manifest.get("model"),
        "judge": run_manifest.get("judge"),
        "git_commit": run_manifest.get("git_commit"),
        "unisandbox_version": run_manifest.get("unisandbox_version"),
        "seeds": {
            "items": cfg.seed + cfg.item_seed_offset,
            "samples": cfg.seed,
            "sample_seed": "sample_seed(item id, 'think', k, seed)",
        },
        "held_out": {
            "rule": "no official test expression (math) or rule set (mapping)",
            "held_out_keys": len(held_out_keys(cfg.tasks)),
        },
        "items": {
            "total": len(items),
            **{
                f"{t}/{lv}": sum(1 for it in items if (it.task, it.level) == (t, lv))
                for t in cfg.tasks
                for lv in sorted(cfg.levels)
            },
        },
        "curriculum": [f"level {lv}" for lv in sorted(cfg.levels)],
        "acceptance": rates,
        "accepted": len(triples),
        "complete": not unfinished,
        "formats": written,
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """The formats, validated (ConfigError names the bad one); pyarrow is checked up front when needed."""
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(
            f"--format: unknown format {bad[0] if bad else '(none)'!r} (known: {', '.join(FORMATS)})"
        )
    if any(f in ("parquet", "bagel") for f in formats):
        _pyarrow()
    return tuple(dict.fromkeys(formats))


def main(
    out: Path,
    cfg: StarsDataConfig,
    formats: Sequence[str] = FORMATS,
    *,
    batch_size: int = 64,
    judge_options: Mapping[str, Any] | None = None,
    allow_incomplete: bool = False,
    progress: Any = None,
) -> dict[str, Any] | None:
    """Prepare, sample, judge, reject, export; resumable. Returns the manifest on rank 0 (None elsewhere)."""
    import os

    formats = check_formats(formats)
    cfg = cfg.validate()
    out = Path(out)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if main_rank:
        from unisandbox.runs.pipeline import check_out_dir

        check_out_dir(out)
    fresh = main_rank and not _state_path(out).exists() and not (out.exists() and any(out.iterdir()))
    try:
        if main_rank:
            prepare(out, cfg)
        if not sample_and_judge(
            out, cfg, batch_size=batch_size, judge_options=judge_options, progress=progress
        ):
            return None
    except BaseException:
        # A model or judge that cannot load leaves no half-made folder behind (nothing was sampled yet).
        if (
            fresh
            and not (out / "run" / "samples.jsonl").exists()
            and not list((out / "run").glob("samples.*.jsonl"))
        ):
            shutil.rmtree(out, ignore_errors=True)
        raise
    return export(out, cfg, formats, allow_incomplete=allow_incomplete)
