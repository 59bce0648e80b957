"""A model behind OpenAI-compatible HTTP APIs: images.generate for images, chat.completions for text.

    export UNISANDBOX_MODEL_API_KEY=...        # or OPENAI_API_KEY; never written anywhere
    unisandbox run --model openai:MODEL --model-option base_url=http://host:8000/v1 ...

The image side and the text side may live on different servers (few servers offer both: vLLM serves
chat only, diffusion servers serve images only). Each side has its own URL, model and key:

    images: image_base_url, else base_url, else UNISANDBOX_MODEL_IMAGE_BASE_URL, UNISANDBOX_MODEL_BASE_URL,
            OPENAI_BASE_URL (else api.openai.com); image_model (default MODEL);
            key UNISANDBOX_MODEL_IMAGE_API_KEY, else UNISANDBOX_MODEL_API_KEY, else OPENAI_API_KEY
    text:   chat_base_url, else base_url, else UNISANDBOX_MODEL_CHAT_BASE_URL, UNISANDBOX_MODEL_BASE_URL,
            OPENAI_BASE_URL; chat_model (default MODEL; "none" turns understanding and think mode off);
            key UNISANDBOX_MODEL_CHAT_API_KEY, else UNISANDBOX_MODEL_API_KEY, else OPENAI_API_KEY

Other options (strings accepted): size (e.g. 1024x1024), response_format ("b64_json", or "none" to omit it
for servers that refuse it), send_seed (true: pass each sample's seed as `seed`, which compatible servers
use and api.openai.com refuses), temperature (understanding, default 0), think_temperature (default 0),
max_tokens, concurrency, timeout, max_retries.

Think mode sends our versioned think template to the chat model, parses the `Prompt:` line and asks the
image model for that prompt. When the chat side is another model or another server than the image side,
`describe()` marks the pairing as `decoupled_think: true`. A failed request becomes that sample's error
(image None), never a dropped row.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from unisandbox.endpoint import (
    Client,
    Endpoint,
    chat_many,
    describe_error,
    env_first,
    map_ordered,
)
from unisandbox.models._text import (
    TEMPLATES_VERSION,
    opt_bool,
    opt_float,
    opt_int,
    opt_str,
    parse_answer,
    parse_rewrite,
    refuse_unknown,
    think_prompt,
    understand_prompt,
)
from unisandbox.models.base import MODES, Capabilities, CapabilityError, Generation, Mode, Understanding
from unisandbox.tasks.base import InputError

if TYPE_CHECKING:
    import httpx
    from PIL.Image import Image

    from unisandbox.tasks.base import Item

MODEL_KEY_ENV = ("UNISANDBOX_MODEL_API_KEY", "OPENAI_API_KEY")
IMAGE_KEY_ENV = ("UNISANDBOX_MODEL_IMAGE_API_KEY", *MODEL_KEY_ENV)
CHAT_KEY_ENV = ("UNISANDBOX_MODEL_CHAT_API_KEY", *MODEL_KEY_ENV)


@dataclass(frozen=True)
class OpenAISettings:
    """Request settings of the OpenAI-compatible adapter (recorded in the manifest)."""

    image_model: str
    """Model name for images.generate."""
    chat_model: str | None
    """Model name for chat.completions, or None when the endpoint has no text side."""
    size: str | None = None
    """Image size, e.g. "1024x1024"; None leaves the server's default."""
    response_format: str | None = "b64_json"
    """Requested image encoding; None omits the field."""
    send_seed: bool = True
    """Send each sample's seed as `seed` (images and chat)."""
    temperature: float = 0.0
    """Chat temperature for understanding probes."""
    think_temperature: float = 0.0
    """Chat temperature for think-mode reasoning."""
    max_tokens: int = 1024
    """Chat token budget."""


