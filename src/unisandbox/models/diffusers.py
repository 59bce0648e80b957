"""Any diffusers text-to-image pipeline from a local directory, with an optional prompt rewriter for think mode.

    unisandbox run --model diffusers:/models/stable-diffusion-3.5-medium --modes normal ...

The pipeline is loaded with `DiffusionPipeline.from_pretrained(path, local_files_only=True)`, which reads
`model_index.json` and picks the pipeline class itself. A pure generator cannot answer questions, so
`understands` is False and the pipeline refuses understanding probes up front.

Think mode is *decoupled*: a separate language model behind an OpenAI-compatible endpoint reasons about
the prompt and rewrites it (our versioned template), then the pipeline draws the rewritten prompt.
`describe()` records `decoupled_think: true` and the rewriter's endpoint, so such results are never
mistaken for a unified model's own think mode. The rewriter is configured by options or environment:

    rewriter_base_url  or UNISANDBOX_REWRITER_BASE_URL, else OPENAI_BASE_URL
    rewriter_model     or UNISANDBOX_REWRITER_MODEL,    else OPENAI_MODEL
    API key            UNISANDBOX_REWRITER_API_KEY,     else OPENAI_API_KEY (environment only)

Without a rewriter model, `thinks` is False. Noise comes from one CPU `torch.Generator` per sample, seeded
with that sample's seed, so an image never depends on its batch or on the GPU's random generator.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisandbox.endpoint import Endpoint, chat_many, describe_error, env_first
from unisandbox.models._local import check_model_dir, chunks, resolve_device, resolve_dtype
from unisandbox.models._text import (
    TEMPLATES_VERSION,
    Rewrite,
    opt_float,
    opt_int,
    opt_str,
    parse_rewrite,
    refuse_unknown,
    require_extra,
    think_prompt,
)
from unisandbox.models.base import MODES, Capabilities, CapabilityError, Generation, Mode, Understanding
from unisandbox.tasks.base import InputError

if TYPE_CHECKING:
    from unisandbox.tasks.base import Item

REWRITER_KEY_ENV = ("UNISANDBOX_REWRITER_API_KEY", "OPENAI_API_KEY")
OFFLOADS = ("none", "model", "sequential")


@dataclass(frozen=True)
class DiffusersSettings:
    """Sampling settings passed to the pipeline call (None leaves the pipeline's own default)."""

    steps: int | None = None
    """num_inference_steps."""
    guidance: float | None = None
    """guidance_scale."""
    height: int | None = None
    """Image height in pixels."""
    width: int | None = None
    """Image width in pixels."""
    negative_prompt: str | None = None
    """Negative prompt, if the pipeline takes one."""
    batch_size: int = 4
    """Prompts per pipeline call."""
    device: str = "auto"
    """"auto" (cuda:LOCAL_RANK when a GPU exists, else cpu) or a torch device string."""
    dtype: str = "auto"
    """"auto" (bfloat16 on GPU, float32 on CPU), "float32", "bfloat16" or "float16"."""
    offload: str = "none"
    """"none" (the whole pipeline on `device`), "model" (`enable_model_cpu_offload`: each component
    moves to the GPU only while it runs, for pipelines larger than the GPU's memory) or "sequential"
    (`enable_sequential_cpu_offload`: layer by layer, least memory, much slower). Needs accelerate."""
    rewriter_temperature: float = 0.0
    """Sampling temperature of the rewriter (0: its most likely reasoning)."""
    rewriter_max_tokens: int = 1024
    """Token budget of the rewriter's reasoning and rewritten prompt."""


class DiffusersModel:
    """A diffusers text-to-image pipeline behind the UnifiedModel protocol (generation only)."""

    def __init__(
        self, pipe: Any, path: Path, settings: DiffusersSettings, device: str, rewriter: Endpoint | None
    ):
        self.pipe = pipe
        self.path = path
        self.settings = settings
        self.device = device
        self.rewriter = rewriter
        self.name = f"diffusers:{path.name}"
        self.capabilities = Capabilities(understands=False, thinks=rewriter is not None, trainable=False)

    @classmethod
    def from_spec(cls, path: str | None, **options: Any) -> DiffusersModel:
        """Load a pipeline directory: `DiffusersModel.from_spec("/models/sd", steps="30")`.

        Options: steps, guidance, height, width, negative_prompt, batch_size, device, dtype, offload,
        rewriter_base_url, rewriter_model, rewriter_temperature, rewriter_max_tokens,
        rewriter_concurrency, rewriter_timeout, rewriter_max_retries.
        """
        opts = dict(options)
        d = DiffusersSettings()
        settings = DiffusersSettings(
            steps=opt_int(opts, "steps", None),
            guidance=opt_float(opts, "guidance", None),
            height=opt_int(opts, "height", None),
            width=opt_int(opts, "width", None),
            negative_prompt=opt_str(opts, "negative_prompt", None),
            batch_size=opt_int(opts, "batch_size", d.batch_size),
            device=opt_str(opts, "device", d.device),
            dtype=opt_str(opts, "dtype", d.dtype),
            offload=opt_str(opts, "offload", d.offload),
            rewriter_temperature=opt_float(opts, "rewriter_temperature", d.rewriter_temperature),
            rewriter_max_tokens=opt_int(opts, "rewriter_max_tokens", d.rewriter_max_tokens),
        )
        if settings.offload not in OFFLOADS:
            raise InputError(
                f"diffusers model: option 'offload': expected {', '.join(OFFLOADS)}; got {settings.offload!r}"
            )
        rewriter = _rewriter_endpoint(opts)
        refuse_unknown("diffusers", opts)
        root = check_model_dir(path, "diffusers", ("model_index.json",))
        require_extra("diffusers", "diffusers")
        from diffusers import DiffusionPipeline

        device = resolve_device(settings.device)
        with warnings.catch_warnings():
            # Newer diffusers renamed torch_dtype to dtype; the old name works in every version we support.
            warnings.simplefilter("ignore", FutureWarning)
            pipe = DiffusionPipeline.from_pretrained(
                root, torch_dtype=resolve_dtype(settings.dtype, device, "diffusers"), local_files_only=True
            )
        pipe = _place(pipe, device, settings.offload)
        pipe.set_progress_bar_config(disable=True)
        return cls(pipe, root, settings, device, rewriter)

    def describe(self) -> dict[str, Any]:
        """Identity, settings and (in think mode) the rewriter's endpoint, without its key."""
        import diffusers

        options = {k: v for k, v in asdict(self.settings).items() if k != "device" and v is not None}
        if self.rewriter is not None:
            options.update(rewriter_base_url=self.rewriter.base_url, rewriter_model=self.rewriter.model)
        return {
            "kind": "diffusers",
            "spec": f"diffusers:{self.path}",
            "name": self.name,
            "path": str(self.path),
            "pipeline_class": type(self.pipe).__name__,
            "options": options,
            "decoupled_think": self.rewriter is not None,
            "rewriter": self.rewriter.public() if self.rewriter is not None else None,
            "templates_version": TEMPLATES_VERSION,
            "diffusers_version": diffusers.__version__,
        }

    def understand(self, questions: Sequence[str]) -> list[Understanding]:
        """A diffusion pipeline cannot answer questions."""
        raise CapabilityError(f"model {self.name!r} cannot answer text questions (understanding probes)")

    def generate(self, items: Sequence[Item], mode: Mode, seeds: Sequence[int]) -> list[Generation]:
        """Draw one image per (item, seed), in order; think mode asks the rewriter first."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if len(items) != len(seeds):
            raise ValueError(f"{len(items)} items but {len(seeds)} seeds")
        if mode == "think" and self.rewriter is None:
            raise CapabilityError(
                f"model {self.name!r} has no think mode: set --model-option rewriter_model=... (and "
                "rewriter_base_url) or UNISANDBOX_REWRITER_MODEL to rewrite prompts with a language model"
            )
        n = len(items)
        prompts = [it.prompt for it in items]
        texts = [""] * n
        rewrites: list[Rewrite | None] = [None] * n
        failed: dict[int, str] = {}
        if mode == "think":
            assert self.rewriter is not None
            replies = chat_many(
                self.rewriter,
                [think_prompt(p) for p in prompts],
                list(seeds),
                temperature=self.settings.rewriter_temperature,
                max_tokens=self.settings.rewriter_max_tokens,
            )
            for i, reply in enumerate(replies):
                if isinstance(reply, BaseException):
                    failed[i] = f"rewriter failed: {describe_error(reply)}"
                else:
                    rewrite = parse_rewrite(reply, fallback=prompts[i])
                    texts[i], rewrites[i] = reply, rewrite
                    prompts[i] = rewrite.prompt
        todo = [i for i in range(n) if i not in failed]
        images: dict[int, Any] = {}
        for idx in chunks(len(todo), self.settings.batch_size):
            batch = [todo[j] for j in idx]
            drawn = self._draw([prompts[i] for i in batch], [seeds[i] for i in batch])
            images.update(zip(batch, drawn, strict=True))
        out = []
        for i in range(n):
            extra: dict[str, Any] = {"templates_version": TEMPLATES_VERSION}
            rw = rewrites[i]
            if mode == "think":
                extra["decoupled_think"] = True
                if rw is not None:
                    extra["rewrite_parsed"] = rw.parsed
            rewritten = rw.prompt if rw is not None else None
            out.append(
                Generation(
                    image=images.get(i),
                    text=texts[i],
                    rewritten_prompt=rewritten,
                    error=failed.get(i),
                    extra=extra,
                )
            )
        return out

    def _draw(self, prompts: Sequence[str], seeds: Sequence[int]) -> list:
        import torch

        s = self.settings
        kwargs: dict[str, Any] = {"prompt": list(prompts), "output_type": "pil"}
        for key, value in (
            ("num_inference_steps", s.steps),
            ("guidance_scale", s.guidance),
            ("height", s.height),
            ("width", s.width),
        ):
            if value is not None:
                kwargs[key] = value
        if s.negative_prompt is not None:
            kwargs["negative_prompt"] = [s.negative_prompt] * len(prompts)
        # CPU generators: the same noise on any device and for any batch composition.
        kwargs["generator"] = [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]
        with torch.inference_mode():
            result = self.pipe(**kwargs)
        return [img.convert("RGB") for img in result.images]


def _place(pipe: Any, device: str, offload: str) -> Any:
    """Move the pipeline to `device`, or install diffusers' CPU offload hooks that move it there piecewise."""
    if offload == "none":
        return pipe.to(device)
    require_extra("accelerate", "diffusers")
    # `device` carries the GPU index (cuda:LOCAL_RANK under torchrun); diffusers reads it from there.
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.enable_sequential_cpu_offload(device=device)
    return pipe


def _rewriter_endpoint(opts: dict[str, Any]) -> Endpoint | None:
    base_url = opt_str(opts, "rewriter_base_url", None) or env_first(
        "UNISANDBOX_REWRITER_BASE_URL", "OPENAI_BASE_URL"
    )
    model = opt_str(opts, "rewriter_model", None) or env_first("UNISANDBOX_REWRITER_MODEL", "OPENAI_MODEL")
    concurrency = opt_int(opts, "rewriter_concurrency", 4)
    timeout = opt_float(opts, "rewriter_timeout", 300.0)
    retries = opt_int(opts, "rewriter_max_retries", 3, minimum=0)
    if model is None:
        return None
    return Endpoint(
        base_url=base_url,
        model=model,
        key_env=REWRITER_KEY_ENV,
        timeout=timeout,
        max_retries=retries,
        concurrency=concurrency,
    )
