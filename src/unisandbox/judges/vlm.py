"""The VLM judge: blind captions from any OpenAI-compatible chat endpoint that accepts images.

Each image goes out as a base64 PNG data URL with our own versioned prompt (`judges/prompts/*.txt`,
hashed with sha256). The reply must be one caption in the grammar of `judges.match`; a malformed or
empty reply is retried like a failed call. Calls go through `unisandbox.endpoint` (the client the
model adapters use too): they run concurrently (default 16 in flight), with a timeout and retries with
exponential backoff and jitter that honour `Retry-After` on 429. After the last retry a caption carries
`error` (the verdict becomes `error`, never `wrong`).

A circuit breaker stops a judge whose endpoint has gone away: after `max_consecutive_failures` (20)
failed attempts in a row, spanning at least `breaker_seconds` (10 s) without a success, every caption
call raises JudgeUnavailable (the run stops with exit 3; nothing is recorded for the images in flight,
so a rerun resumes there). `check()` makes one cheap request before a run, so that an endpoint that is
not there or refuses the key is reported before the first image is generated.

Captions are cached in an append-only JSONL keyed by (image sha256, judge configuration hash), so
judging the same image again with the same configuration costs no call. Only successful captions are
cached: a rerun makes exactly the calls that are still missing. The API key lives only in memory: it is
in no record, no cache line, no `describe()` and no error message.

Configuration comes from arguments or the environment: UNISANDBOX_JUDGE_BASE_URL, UNISANDBOX_JUDGE_MODEL,
UNISANDBOX_JUDGE_API_KEY (falling back to OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_API_KEY), and
UNISANDBOX_JUDGE_CACHE for the cache directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from unisandbox.endpoint import (
    DEFAULT_BASE_URL,
    Client,
    Failure,
    RequestFailed,
    Retry,
    chat_once,
    chat_request,
    connect,
    env_first,
    map_ordered,
    run_sync,
)
from unisandbox.judges.base import Caption, Verdict
from unisandbox.judges.match import is_valid_caption
from unisandbox.runs.io import JsonlAppender, parse_jsonl
from unisandbox.world import vocab

REPLY_FORMAT = 1
"""Version of the reply parser (`parse_reply`); part of the cache key."""
DEFAULT_PROMPT = "caption_v1"
CACHE_FILE = "vlm_captions.jsonl"


class JudgeConfigError(ValueError):
    """A VLM judge that cannot work as configured (no model, bad option, endpoint not answering)."""

    exit_code = 2


class JudgeUnavailable(RuntimeError):
    """The endpoint failed too many calls in a row: stop the run (exit 3) and resume later."""

    exit_code = 3
    stops_run = True


# --- prompts ----------------------------------------------------------------------------------------


def _fields() -> dict[str, str]:
    return {
        "objects": ", ".join(n.singular for n in vocab.OBJECTS),
        "fruits": ", ".join(n.singular for n in vocab.FRUITS),
        "flowers": ", ".join(n.singular for n in vocab.FLOWERS),
        "skins": ", ".join(vocab.SKIN_TONES),
        "hairs": ", ".join(vocab.HAIR_COLOURS),
        "ages": ", ".join(vocab.AGE_GROUPS),
        "genders": ", ".join(vocab.GENDERS),
    }


def load_prompt(name_or_path: str = DEFAULT_PROMPT) -> tuple[str, str]:
    """(name, template text) of a shipped prompt ("caption_v1") or of a user's prompt file."""
    p = Path(name_or_path)
    if p.suffix == ".txt" or p.exists():
        try:
            return p.stem, p.read_text(encoding="utf-8")
        except OSError as e:
            raise JudgeConfigError(f"cannot read prompt file: {e.strerror or e} ({p})") from e
    try:
        text = (
            resources.files("unisandbox.judges").joinpath("prompts", f"{name_or_path}.txt").read_text("utf-8")
        )
    except FileNotFoundError as e:
        raise JudgeConfigError(
            f"no shipped prompt {name_or_path!r} (see src/unisandbox/judges/prompts/)"
        ) from e
    return name_or_path, text


