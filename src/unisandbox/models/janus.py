"""Janus / Janus-Pro through transformers' `JanusForConditionalGeneration`, loaded from a local directory.

    unisandbox run --model janus:/models/Janus-Pro-7B --judge vlm ...

The directory must hold a checkpoint in the transformers format (e.g. a download of
`deepseek-community/Janus-Pro-7B`; DeepSeek's original `deepseek-ai/Janus-Pro-7B` layout needs
transformers' conversion script first). Nothing is downloaded: loading uses `from_pretrained(path,
local_files_only=True)`. transformers 4.52.1 (the first release with Janus) through 5.x are supported;
the two differences between them are handled in `dtype_kwarg` and `_image_config`
(`bench/bench_version_matrix.py` runs the adapter tests at both ends).

- understanding: text generation (greedy) from our versioned template, answer parsed from `Answer:`.
- normal mode: the item's prompt, then 576 image tokens (for Janus-Pro) with classifier-free guidance.
- think mode: the model first writes its reasoning and a rewritten prompt (our template), then draws
  from the rewritten prompt; both texts are recorded.

Sampling of image tokens uses one `torch.Generator` per sample seeded with that sample's seed, inside a
logits processor, so a sample's tokens never depend on the other prompts in its batch (see
`_SeededCFGSampler`). With the default `batch_size=1` every sample also runs alone, which keeps
results bit-identical even where a GPU kernel would change with the batch shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisandbox.models._local import check_model_dir, chunks, resolve_device, resolve_dtype
from unisandbox.models._text import (
    TEMPLATES_VERSION,
    opt_float,
    opt_int,
    opt_str,
    parse_answer,
    parse_rewrite,
    refuse_unknown,
    require_extra,
    think_prompt,
    understand_prompt,
)
from unisandbox.models.base import MODES, Capabilities, Generation, Mode, Understanding
from unisandbox.tasks.base import InputError

if TYPE_CHECKING:
    from unisandbox.tasks.base import Item


@dataclass(frozen=True)
class JanusSettings:
    """Generation settings of the Janus adapter (all recorded in the run manifest)."""

    guidance: float = 5.0
    """Classifier-free guidance weight w in `uncond + w * (cond - uncond)`, as in DeepSeek's released
    Janus code and in transformers' `ClassifierFreeGuidanceLogitsProcessor` (same formula). The adapter
    applies it itself so that each sample draws from its own seeded generator (`_SeededCFGSampler`)."""
    temperature: float = 1.0
    """Sampling temperature for image tokens; 0 means greedy (then seeds do not matter)."""
    max_new_tokens: int = 256
    """Token budget of an understanding answer."""
    think_max_new_tokens: int = 512
    """Token budget of the think-mode reasoning and rewritten prompt."""
    batch_size: int = 1
    """Prompts per forward pass. 1 is bit-reproducible everywhere; larger is faster on a GPU."""
    device: str = "auto"
    """"auto" (cuda:LOCAL_RANK when a GPU exists, else cpu), or any torch device string."""
    dtype: str = "auto"
    """"auto" (bfloat16 on GPU, float32 on CPU), "float32", "bfloat16" or "float16"."""


def dtype_kwarg(dtype: Any, transformers_version: str) -> dict[str, Any]:
    """The `from_pretrained` keyword that sets the weights' dtype in this transformers version.

    transformers reads `dtype` from 4.56 on; 4.52-4.55 know only `torch_dtype` (there `dtype=` reaches
    the model's constructor and raises TypeError). `dtype_kwarg("x", "4.55.4") == {"torch_dtype": "x"}`.
    """
    from packaging.version import Version

    key = "dtype" if Version(transformers_version).release[:2] >= (4, 56) else "torch_dtype"
    return {key: dtype}


def _check_janus_format(root: Path) -> None:
    import json

    try:
        model_type = json.loads((root / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as e:
        raise InputError(f"janus model: {root / 'config.json'}: cannot read: {e}") from e
    if model_type != "janus":
        raise InputError(
            f"janus model: {root / 'config.json'}: model_type is {model_type!r}, not 'janus'. This adapter "
            "loads the transformers format (e.g. deepseek-community/Janus-Pro-7B); DeepSeek's original "
            "layout (model_type 'multi_modality') must be converted with transformers' "
            "convert_janus_weights_to_hf.py first"
        )


class _SeededCFGSampler:
    """Logits processor that applies classifier-free guidance and samples each row with its own generator.

    Janus' image loop doubles the batch (conditional rows first, unconditional second) and then picks
    `argmax` of what the processors return (we run it with do_sample=False). This processor returns,
    per conditional row, a score vector that is -inf everywhere except at the token it sampled from its
    own `torch.Generator`, so the argmax is that token and no global RNG is touched.
    """

    def __init__(self, generators: list, guidance: float, temperature: float):
        self.generators = generators
        self.guidance = guidance
        self.temperature = temperature

    def __call__(self, input_ids, scores):
        import torch

        b = len(self.generators)
        if scores.shape[0] != 2 * b:
            raise RuntimeError(
                f"expected {2 * b} rows of image-token scores (cond + uncond), got {scores.shape[0]}"
            )
        cond, uncond = scores[:b].float(), scores[b:].float()
        guided = uncond + self.guidance * (cond - uncond)  # [b, codebook]
        if self.temperature <= 0:
            tokens = guided.argmax(dim=-1)
        else:
            probs = torch.softmax(guided / self.temperature, dim=-1)
            tokens = torch.stack(
                [
                    torch.multinomial(probs[i], 1, generator=g).squeeze(0)
                    for i, g in enumerate(self.generators)
                ]
            )
        out = torch.full_like(guided, float("-inf"))
        out[torch.arange(b, device=out.device), tokens] = 0.0
        return out


class JanusModel:
    """Janus / Janus-Pro behind the UnifiedModel protocol (understanding, normal and think mode)."""

    capabilities = Capabilities(understands=True, thinks=True, trainable=False)

    def __init__(self, model: Any, processor: Any, path: Path, settings: JanusSettings, device: str):
        self.model = model
        self.processor = processor
        self.path = path
        self.settings = settings
        self.device = device
        self.name = f"janus:{path.name}"
        self._prepare_generation_config()

    @classmethod
    def from_spec(cls, path: str | None, **options: Any) -> JanusModel:
        """Load from a local transformers-format directory: `JanusModel.from_spec("/models/Janus-Pro-7B")`.

        Options (strings are accepted, as from `--model-option key=value`): guidance, temperature,
        max_new_tokens, think_max_new_tokens, batch_size, device, dtype (see `JanusSettings`).
        """
        opts = dict(options)
        d = JanusSettings()
        settings = JanusSettings(
            guidance=opt_float(opts, "guidance", d.guidance),
            temperature=opt_float(opts, "temperature", d.temperature),
            max_new_tokens=opt_int(opts, "max_new_tokens", d.max_new_tokens),
            think_max_new_tokens=opt_int(opts, "think_max_new_tokens", d.think_max_new_tokens),
            batch_size=opt_int(opts, "batch_size", d.batch_size),
            device=opt_str(opts, "device", d.device),
            dtype=opt_str(opts, "dtype", d.dtype),
        )
        refuse_unknown("janus", opts)
        root = check_model_dir(path, "janus", ("config.json",))
        _check_janus_format(root)
        require_extra("transformers", "janus")
        import transformers
        from transformers import JanusForConditionalGeneration, JanusProcessor

        device = resolve_device(settings.device)
        dtype = resolve_dtype(settings.dtype, device, "janus")
        model = JanusForConditionalGeneration.from_pretrained(
            root, local_files_only=True, **dtype_kwarg(dtype, transformers.__version__)
        )
        processor = JanusProcessor.from_pretrained(root, local_files_only=True)
        # transformers wraps PreTrainedModel.to in a decorator that mypy reads as an unbound function.
        return cls(model.to(device).eval(), processor, root, settings, device)  # type: ignore[arg-type]

    def _prepare_generation_config(self) -> None:
        gc = self.model.generation_config
        tok = self.processor.tokenizer
        kwargs = dict(getattr(gc, "generation_kwargs", None) or {})
        # Janus' image loop reads the begin-of-image id from generation_kwargs; older exports keep it
        # as a top-level attribute or only in the tokenizer.
        if "boi_token_id" not in kwargs:
            boi = getattr(gc, "boi_token_id", None)
            kwargs["boi_token_id"] = boi if boi is not None else tok.convert_tokens_to_ids(tok.boi_token)
        gc.generation_kwargs = kwargs
        if gc.pad_token_id is None:
            gc.pad_token_id = tok.pad_token_id
        if gc.bos_token_id is None:
            gc.bos_token_id = tok.bos_token_id

    # ---- protocol ----

    def describe(self) -> dict[str, Any]:
        """Identity and settings for the manifest; `from_spec(path, **options)` rebuilds this model."""
        import transformers

        options = {k: v for k, v in asdict(self.settings).items() if k not in ("device",)}
        return {
            "kind": "janus",
            "spec": f"janus:{self.path}",
            "name": self.name,
            "path": str(self.path),
            "options": options,
            "templates_version": TEMPLATES_VERSION,
            "image_tokens": int(self.model.model.vision_model.config.num_image_tokens),
            "transformers_version": transformers.__version__,
        }

    def understand(self, questions: Sequence[str]) -> list[Understanding]:
        """Answer each question by greedy text generation, in order."""
        replies = self._chat([understand_prompt(q) for q in questions], self.settings.max_new_tokens)
        return [Understanding(answer=parse_answer(r), text=r) for r in replies]

    def generate(self, items: Sequence[Item], mode: Mode, seeds: Sequence[int]) -> list[Generation]:
        """Draw one image per (item, seed), in order; think mode reasons and rewrites the prompt first."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if len(items) != len(seeds):
            raise ValueError(f"{len(items)} items but {len(seeds)} seeds")
        prompts = [it.prompt for it in items]
        texts = [""] * len(items)
        rewritten: list[str | None] = [None] * len(items)
        parsed: list[bool | None] = [None] * len(items)
        if mode == "think":
            texts = self._chat([think_prompt(p) for p in prompts], self.settings.think_max_new_tokens)
            for i, text in enumerate(texts):
                rw = parse_rewrite(text, fallback=prompts[i])
                rewritten[i], parsed[i] = rw.prompt, rw.parsed
            prompts = [rewritten[i] or prompts[i] for i in range(len(items))]
        images = self._draw(prompts, list(seeds))
        out = []
        for i, image in enumerate(images):
            extra: dict[str, Any] = {"templates_version": TEMPLATES_VERSION}
            if mode == "think":
                extra["rewrite_parsed"] = parsed[i]
            out.append(Generation(image=image, text=texts[i], rewritten_prompt=rewritten[i], extra=extra))
        return out

    # ---- internals ----

    def _template(self, text: str) -> str:
        messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def _config(self, **overrides: Any):
        import copy

        gc = copy.deepcopy(self.model.generation_config)
        # Greedy text; image tokens are sampled by _SeededCFGSampler, so the loop itself stays greedy.
        gc.do_sample, gc.temperature, gc.top_p, gc.top_k = False, None, None, None
        # Text replies are bounded by max_new_tokens alone (a model's max_length must not cut them).
        gc.max_length = None
        for key, value in overrides.items():
            setattr(gc, key, value)
        return gc

    def _image_config(self):
        # Every transformers from 4.52 to 5.x sizes the image loop's cache as
        # max(max_length, prompt length + image tokens): max_length must be a number there (None raises
        # TypeError before 5.5). The image tokens' count is the smallest value that changes nothing.
        # guidance_scale=1 keeps transformers from adding its own CFG processor: ours does it.
        n = int(self.model.model.vision_model.config.num_image_tokens)
        return self._config(guidance_scale=1, max_length=n, max_new_tokens=None)

    def _chat(self, texts: Sequence[str], max_new_tokens: int) -> list[str]:
        import torch

        replies: list[str] = []
        for idx in chunks(len(texts), self.settings.batch_size):
            prompts = [self._template(texts[i]) for i in idx]
            inputs = self.processor(text=prompts, generation_mode="text", padding=True, return_tensors="pt")
            inputs = inputs.to(self.device)
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs,
                    generation_mode="text",
                    generation_config=self._config(max_new_tokens=max_new_tokens),
                )
            new = out[:, inputs["input_ids"].shape[1] :]
            replies.extend(t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True))
        return replies

    def _draw(self, prompts: Sequence[str], seeds: Sequence[int]) -> list:
        import torch
        from transformers import LogitsProcessorList

        images: list = []
        for idx in chunks(len(prompts), self.settings.batch_size):
            texts = [self._template(prompts[i]) for i in idx]
            inputs = self.processor(text=texts, generation_mode="image", padding=True, return_tensors="pt")
            inputs = inputs.to(self.device)
            gens = [torch.Generator(device=self.device).manual_seed(int(seeds[i])) for i in idx]
            sampler = _SeededCFGSampler(gens, self.settings.guidance, self.settings.temperature)
            with torch.inference_mode():
                tokens = self.model.generate(
                    **inputs,
                    generation_mode="image",
                    generation_config=self._image_config(),
                    logits_processor=LogitsProcessorList([sampler]),
                )
                pixels = self.model.decode_image_tokens(tokens)  # [b, H, W, 3], normalised
            images.extend(self._to_pil(pixels))
        return images

    def _to_pil(self, pixels) -> list:
        import numpy as np
        from PIL import Image

        # Undo the image processor's normalisation ourselves: its `postprocess` mis-reads channels-last
        # arrays when torchvision is absent (transformers 5.x PIL backend assumes channels-first).
        ip = self.processor.image_processor
        arr = pixels.float().cpu().numpy()
        if getattr(ip, "do_normalize", True):
            mean = np.asarray(ip.image_mean, dtype=np.float32)
            std = np.asarray(ip.image_std, dtype=np.float32)
            arr = arr * std + mean
        scale = getattr(ip, "rescale_factor", 1 / 255) or 1 / 255
        arr = np.clip(arr / scale, 0, 255).round().astype(np.uint8)
        return [Image.fromarray(a) for a in arr]
