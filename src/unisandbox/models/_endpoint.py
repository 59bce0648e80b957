"""A small client for OpenAI-compatible endpoints (chat and image generation), shared by adapters.

The API key comes from the environment only and lives in the client object: it is never returned by
`describe()`, never written to disk and never put into an error message.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from openai import OpenAI
    from PIL.Image import Image

T = TypeVar("T")


def env_first(*names: str) -> str | None:
    """The value of the first environment variable among `names` that is set and non-empty."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call an OpenAI-compatible server (no secret in here)."""

    base_url: str | None
    """Server URL including the `/v1` prefix, e.g. http://localhost:8000/v1; None means api.openai.com."""
    model: str
    """Model name the server expects."""
    key_env: tuple[str, ...]
    """Environment variables read, in order, for the API key."""
    timeout: float = 300.0
    """Seconds per request."""
    max_retries: int = 3
    """Retries with exponential backoff (done by the openai client) on connection errors, 429 and 5xx."""
    concurrency: int = 4
    """Requests in flight at once."""

    def public(self) -> dict[str, Any]:
        """JSON-safe identity for manifests: names the key's variables, never the key.

        Timeout, retries and concurrency are left out: they change no output, so a resumed run may
        use other values.
        """
        return {"base_url": self.base_url, "model": self.model, "key_env": list(self.key_env)}


def make_client(endpoint: Endpoint) -> OpenAI:
    """An `openai.OpenAI` client for `endpoint`; a local server without auth gets a dummy key."""
    from openai import OpenAI

    key = env_first(*endpoint.key_env) or "EMPTY"
    return OpenAI(
        base_url=endpoint.base_url, api_key=key, timeout=endpoint.timeout, max_retries=endpoint.max_retries
    )


def map_ordered(fn: Callable[[int], T], n: int, concurrency: int) -> list[T | BaseException]:
    """Run `fn(0..n-1)` with up to `concurrency` threads; results (or the exception raised) in order."""

    def safe(i: int) -> T | BaseException:
        try:
            return fn(i)
        except Exception as e:  # noqa: BLE001 - each failure is reported in its own slot
            return e

    if n == 0:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, n))) as pool:
        return list(pool.map(safe, range(n)))


def describe_error(e: BaseException) -> str:
    """A one-line error description without secrets (openai errors never include the key)."""
    return f"{type(e).__name__}: {str(e)[:500]}"


def chat_once(
    client: Any, model: str, prompt: str, *, seed: int | None, temperature: float, max_tokens: int
) -> str:
    """One user turn; returns the assistant's text ('' when the server sent none)."""
    kwargs: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
    if seed is not None:
        kwargs["seed"] = seed
    resp = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], **kwargs
    )
    if not resp.choices:
        raise RuntimeError("the chat endpoint returned no choices")
    return resp.choices[0].message.content or ""


def chat_many(
    endpoint: Endpoint,
    prompts: Sequence[str],
    seeds: Sequence[int | None],
    *,
    temperature: float,
    max_tokens: int,
    client: Any = None,
) -> list[str | BaseException]:
    """Send each prompt as its own chat, concurrently; replies (or exceptions) in order."""
    client = client or make_client(endpoint)
    return map_ordered(
        lambda i: chat_once(
            client, endpoint.model, prompts[i], seed=seeds[i], temperature=temperature, max_tokens=max_tokens
        ),
        len(prompts),
        endpoint.concurrency,
    )


def decode_png(b64: str) -> Image:
    """A PIL image (RGB) from base64 image bytes; raises ValueError if they are not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        raw = base64.b64decode(b64, validate=False)
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (ValueError, UnidentifiedImageError, OSError) as e:
        raise ValueError(f"the endpoint returned bytes that are not an image ({e})") from e
    return img.convert("RGB")