def render_caption_prompt(template: str) -> str:
    """The caption prompt with the vocabulary filled in (what is sent, and what is hashed)."""
    try:
        return template.format(**_fields())
    except (KeyError, IndexError) as e:
        raise JudgeConfigError(
            f"caption prompt has an unknown placeholder {e}; known: {sorted(_fields())}"
        ) from e


def prompt_hash(text: str) -> str:
    """sha256 hex digest of a rendered prompt."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _mime(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def build_messages(prompt: str, png: bytes) -> list[dict[str, Any]]:
    """The chat messages for one image: our prompt and the image as a base64 data URL (PNG, or the
    JPEG/WebP type its bytes show)."""
    url = f"data:{_mime(png)};base64," + base64.b64encode(png).decode("ascii")
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


_PREFIX = re.compile(r"^(caption|answer|output|final answer)\s*:\s*", re.IGNORECASE)


def parse_reply(content: str | None) -> str | None:
    """The caption in a model's reply, or None if the reply holds no valid caption.

    Tolerates code fences, quotes, a "Caption:" prefix and reasoning before a final line.

    >>> parse_reply("```\\n3 apples\\n```"), parse_reply("Caption: Error"), parse_reply("I think apples")
    ('3 apples', 'Error', None)
    """
    if not content or not content.strip():
        return None
    lines = [
        ln.strip().strip("`").strip().strip('"').strip("*").strip() for ln in content.strip().splitlines()
    ]
    lines = [_PREFIX.sub("", ln).strip() for ln in lines if ln and not ln.startswith("```")]
    for ln in reversed(lines):
        if ln and is_valid_caption(ln):
            return ln.rstrip(".")
    return None


# --- configuration ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VLMConfig:
    """Everything that decides a VLM caption (hashed into the cache key), plus how calls are made."""

    model: str
    """Model id sent to the endpoint."""
    base_url: str
    """OpenAI-compatible base URL, e.g. http://localhost:8000/v1."""
    prompt_name: str
    """Name of the caption prompt (file stem), e.g. caption_v1."""
    prompt_sha256: str
    """sha256 of the rendered caption prompt."""
    temperature: float = 0.0
    """Sampling temperature (0: the most repeatable captions)."""
    max_tokens: int = 64
    """Reply length limit."""
    concurrency: int = 16
    """Requests in flight at once."""
    timeout: float = 30.0
    """Seconds per request (connect, read and write)."""
    retries: int = 5
    """Retries after the first attempt."""
    backoff: float = 0.5
    """First backoff in seconds; doubles each retry, with jitter x[0.5, 1.5)."""
    backoff_max: float = 30.0
    """Longest wait between attempts (Retry-After above it is honoured up to this)."""
    max_consecutive_failures: int = 20
    """Failed attempts in a row that stop the judge (0: never stop)."""
    breaker_seconds: float = 10.0
    """...and the least time those failures must span without a success (a short outage is ridden out)."""

    def cache_hash(self) -> str:
        """Hash of the settings that decide the caption (not the URL, concurrency, timeout or retries)."""
        ident = {
            "model": self.model,
            "prompt_sha256": self.prompt_sha256,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "reply_format": REPLY_FORMAT,
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


class _Cache:
    """Append-only JSONL of successful captions keyed by image sha256 + configuration hash."""

    def __init__(self, directory: Path | None):
        self.path = None if directory is None else Path(directory) / CACHE_FILE
        self.entries: dict[str, str] = {}
        if self.path is not None and self.path.exists():
            # A damaged line costs one call again, never the run: the cache is only a shortcut.
            text = self.path.read_bytes().decode("utf-8", errors="replace")
            for _, rec, _ in parse_jsonl(text):
                if (
                    rec is not None
                    and isinstance(rec.get("key"), str)
                    and isinstance(rec.get("caption"), str)
                ):
                    self.entries[rec["key"]] = rec["caption"]
        self._out: JsonlAppender | None = None
        self._lock = threading.Lock()

    def put(self, key: str, image_sha: str, config_hash: str, caption: str) -> None:
        self.entries[key] = caption
        if self.path is None:
            return
        with self._lock:
            if self._out is None:
                self._out = JsonlAppender(self.path)
            self._out.append(
                {
                    "key": key,
                    "image_sha256": image_sha,
                    "config": config_hash,
                    "caption": caption,
                    "time": round(time.time(), 3),
                }
            )

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


class _Stopped(Exception):
    """The circuit breaker tripped before this attempt was sent."""


@dataclass
class CallStats:
    """What one `caption` call cost."""

    requests: int = 0
    """HTTP requests sent (attempts, including retries)."""
    cached: int = 0
    """Images answered from the cache."""
    failed: int = 0
    """Images left with an error after all retries."""


class VLMJudge:
    """Captions images with a vision-language model over an OpenAI-compatible chat endpoint.

    >>> import numpy as np
    >>> from unisandbox.judges.fake_server import FakeVLM
    >>> from unisandbox.world.render import encode_png, render_scene
    >>> server = FakeVLM().start()  # a local stand-in for e.g. vLLM serving Qwen2.5-VL
    >>> judge = VLMJudge(model="Qwen2.5-VL-7B-Instruct", base_url=server.base_url, use_cache=False)
    >>> judge.caption([encode_png(render_scene("apple", 3, np.random.default_rng(0)))])[0].text
    '3 apples'
    >>> server.kill()
    """

    name = "vlm"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        prompt: str = DEFAULT_PROMPT,
        cache_dir: str | Path | None = None,
        concurrency: int = 16,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        temperature: float = 0.0,
        max_tokens: int = 64,
        jitter_seed: int = 0,
        use_cache: bool = True,
        max_consecutive_failures: int = 20,
        breaker_seconds: float = 10.0,
    ):
        model = model or env_first("UNISANDBOX_JUDGE_MODEL", "OPENAI_MODEL")
        if not model:
            raise JudgeConfigError(
                "no judge model configured: set UNISANDBOX_JUDGE_MODEL (or OPENAI_MODEL), or "
                "pass --judge-option model=ID (judge-caption: --model ID)"
            )
        base_url = base_url or env_first("UNISANDBOX_JUDGE_BASE_URL", "OPENAI_BASE_URL") or DEFAULT_BASE_URL
        _check_options(
            concurrency=concurrency,
            retries=retries,
            timeout=timeout,
            backoff=backoff,
            backoff_max=backoff_max,
            max_tokens=max_tokens,
            temperature=temperature,
            max_consecutive_failures=max_consecutive_failures,
            breaker_seconds=breaker_seconds,
        )
        self._api_key = (
            api_key if api_key is not None else env_first("UNISANDBOX_JUDGE_API_KEY", "OPENAI_API_KEY")
        )
        self.prompt_name, template = load_prompt(prompt)
        self.prompt = render_caption_prompt(template)
        self.config = VLMConfig(
            model=model,
            base_url=base_url.rstrip("/"),
            prompt_name=self.prompt_name,
            prompt_sha256=prompt_hash(self.prompt),
            temperature=temperature,
            max_tokens=max_tokens,
            concurrency=concurrency,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            backoff_max=backoff_max,
            max_consecutive_failures=int(max_consecutive_failures),
            breaker_seconds=float(breaker_seconds),
        )
        if cache_dir is None and use_cache:
            cache_dir = (
                env_first("UNISANDBOX_JUDGE_CACHE") or Path.home() / ".cache" / "unisandbox" / "vlm-judge"
            )
        self._cache = _Cache(Path(cache_dir) if use_cache and cache_dir is not None else None)
        self._jitter = random.Random(jitter_seed)
        self.last_stats = CallStats()
        self._failures_in_a_row = 0
        self._failing_since: float | None = None
        self._stopped: str | None = None

    def __repr__(self) -> str:
        return f"VLMJudge(model={self.config.model!r}, base_url={self.config.base_url!r})"

    @classmethod
    def from_spec(cls, path: str | None, **options: Any) -> VLMJudge:
        """`vlm` (shipped prompt) or `vlm:PROMPT_FILE`; options as in the constructor (None = default)."""
        opts = {k: v for k, v in options.items() if v is not None}
        if path:
            opts["prompt"] = path
        return cls(**opts)

    def describe(self) -> dict[str, Any]:
        """Model id, base URL, prompt name and hash, sampling settings (never the key)."""
        c = self.config
        return {
            "name": self.name,
            "model": c.model,
            "base_url": c.base_url,
            "prompt": c.prompt_name,
            "prompt_sha256": c.prompt_sha256,
            "reply_format": REPLY_FORMAT,
            "sampling": {"temperature": c.temperature, "max_tokens": c.max_tokens},
            "concurrency": c.concurrency,
        }

    # --- captioning --------------------------------------------------------------------------------

    def check(self) -> None:
        """One cheap request (GET /models) before a run: JudgeConfigError if the endpoint does not
        answer at all or refuses the key. Any other reply (even 404) shows a server is there."""
        try:
            status = run_sync(self._status("/models"))
        except Failure as f:
            raise JudgeConfigError(
                f"the judge endpoint does not answer ({f.cause}); start it or set "
                f"UNISANDBOX_JUDGE_BASE_URL ({self.config.base_url})"
            ) from None
        if status in (401, 403):
            raise JudgeConfigError(
                f"the judge endpoint refused the API key (HTTP {status}); set "
                f"UNISANDBOX_JUDGE_API_KEY ({self.config.base_url})"
            )

    async def _status(self, path: str) -> int:
        async with self._connect(concurrency=1, timeout=min(10.0, self.config.timeout)) as client:
            return await client.status(path)

    def _connect(
        self, concurrency: int | None = None, timeout: float | None = None
    ) -> AbstractAsyncContextManager[Client]:
        c = self.config
        return connect(
            c.base_url,
            self._api_key,
            timeout=c.timeout if timeout is None else timeout,
            concurrency=concurrency or c.concurrency,
            retry=Retry(c.retries, c.backoff, c.backoff_max),
            jitter=self._jitter,
        )

    def _note(self, ok: bool, failure: str = "") -> None:
        # Called from the event loop only (one thread), so no lock.
        c = self.config
        if ok:
            self._failures_in_a_row, self._failing_since = 0, None
            return
        self._failures_in_a_row += 1
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if (
            c.max_consecutive_failures
            and self._failures_in_a_row >= c.max_consecutive_failures
            and now - self._failing_since >= c.breaker_seconds
            and self._stopped is None
        ):
            self._stopped = (
                f"the judge endpoint failed {self._failures_in_a_row} calls in a row over "
                f"{now - self._failing_since:.0f} s (last: {failure}) ({c.base_url}). Verdicts "
                "made so far are saved; rerun the same command once the endpoint answers: it "
                "resumes where it stopped"
            )

    def _observe(self, failure: Failure | None) -> None:
        # Only a server that fails to answer counts toward the breaker; a reply outside the caption
        # grammar is about one image, and the endpoint is alive.
        if failure is None:
            self._note(True)
        else:
            self._note(not failure.endpoint_down, str(failure))

    def caption(self, images: Sequence[bytes]) -> list[Caption]:
        """Caption PNG-encoded images, in order; identical images cost one call; cached ones none.

        Raises JudgeUnavailable once the circuit breaker has tripped (see the module docstring).
        """
        if self._stopped is not None:
            raise JudgeUnavailable(self._stopped)
        stats = CallStats()
        chash = self.config.cache_hash()
        shas = [hashlib.sha256(b).hexdigest() for b in images]
        out: list[Caption | None] = [None] * len(images)
        todo: dict[str, bytes] = {}
        for i, (sha, data) in enumerate(zip(shas, images, strict=True)):
            hit = self._cache.entries.get(f"{sha}:{chash}")
            if hit is not None:
                out[i] = Caption(hit, cached=True)
                stats.cached += 1
            else:
                todo.setdefault(sha, data)
        if todo:
            results = self._caption_all(todo, chash, stats)
            for i, sha in enumerate(shas):
                if out[i] is None:
                    out[i] = results[sha]
        stats.failed = sum(1 for c in out if c is not None and c.error is not None)
        self.last_stats = stats
        if self._stopped is not None:
            raise JudgeUnavailable(self._stopped)
        return [c for c in out if c is not None]

    def _caption_all(self, todo: dict[str, bytes], chash: str, stats: CallStats) -> dict[str, Caption]:
        pending = list(todo.items())

        async def one(client: Client, i: int) -> Caption:
            sha, png = pending[i]
            return await self._caption_one(client, sha, png, chash, stats)

        results = map_ordered(self._connect(), one, len(pending))
        # An unexpected failure is one image's error, never a lost batch.
        return {
            sha: r if isinstance(r, Caption) else Caption(None, error=f"judge failure: {type(r).__name__}")
            for (sha, _), r in zip(pending, results, strict=True)
        }

    async def _caption_one(
        self, client: Client, sha: str, png: bytes, chash: str, stats: CallStats
    ) -> Caption:
        cap = await self._attempts(client, png, stats)
        if cap.error is None and cap.text is not None:
            # Cached the moment it arrives, so a crash later in the batch keeps this caption.
            self._cache.put(f"{sha}:{chash}", sha, chash, cap.text)
        return cap

    async def _attempts(self, client: Client, png: bytes, stats: CallStats) -> Caption:
        c = self.config
        body = chat_request(
            c.model, build_messages(self.prompt, png), temperature=c.temperature, max_tokens=c.max_tokens
        )

        async def attempt() -> str:
            if self._stopped is not None:
                raise _Stopped
            stats.requests += 1
            return await self._ask(client, body)

        try:
            return Caption(await client.retrying(attempt, observe=self._observe))
        except _Stopped:
            return Caption(None, error="judge stopped (circuit breaker)")
        except RequestFailed as e:
            return Caption(None, error=str(e))

    async def _ask(self, client: Client, body: dict[str, Any]) -> str:
        content = await chat_once(client, body)
        caption = parse_reply(content)
        if caption is None:
            raise Failure(
                f"reply holds no caption in the grammar: {str(content)[:80]!r}", endpoint_down=False
            )
        return caption

    # --- optional LLM-based match ------------------------------------------------------------------

    def llm_match(self, caption: str, expected_text: str) -> Verdict:
        """Ask the same endpoint whether a free-form caption shows `expected_text` ("3 apples").

        For captions outside the grammar; the grammar-based `judges.match.match` stays the default.
        Returns "error" when no yes/no answer comes back after the retries.
        """
        _, template = load_prompt("match_v1")
        prompt = template.format(caption=caption, expected=expected_text)
        return run_sync(self._match_one(prompt))

    async def _match_one(self, prompt: str) -> Verdict:
        body = chat_request(
            self.config.model, [{"role": "user", "content": prompt}], temperature=0.0, max_tokens=4
        )
        async with self._connect(concurrency=1) as client:

            async def attempt() -> Verdict:
                word = (await chat_once(client, body) or "").strip().lower()
                if word.startswith("yes"):
                    return "correct"
                if word.startswith("no"):
                    return "wrong"
                raise Failure(f"no yes/no answer: {word[:20]!r}", endpoint_down=False)

            try:
                return await client.retrying(attempt)
            except RequestFailed:
                return "error"

    def close(self) -> None:
        """Close the cache file."""
        self._cache.close()

    def settings(self) -> dict[str, Any]:
        """All settings (for logs; the key is not among them)."""
        return asdict(self.config)


def _check_options(**values: float) -> None:
    """JudgeConfigError naming the first option out of range (`--judge-option NAME=VALUE`)."""
    least = {
        "concurrency": 1,
        "retries": 0,
        "timeout": 0,
        "backoff": 0,
        "backoff_max": 0,
        "max_tokens": 1,
        "temperature": 0,
        "max_consecutive_failures": 0,
        "breaker_seconds": 0,
    }
    strict = {"timeout"}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise JudgeConfigError(
                f"judge option {name}={value!r}: expected a number (--judge-option {name}=N)"
            )
        low = least[name]
        if value < low or (name in strict and value <= low):
            rule = f"> {low}" if name in strict else f">= {low}"
            raise JudgeConfigError(f"judge option {name}={value!r}: must be {rule} (--judge-option {name}=N)")