class OpenAIModel:
    """An OpenAI-compatible endpoint behind the UnifiedModel protocol."""

    def __init__(self, settings: OpenAISettings, endpoint: Endpoint, chat_endpoint: Endpoint | None = None):
        self.settings = settings
        self.endpoint = endpoint
        self.chat_endpoint = chat_endpoint if settings.chat_model is not None else None
        self.name = f"openai:{settings.image_model}"
        has_chat = self.chat_endpoint is not None
        self.capabilities = Capabilities(understands=has_chat, thinks=has_chat, trainable=False)

    @classmethod
    def from_spec(cls, path: str | None, **options: Any) -> OpenAIModel:
        """`OpenAIModel.from_spec("my-model", base_url="http://localhost:8000/v1")`; see the module doc."""
        opts = dict(options)
        image_model = opt_str(opts, "image_model", None) or path
        if not image_model:
            raise InputError(
                "openai model needs a model name: --model openai:MODEL (or --model-option image_model=...)"
            )
        chat_model: str | None = opt_str(opts, "chat_model", image_model)
        if chat_model is not None and chat_model.lower() == "none":
            chat_model = None
        response_format = opt_str(opts, "response_format", "b64_json")
        settings = OpenAISettings(
            image_model=image_model,
            chat_model=chat_model,
            size=opt_str(opts, "size", None),
            response_format=None if response_format.lower() == "none" else response_format,
            send_seed=opt_bool(opts, "send_seed", True),
            temperature=opt_float(opts, "temperature", 0.0),
            think_temperature=opt_float(opts, "think_temperature", 0.0),
            max_tokens=opt_int(opts, "max_tokens", 1024),
        )
        base_url = opt_str(opts, "base_url", None)
        image_url = (
            opt_str(opts, "image_base_url", None)
            or base_url
            or env_first("UNISANDBOX_MODEL_IMAGE_BASE_URL", "UNISANDBOX_MODEL_BASE_URL", "OPENAI_BASE_URL")
        )
        chat_url = (
            opt_str(opts, "chat_base_url", None)
            or base_url
            or env_first("UNISANDBOX_MODEL_CHAT_BASE_URL", "UNISANDBOX_MODEL_BASE_URL", "OPENAI_BASE_URL")
        )
        timeout = opt_float(opts, "timeout", 300.0)
        max_retries = opt_int(opts, "max_retries", 3, minimum=0)
        concurrency = opt_int(opts, "concurrency", 4)
        refuse_unknown("openai", opts)
        endpoint = Endpoint(
            base_url=image_url,
            model=image_model,
            key_env=IMAGE_KEY_ENV,
            timeout=timeout,
            max_retries=max_retries,
            concurrency=concurrency,
        )
        chat = None
        if chat_model is not None:
            chat = replace(endpoint, base_url=chat_url, model=chat_model, key_env=CHAT_KEY_ENV)
        return cls(settings, endpoint, chat)

    def describe(self) -> dict[str, Any]:
        """Identity for the manifest: both sides' URLs and models and the settings; key variable names only."""
        s = self.settings
        chat = self.chat_endpoint
        urls = {"image_base_url": self.endpoint.base_url, "chat_base_url": chat.base_url if chat else None}
        return {
            "kind": "openai",
            "spec": f"openai:{s.image_model}",
            "name": self.name,
            "options": {k: v for k, v in (asdict(s) | urls).items() if v is not None},
            "endpoint": self.endpoint.public(),
            "chat_endpoint": chat.public() if chat else None,
            "decoupled_think": chat is not None
            and (chat.model, chat.base_url) != (s.image_model, self.endpoint.base_url),
            "templates_version": TEMPLATES_VERSION,
        }

    def understand(self, questions: Sequence[str]) -> list[Understanding]:
        """Ask each question as its own chat; raises RuntimeError naming the first question that failed."""
        self._need_chat("understanding probes")
        replies = self._chat(
            [understand_prompt(q) for q in questions], [0] * len(questions), self.settings.temperature
        )
        out = []
        for i, reply in enumerate(replies):
            if isinstance(reply, BaseException):
                raise RuntimeError(f"{self.name}: question {i} failed after retries: {describe_error(reply)}")
            out.append(Understanding(answer=parse_answer(reply), text=reply))
        return out

    def generate(self, items: Sequence[Item], mode: Mode, seeds: Sequence[int]) -> list[Generation]:
        """One image per (item, seed), in order; think mode asks the chat model for a rewritten prompt first."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        if len(items) != len(seeds):
            raise ValueError(f"{len(items)} items but {len(seeds)} seeds")
        n = len(items)
        prompts = [it.prompt for it in items]
        texts: list[str] = [""] * n
        rewritten: list[str | None] = [None] * n
        parsed: list[bool | None] = [None] * n
        failed: dict[int, str] = {}
        if mode == "think":
            self._need_chat("think mode")
            replies = self._chat(
                [think_prompt(p) for p in prompts], list(seeds), self.settings.think_temperature
            )
            for i, reply in enumerate(replies):
                if isinstance(reply, BaseException):
                    failed[i] = f"think request failed: {describe_error(reply)}"
                    continue
                rw = parse_rewrite(reply, fallback=prompts[i])
                texts[i], rewritten[i], parsed[i], prompts[i] = reply, rw.prompt, rw.parsed, rw.prompt
        todo = [i for i in range(n) if i not in failed]
        results = map_ordered(
            self.endpoint.connect(),
            lambda client, j: self._image(client, prompts[todo[j]], seeds[todo[j]]),
            len(todo),
        )
        images: dict[int, Any] = {}
        for i, res in zip(todo, results, strict=True):
            if isinstance(res, BaseException):
                failed[i] = f"image request failed: {describe_error(res)}"
            else:
                images[i] = res
        out = []
        for i in range(n):
            extra: dict[str, Any] = {"templates_version": TEMPLATES_VERSION}
            if mode == "think":
                extra["rewrite_parsed"] = parsed[i]
            out.append(
                Generation(
                    image=images.get(i),
                    text=texts[i],
                    rewritten_prompt=rewritten[i],
                    error=failed.get(i),
                    extra=extra,
                )
            )
        return out

    # ---- internals ----

    def _need_chat(self, what: str) -> None:
        if self.chat_endpoint is None:
            raise CapabilityError(f"model {self.name!r} has no chat model for {what} (chat_model=none)")

    def _chat(self, prompts: list[str], seeds: list[int], temperature: float) -> list[str | BaseException]:
        assert self.chat_endpoint is not None
        send = seeds if self.settings.send_seed else [None] * len(seeds)
        return chat_many(
            self.chat_endpoint,
            prompts,
            send,
            temperature=temperature,
            max_tokens=self.settings.max_tokens,
        )

    async def _image(self, client: Client, prompt: str, seed: int) -> Image:
        s = self.settings
        body: dict[str, Any] = {"model": s.image_model, "prompt": prompt, "n": 1}
        if s.size:
            body["size"] = s.size
        if s.response_format:
            body["response_format"] = s.response_format
        if s.send_seed:
            body["seed"] = int(seed)
        datum = _first_image(await client.retrying(lambda: client.post("/images/generations", body)))
        if datum.get("b64_json"):
            return decode_image(str(datum["b64_json"]))
        url = datum.get("url")
        if url:
            return decode_image(await client.retrying(lambda: client.download(str(url))))
        raise RuntimeError("the image endpoint returned neither b64_json nor url")


def _first_image(resp: httpx.Response) -> dict[str, Any]:
    """The first entry of an images.generate reply's `data`; RuntimeError if there is none."""
    try:
        data = resp.json()["data"]
    except (ValueError, KeyError, TypeError):
        data = None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise RuntimeError("the image endpoint returned no image")
    return data[0]


def decode_image(data: str | bytes) -> Image:
    """A PIL image (RGB) from image bytes or their base64 text; raises ValueError if they are not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        raw = base64.b64decode(data, validate=False) if isinstance(data, str) else data
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (ValueError, UnidentifiedImageError, OSError) as e:
        raise ValueError(f"the endpoint returned bytes that are not an image ({e})") from e
    return img.convert("RGB")
