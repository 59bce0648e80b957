"""The evaluation loop, stage by stage: generate -> probe -> judge (aggregation lives in metrics/).

Each stage rebuilds its done-set from the run's records, works through the pending keys in batches,
and appends one record per finished key (images first, written to a temp name and renamed). A killed
stage loses at most the batch in flight; rerunning it redoes only what has no record.
"""

from __future__ import annotations

import io
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from unisandbox.judges.base import Caption, Judge
from unisandbox.judges.match import verdict_for
from unisandbox.models.base import Generation, Mode, Understanding, UnifiedModel, require, sample_seed
from unisandbox.runs.distributed import WHOLE, Shard
from unisandbox.runs.io import atomic_write_bytes
from unisandbox.runs.probes import probe_correct
from unisandbox.runs.records import SampleKey, SampleRecord, UnderstandingRecord, VerdictRecord
from unisandbox.runs.rundir import RunDir, describe_hash
from unisandbox.tasks.base import Item

A = TypeVar("A")
R = TypeVar("R")
B = TypeVar("B")

DEFAULT_BATCH_SIZE = 64
MODEL_FAILED = "model failed: "
"""Prefix of a verdict's error when the sample has no image because the model failed (verdict "error")."""


class Progress(Protocol):
    """Where stages report progress (the CLI shows a bar; tests pass None)."""

    def start(self, name: str, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


class _Silent:
    def start(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


@dataclass(frozen=True)
class Plan:
    """The work of a run: its items, modes and samples per item, in a fixed order."""

    items: tuple[Item, ...]
    """Planned items in items.jsonl order."""
    modes: tuple[Mode, ...]
    """Generation modes, in the order they run."""
    samples_per_item: int
    """Samples per (item, mode)."""

    @property
    def by_id(self) -> dict[str, Item]:
        """Items by id."""
        return {it.id: it for it in self.items}

    def position(self) -> dict[str, int]:
        """Item id -> position in the plan."""
        return {it.id: i for i, it in enumerate(self.items)}

    def sample_keys(self, shard: Shard = WHOLE) -> list[SampleKey]:
        """Keys of this shard, mode by mode (one model call handles one mode), then item, then sample."""
        return [
            (it.id, mode, k)
            for mode in self.modes
            for pos, it in enumerate(self.items)
            if shard.owns(pos)
            for k in range(self.samples_per_item)
        ]

    def sample_order(self) -> Callable[[SampleKey], tuple[int, int, int]]:
        """Sort key for merged sample files: the order one process generates in (mode, item, sample),
        so a merged file equals the file of an uninterrupted single-process run."""
        pos, modes = self.position(), {m: i for i, m in enumerate(self.modes)}
        return lambda key: (modes[key[1]], pos[key[0]], key[2])

    def item_order(self) -> Callable[[tuple[str]], int]:
        """Sort key for merged understanding files: item position."""
        pos = self.position()
        return lambda key: pos[key[0]]


def _chunks(seq: Sequence[B], size: int) -> list[list[B]]:
    return [list(seq[i : i + size]) for i in range(0, len(seq), size)]


def _describe_error(e: BaseException) -> str:
    last = traceback.extract_tb(e.__traceback__)[-1:] if e.__traceback__ else []
    where = f" at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno}" if last else ""
    return f"{type(e).__name__}: {e}{where}"


def png_bytes(image: Any) -> bytes:
    """Encode a PIL image as PNG with fixed settings (same pixels -> same bytes)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _each_safely(call: Callable[[list[A]], Sequence[R]], inputs: list[A], what: str) -> list[R | Exception]:
    """`call(inputs)`; on an exception, retry one by one so that one failing input cannot sink its batch:
    each input that still fails gets its exception in its slot. `what` names the outputs and the inputs
    ("generations", "items") for the error when the model returns the wrong count."""
    try:
        out = list(call(inputs))
        if len(out) != len(inputs):
            raise RuntimeError(f"model returned {len(out)} {what} for {len(inputs)} inputs")
        return list[R | Exception](out)
    except Exception as e:
        if len(inputs) == 1:
            return [e]
    return [r for x in inputs for r in _each_safely(call, [x], what)]


def _generation(result: Generation | Exception) -> Generation:
    """A generation, or the failure of its sample as a generation without an image."""
    if isinstance(result, Exception):
        return Generation(image=None, error=_describe_error(result))
    return result


def _append_batches(
    run: RunDir,
    records: str,
    label: str | None,
    batches: Sequence[list[B]],
    to_records: Callable[[list[B]], Sequence[BaseModel]],
    stage: str,
    progress: Progress | None,
) -> int:
    """Append `to_records(batch)` for each batch to the `records` file (flushed per batch); return the count."""
    progress = progress or _Silent()
    total = sum(len(b) for b in batches)
    progress.start(stage, total)
    with run.appender(records, label) as out:
        for batch in batches:
            out.append_many([r.model_dump(mode="json") for r in to_records(batch)])
            progress.advance(len(batch))
    return total


def generate(
    run: RunDir,
    plan: Plan,
    model: UnifiedModel,
    *,
    layout: str,
    seed: int,
    shard: Shard = WHOLE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    retry_errors: bool = False,
    progress: Progress | None = None,
) -> int:
    """Generate every pending sample of this shard; return how many were generated now."""
    for mode in plan.modes:
        require(model, mode=mode)
    done = run.read_records("samples")
    pending = [
        k for k in plan.sample_keys(shard) if k not in done or (retry_errors and done[k].image is None)
    ]
    items = plan.by_id

    def records(batch: list[SampleKey]) -> list[SampleRecord]:
        mode = batch[0][1]
        jobs = [(items[k[0]], sample_seed(k[0], mode, k[2], seed)) for k in batch]
        gens = _each_safely(
            lambda js: model.generate([it for it, _ in js], mode, [s for _, s in js]), jobs, "generations"
        )
        return [
            _save_sample(run, it, key, s, _generation(g), layout, model.name)
            for (it, s), key, g in zip(jobs, batch, gens, strict=True)
        ]

    # A batch holds one mode: models generate a batch in one mode.
    batches = [b for mode in plan.modes for b in _chunks([k for k in pending if k[1] == mode], batch_size)]
    return _append_batches(run, "samples", shard.label, batches, records, "generate", progress)


def _save_sample(
    run: RunDir, item: Item, key: SampleKey, seed: int, gen: Generation, layout: str, model_name: str
) -> SampleRecord:
    rel = None
    error = gen.error
    if gen.image is not None:
        rel = run.image_relpath(item, key[1], key[2], layout)
        atomic_write_bytes(run.root / rel, png_bytes(gen.image))
    elif error is None:
        error = "model returned no image and no reason"
    return SampleRecord(
        item_id=key[0],
        mode=key[1],
        sample_index=key[2],
        seed=seed,
        image=rel,
        text=gen.text or "",
        rewritten_prompt=gen.rewritten_prompt,
        error=error,
        model=model_name,
        extra=dict(gen.extra),
    )


def probe(
    run: RunDir,
    plan: Plan,
    model: UnifiedModel,
    *,
    shard: Shard = WHOLE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    retry_errors: bool = False,
    progress: Progress | None = None,
) -> int:
    """Ask every pending understanding probe of this shard; return how many were asked now."""
    require(model, understanding=True)
    done = run.read_records("understanding")
    pending = [
        it
        for pos, it in enumerate(plan.items)
        if shard.owns(pos) and ((it.id,) not in done or (retry_errors and done[(it.id,)].correct is None))
    ]

    def records(batch: list[Item]) -> list[UnderstandingRecord]:
        answers = _each_safely(model.understand, [it.probe.question for it in batch], "answers")
        return [_probe_record(it, a, model.name) for it, a in zip(batch, answers, strict=True)]

    batches = _chunks(pending, batch_size)
    return _append_batches(run, "understanding", shard.label, batches, records, "probe", progress)


def _probe_record(item: Item, answer: Understanding | Exception, model_name: str) -> UnderstandingRecord:
    common: dict[str, Any] = {
        "item_id": item.id,
        "question": item.probe.question,
        "expected": item.probe.answer,
        "model": model_name,
    }
    if isinstance(answer, Exception):
        return UnderstandingRecord(**common, answer=None, correct=None, error=_describe_error(answer))
    return UnderstandingRecord(
        **common,
        answer=answer.answer,
        text=answer.text or "",
        correct=probe_correct(answer.answer, item.probe.answer),
    )


def judge(
    run: RunDir,
    plan: Plan,
    judge: Judge,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    retry_errors: bool = False,
    progress: Progress | None = None,
) -> int:
    """Judge every generated sample that has no verdict yet; return how many were judged now."""
    samples = run.read_records("samples")
    verdicts = run.read_records("verdicts")
    pending = [
        samples[k]
        for k in plan.sample_keys()
        if k in samples and _needs_verdict(verdicts.get(k), samples[k], retry_errors)
    ]
    ident = {"judge": judge.name, "judge_hash": describe_hash(judge.describe())}
    items = plan.by_id

    def records(batch: list[SampleRecord]) -> list[VerdictRecord]:
        return _judge_batch(run, batch, items, judge, ident)

    batches = _chunks(pending, batch_size)
    return _append_batches(run, "verdicts", None, batches, records, "judge", progress)


def _needs_verdict(verdict: VerdictRecord | None, sample: SampleRecord, retry_errors: bool) -> bool:
    if verdict is None:
        return True
    judged_without_image = verdict.verdict == "missing" or (verdict.error or "").startswith(MODEL_FAILED)
    if judged_without_image and sample.image is not None:
        return True  # the sample was regenerated after the model had failed on it
    if judged_without_image:
        return False  # nothing to judge until the model draws it
    return retry_errors and verdict.verdict == "error"


def _judge_batch(
    run: RunDir, batch: Sequence[SampleRecord], items: dict[str, Item], judge: Judge, ident: dict[str, str]
) -> list[VerdictRecord]:
    results: dict[int, VerdictRecord] = {}
    to_caption: list[tuple[int, bytes]] = []
    for i, s in enumerate(batch):
        key: dict[str, Any] = {"item_id": s.item_id, "mode": s.mode, "sample_index": s.sample_index, **ident}
        if s.image is None:
            # The model failed on this sample: an error with the model's reason, never "wrong".
            results[i] = VerdictRecord(
                **key,
                verdict="error",
                caption=None,
                error=MODEL_FAILED + (s.error or "no image and no reason"),
            )
            continue
        try:
            to_caption.append((i, (run.root / s.image).read_bytes()))
        except OSError as e:
            results[i] = VerdictRecord(
                **key, verdict="missing", caption=None, error=f"image file unreadable: {e}"
            )
    if to_caption:
        try:
            captions = judge.caption([b for _, b in to_caption])
            if len(captions) != len(to_caption):
                raise RuntimeError(f"judge returned {len(captions)} captions for {len(to_caption)} images")
        except Exception as e:
            if getattr(e, "stops_run", False):
                raise  # e.g. a judge endpoint that stopped answering: record nothing, resume later
            captions = [Caption(text=None, error=_describe_error(e))] * len(to_caption)
        for (i, _), cap in zip(to_caption, captions, strict=True):
            s = batch[i]
            key = {"item_id": s.item_id, "mode": s.mode, "sample_index": s.sample_index, **ident}
            if cap.error is not None or cap.text is None:
                results[i] = VerdictRecord(
                    **key, verdict="error", caption=cap.text, error=cap.error or "judge returned no caption"
                )
            else:
                results[i] = VerdictRecord(
                    **key,
                    verdict=verdict_for(cap, items[s.item_id].expected, has_image=True),
                    caption=cap.text,
                )
    return [results[i] for i in range(len(batch))]
