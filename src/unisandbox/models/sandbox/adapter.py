"""UnifiedModel adapters for the sandbox checkpoints: `SandboxModel` (shared) and `SandboxQueryModel` (query).

Understanding and think-mode traces are decoded greedily; image codes are sampled with a temperature
from a generator seeded by each sample's own seed, so the image for (item, mode, seed) is the same in
any batch or shard. Also the hooks that STARS and knowledge injection need: sequence builders,
`finetune`, `save`.

>>> from unisandbox.tasks.math import math_items
>>> model = SandboxModel.from_spec(None)  # the shipped shared-backbone checkpoint
>>> out = model.generate(math_items(0, 1, 2), "think", seeds=[0, 1])
>>> [(g.image is not None, g.rewritten_prompt is not None) for g in out]
[(True, True), (True, True)]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unisandbox.models.base import Capabilities, Generation, Mode, Understanding
from unisandbox.models.sandbox.checkpoint import file_sha256
from unisandbox.models.sandbox.sequences import Seq, trace_answer
from unisandbox.tasks.base import Item

MAX_TRACE_TOKENS = 120
"""Longest trace + rewritten prompt the model may write (a level-3 trace is about 40 tokens)."""


class _SandboxBase:
    """Shared logic; subclasses choose the architecture and how images are drawn."""

    arch = "shared"
    kind = "sandbox"
    capabilities = Capabilities(understands=True, thinks=True, trainable=True)

    def __init__(
        self,
        checkpoint,
        path: str | None = None,
        temperature: float | None = None,
        batch_size: int = 256,
        max_trace_tokens: int = MAX_TRACE_TOKENS,
    ):
        from unisandbox.models.sandbox.sampling import text_logit_mask
        from unisandbox.models.sandbox.tokenizers import SPECIALS

        self.checkpoint = checkpoint
        self.codec = checkpoint.codec
        self.model = checkpoint.model
        self.path = path
        default_t = float(checkpoint.config.get("sampling", {}).get("temperature", 1.0))
        self.temperature = default_t if temperature is None else float(temperature)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = int(batch_size)
        self.max_trace_tokens = int(max_trace_tokens)
        self.name = self.kind if path is None else f"{self.kind}:{path}"
        ids = {s: self.codec.special(s) for s in SPECIALS}
        self._allowed = text_logit_mask(self._text_vocab(), self.codec.code_offset, ids)
        self._weights_sha = file_sha256(checkpoint.path / "model.safetensors") if checkpoint.path else None

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, path: str | None = None, **options: Any):
        """Load a checkpoint directory (None = the shipped checkpoint of this architecture).

        Options: device ("cpu"/"cuda"), temperature, batch_size, max_trace_tokens.
        """
        from unisandbox.models.sandbox.checkpoint import load_checkpoint

        device = options.pop("device", None)
        ckpt = load_checkpoint(path, arch=cls.arch, device=device)
        if ckpt.arch != cls.arch:
            raise ValueError(
                f"{path}: checkpoint architecture is {ckpt.arch!r}, this adapter loads {cls.arch!r}"
            )
        return cls(ckpt, path=path, **options)

    def describe(self) -> dict[str, Any]:
        """Identity for a run manifest: spec, architecture, weights hash, sampling settings."""
        return {
            "kind": self.kind,
            "path": self.path,
            "arch": self.arch,
            "weights_sha256": self._weights_sha,
            "temperature": self.temperature,
            "max_trace_tokens": self.max_trace_tokens,
            "train_command": self.checkpoint.config.get("command"),
            "seed": self.checkpoint.config.get("seed"),
        }

    @property
    def device(self):
        return next(self.model.parameters()).device

    # --- the protocol ---------------------------------------------------------------------------
    def understand(self, questions: Sequence[str]) -> list[Understanding]:
        """Answer each question: greedy trace, final answer parsed after "answer:"."""
        prompts = [self.codec.understanding_prompt(q) for q in questions]
        out: list[Understanding] = []
        for ids, _stopped in self._decode_text(prompts, stop=("<eos>",)):
            text = self.codec.text.decode(ids)
            out.append(Understanding(answer=trace_answer(text), text=text))
        return out

    def generate(self, items: Sequence[Item], mode: Mode, seeds: Sequence[int]) -> list[Generation]:
        """One image per (item, seed), in order; think mode writes a trace and a rewritten prompt first."""
        if len(items) != len(seeds):
            raise ValueError(f"{len(items)} items but {len(seeds)} seeds")
        if mode not in ("normal", "think"):
            raise ValueError(f"unknown mode {mode!r}")
        if not items:
            return []
        if mode == "normal":
            return self._draw(
                [self.codec.normal_prompt(it.prompt) for it in items], list(seeds), [{} for _ in items]
            )
        prompts = [self.codec.think_prompt(it.prompt) for it in items]
        img = self.codec.special("<img>")
        prefixes, metas = [], []
        for p, (ids, stopped) in zip(
            prompts, self._decode_text(prompts, stop=("<img>", "<eos>")), strict=True
        ):
            forced = not (stopped and ids[-1] == img)
            trace = ids[:-1] if stopped else ids
            text = self.codec.text.decode(trace)
            prefixes.append([*p, *trace, img])
            metas.append(
                {
                    "text": text,
                    "rewritten_prompt": trace_answer(text) or None,
                    "extra": {"trace_tokens": len(trace), "forced_img": forced},
                }
            )
        return self._draw(prefixes, list(seeds), metas)

    def draw_descriptions(self, descriptions: Sequence[str], seeds: Sequence[int]) -> list[Generation]:
        """Draw from plain descriptions (`<gen> 3 cups <img>`): the drawing skill on its own."""
        return self._draw(
            [self.codec.normal_prompt(d) for d in descriptions], list(seeds), [{} for _ in descriptions]
        )

    # --- internals ------------------------------------------------------------------------------
    def _text_vocab(self) -> int:
        return self.codec.vocab_size

    def _text_model(self):
        return self.model

    def _decode_text(self, prompts: list[list[int]], stop: tuple[str, ...]) -> list[tuple[list[int], bool]]:
        from unisandbox.models.sandbox.sampling import greedy_text

        stop_ids = [self.codec.special(s) for s in stop]
        res: list[tuple[list[int], bool]] = [([], False)] * len(prompts)
        limit = self._text_model().cfg.block_size
        for chunk in _chunks(prompts, self.batch_size):
            ok = [i for i in chunk if len(prompts[i]) < limit - 10]
            if ok:
                outs = greedy_text(
                    self._text_model(),
                    [prompts[i] for i in ok],
                    stop_ids,
                    self.max_trace_tokens,
                    self._allowed,
                )
                for i, o in zip(ok, outs, strict=True):
                    res[i] = o
        return res

    def _draw(self, prefixes: list[list[int]], seeds: list[int], metas: list[dict]) -> list[Generation]:
        from PIL import Image

        out: dict[int, Generation] = {}
        limit = self._context_limit()
        for chunk in _chunks(prefixes, self.batch_size):
            ok = [i for i in chunk if len(prefixes[i]) <= limit]
            for i in chunk:
                if len(prefixes[i]) > limit:
                    out[i] = Generation(
                        image=None,
                        text=metas[i].get("text", ""),
                        rewritten_prompt=metas[i].get("rewritten_prompt"),
                        error=f"prompt of {len(prefixes[i])} tokens exceeds the context ({limit})",
                    )
            if not ok:
                continue
            codes = self._sample_codes([prefixes[i] for i in ok], [seeds[i] for i in ok])
            arrays = self.codec.image.decode(codes)
            for i, arr, c in zip(ok, arrays, codes, strict=True):
                m = metas[i]
                out[i] = Generation(
                    image=Image.fromarray(arr, "RGB"),
                    text=m.get("text", ""),
                    rewritten_prompt=m.get("rewritten_prompt"),
                    extra={**m.get("extra", {}), "codes": [int(x) for x in c]},
                )
        return [out[i] for i in range(len(prefixes))]

    def _context_limit(self) -> int:
        return self.model.cfg.block_size - 9

    def _sample_codes(self, prefixes: list[list[int]], seeds: list[int]) -> np.ndarray:
        from unisandbox.models.sandbox.sampling import sample_codes

        return sample_codes(
            self.model, prefixes, self.codec.code_offset, self.codec.image.size, seeds, self.temperature
        )

    # --- training hooks (STARS, knowledge injection) --------------------------------------------
    def understanding_sequences(
        self, pairs: Sequence[tuple[str, str]], steps: Sequence[Sequence[str]] | None = None
    ) -> list[Seq]:
        """`<und> question <sep> [steps ;] answer: A <eos>` for (question, answer) pairs."""
        out = []
        for k, (q, a) in enumerate(pairs):
            st = list(steps[k]) if steps is not None else []
            out.append(self.codec.understanding(q, [*st, f"answer: {a}"]))
        return out

    def image_sequences(
        self,
        pairs: Sequence[tuple[str, Any]],
        mode: Mode = "normal",
        traces: Sequence[Sequence[str]] | None = None,
    ) -> list[Seq]:
        """Sequences from (prompt, image) pairs; image = PIL image or (48, 48, 3) uint8 array.

        normal: `<gen> prompt <img> codes` (what STARS distils into); think: `<think> prompt <sep> trace
        <img> codes` (needs `traces`, each ending with "answer: ...").
        """
        arrays = np.stack(
            [
                np.asarray(img.convert("RGB") if hasattr(img, "convert") else img, dtype=np.uint8)
                for _, img in pairs
            ]
        )
        codes = self.codec.image.encode(arrays)
        if mode == "normal":
            return [self.codec.drawing(p, c) for (p, _), c in zip(pairs, codes, strict=True)]
        if traces is None:
            raise ValueError("think-mode sequences need traces")
        return [self.codec.think(p, t, c) for (p, _), t, c in zip(pairs, traces, codes, strict=True)]

    def pretraining_replay(self, n: int, seed: int = 0) -> list[Seq]:
        """`n` sequences of this checkpoint's own pretraining mixture (replay against forgetting)."""
        from dataclasses import replace

        from unisandbox.models.sandbox.mixture import MixtureConfig, build_raw, tokenize
        from unisandbox.models.sandbox.train import BatchSampler, TrainConfig

        mcfg = MixtureConfig.from_dict(self.checkpoint.config["train"]["mixture"])
        scale = max(1, int(sum(mcfg.math_items.values()) + 2 * sum(mcfg.mapping_items.values())) // max(n, 1))
        small = replace(
            mcfg,
            math_items={k: max(1, v // scale) for k, v in mcfg.math_items.items()},
            mapping_items={k: max(1, v // scale) for k, v in mcfg.mapping_items.items()},
            n_draw=max(1, mcfg.n_draw // scale),
        )
        pools = tokenize(build_raw(small, seed), self.codec)
        weights = self.checkpoint.config["train"].get("weights", TrainConfig().weights)
        sampler = BatchSampler(pools, weights, 1, seed)
        return [sampler.next()[1][0] for _ in range(n)]

    def finetune(self, sequences: Sequence[Seq], steps: int, seed: int = 0, **options: Any) -> list[float]:
        """Fine-tune in place with `train.finetune` (its `options`: lr, batch_size, replay, replay_ratio,
        log, ...; the architecture is this model's); returns per-step losses."""
        import torch

        from unisandbox.models.sandbox.train import finetune

        torch.manual_seed(seed)
        losses = finetune(self.model, self.codec, sequences, steps, seed=seed, arch=self.arch, **options)
        self._weights_sha = None  # no longer the file on disk
        return losses

    def save(self, out: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write this (possibly fine-tuned) model as a checkpoint directory loadable by `from_spec`."""
        from unisandbox.models.sandbox.checkpoint import save_checkpoint

        cfg = {
            k: v for k, v in self.checkpoint.config.items() if k not in ("format_version", "arch", "model")
        }
        cfg.update(extra or {})
        self.model.cpu()
        try:
            p = save_checkpoint(out, self.arch, self.model, self.codec, cfg)
        finally:
            self.model.to(self.checkpoint_device)
        self._weights_sha = file_sha256(Path(out) / "model.safetensors")
        return p

    @property
    def checkpoint_device(self):
        return getattr(self, "_device", None) or "cpu"


class SandboxModel(_SandboxBase):
    """The shared-backbone sandbox model (one transformer over text and image tokens)."""

    arch = "shared"
    kind = "sandbox"

    def __init__(self, checkpoint, **kw: Any):
        super().__init__(checkpoint, **kw)
        self._device = next(self.model.parameters()).device


class SandboxQueryModel(_SandboxBase):
    """The query-based sandbox model (frozen understanding LM, learnable queries, separate image decoder)."""

    arch = "query"
    kind = "sandbox-query"

    def __init__(self, checkpoint, **kw: Any):
        super().__init__(checkpoint, **kw)
        self._device = next(self.model.parameters()).device

    def _text_vocab(self) -> int:
        return self.codec.text.size

    def _text_model(self):
        return self.model.lm

    def _context_limit(self) -> int:
        return self.model.lm.cfg.block_size - self.model.cfg.n_queries

    def _sample_codes(self, prefixes: list[list[int]], seeds: list[int]) -> np.ndarray:
        return self.model.sample(prefixes, seeds, self.temperature)


def _chunks(seqs: Sequence[Sequence[int]], size: int) -> list[list[int]]:
    # Sort by length so each batch pads little; results are scattered back by index.
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    return [order[s : s + size] for s in range(0, len(order), size)]
