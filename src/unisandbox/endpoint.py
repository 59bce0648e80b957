"""The one client for OpenAI-compatible endpoints, used by the VLM judge and by the model adapters.

Everything that talks to such a server goes through here:

- where: `env_first` reads the base URL, model and key from the first environment variable set;
  `Endpoint` records an adapter's side of a server (no secret in it);
- how: `Client.post` sends one request with the key (`chat_request` / `chat_once` for a chat turn);
- when again: `Client.retrying` retries a failed attempt per `Retry` (exponential backoff with jitter,
  `Retry-After` honoured, only failures worth retrying) and raises `RequestFailed` after the last one;
- how many at once: requests run as asyncio tasks on one `httpx.AsyncClient`, and a semaphore bounds
  the requests in flight; synchronous callers hand a batch to `map_ordered`.

The API key is passed in (read from the environment by the caller) and lives only in memory: it goes
out as a header of the endpoint's own requests and is never returned, written to disk or put into an
error message.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying (and any 5xx); any other 4xx is final at once (the request is wrong)."""


def env_first(*names: str) -> str | None:
    """The value of the first environment variable among `names` that is set and non-empty."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


# --- failures and the retry policy ------------------------------------------------------------------


class Failure(Exception):
    """One failed attempt; `retry_after` is the server's requested wait, if any."""

    def __init__(
        self,
        message: str,
        retryable: bool = True,
        retry_after: float | None = None,
        endpoint_down: bool = True,
        cause: str = "",
        detail: str = "",
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.endpoint_down = endpoint_down
        """False when the server answered (a reply outside what was asked for): the endpoint is alive."""
        self.cause = cause
        """Name of the transport error when nothing answered (e.g. ConnectError), else ''."""
        self.detail = detail
        """The start of the server's error reply, on one line ('' if none)."""


class RequestFailed(RuntimeError):
    """A request whose last attempt failed (or whose failure was not worth retrying)."""

    def __init__(self, attempts: int, last: Failure):
        super().__init__(f"after {attempts} attempt(s): {last}")
        self.attempts = attempts
        self.last = last


@dataclass(frozen=True)
class Retry:
    """When to send a failed request again, and how long to wait first."""

    retries: int = 3
    """Retries after the first attempt."""
    backoff: float = 0.5
    """First wait in seconds; doubles each retry, with jitter x[0.5, 1.5)."""
    backoff_max: float = 8.0
    """Longest wait between attempts (Retry-After above it is honoured up to this)."""

    def wait(self, attempt: int, failure: Failure, jitter: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        wait = min(self.backoff_max, self.backoff * 2.0**attempt) * (0.5 + jitter.random())
        if failure.retry_after is not None:
            wait = max(wait, min(failure.retry_after, self.backoff_max))
        return wait


def retry_after(value: str | None) -> float | None:
    """Seconds asked for by a Retry-After header (a number or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def describe_error(e: BaseException) -> str:
    """One line for a record: the error and the server's own error text, never the key."""
    text = str(e)
    if isinstance(e, RequestFailed) and e.last.detail:
        text = f"{text} - {e.last.detail}"
    return f"{type(e).__name__}: {text[:500]}"


# --- the client -------------------------------------------------------------------------------------


class Client:
    """One endpoint's connection pool: at most `concurrency` requests in flight, retried per `retry`.

    Open it with `connect` (or `Endpoint.connect`) inside a running event loop.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        concurrency: int,
        retry: Retry,
        jitter: random.Random,
    ):
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._http = http
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._limit = asyncio.Semaphore(concurrency)
        self._jitter = jitter

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    async def retrying(
        self, attempt: Callable[[], Awaitable[T]], observe: Callable[[Failure | None], None] | None = None
    ) -> T:
        """`attempt()` with a request slot held, again after a `Failure` until the retries run out.

        `observe` sees every attempt's outcome (None: success). Only `Failure` is retried; any other
        exception from `attempt` passes through at once. Raises RequestFailed after the last attempt.
        """
        tried = 0
        while True:
            try:
                async with self._limit:
                    result = await attempt()
            except Failure as f:
                if observe is not None:
                    observe(f)
                tried += 1
                if not f.retryable or tried > self.retry.retries:
                    raise RequestFailed(tried, f) from None
                # The slot is free while waiting, so other requests go on.
                await asyncio.sleep(self.retry.wait(tried - 1, f, self._jitter))
            else:
                if observe is not None:
                    observe(None)
                return result

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """One POST of `body` to `base_url + path` with the key: the 200 reply, else Failure."""
        resp = await self._send("POST", f"{self.base_url}{path}", json=body, headers=self._auth)
        return _ok(resp)

    async def status(self, path: str) -> int:
        """The HTTP status of one GET of `base_url + path` with the key; Failure if nothing answers."""
        return (await self._send("GET", f"{self.base_url}{path}", headers=self._auth)).status_code

    async def download(self, url: str) -> bytes:
        """The body of a URL the endpoint handed out (an image), fetched without the key."""
        return _ok(await self._send("GET", url, follow_redirects=True)).content

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as e:
            name = type(e).__name__
            raise Failure(f"timeout ({name})", cause=name) from None
        except httpx.HTTPError as e:
            name = type(e).__name__
            raise Failure(f"connection failed ({name})", cause=name) from None


def _ok(resp: httpx.Response) -> httpx.Response:
    if resp.status_code == 200:
        return resp
    raise Failure(
        f"HTTP {resp.status_code}",
        retryable=resp.status_code in RETRY_STATUS or resp.status_code >= 500,
        retry_after=retry_after(resp.headers.get("retry-after")),
        detail=_error_text(resp),
    )


def _error_text(resp: httpx.Response) -> str:
    """The server's own error message (OpenAI's {"error": {"message": ...}}, else the body), on one line."""
    try:
        text = str(resp.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        text = resp.text
    return " ".join(text.split())[:300]


@asynccontextmanager
async def connect(
    base_url: str,
    api_key: str | None,
    *,
    timeout: float,
    concurrency: int,
    retry: Retry,
    jitter: random.Random | None = None,
) -> AsyncIterator[Client]:
    """A `Client` for one endpoint: `timeout` seconds per request, `concurrency` requests in flight."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), limits=limits) as http:
        yield Client(http, base_url, api_key, concurrency, retry, jitter or random.Random())


# --- chat -------------------------------------------------------------------------------------------


def chat_request(
    model: str,
    messages: list[dict[str, Any]],
    *,
    temperature: float,
    max_tokens: int,
    seed: int | None = None,
) -> dict[str, Any]:
    """The body of a chat completion request (`seed` only when given)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    if seed is not None:
        body["seed"] = seed
    return body


def chat_content(resp: httpx.Response) -> str | None:
    """The text of a chat completion (content parts joined); None when it has none; Failure if the
    reply is not a chat completion."""
    try:
        content = resp.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise Failure("malformed reply (not a chat completion)", endpoint_down=False) from None
    if isinstance(content, list):  # some servers return content parts
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else None


async def chat_once(client: Client, body: dict[str, Any]) -> str | None:
    """One chat attempt (no retry, no slot: call it inside `Client.retrying`)."""
    return chat_content(await client.post("/chat/completions", body))


# --- running batches from synchronous code ----------------------------------------------------------


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    value: T = result["value"]
    return value


def map_ordered(
    client: AbstractAsyncContextManager[Client], job: Callable[[Client, int], Awaitable[T]], n: int
) -> list[T | BaseException]:
    """Run `job(client, i)` for i in 0..n-1 as concurrent tasks on one client (its limit bounds the
    requests in flight); results (or the exception raised) in order."""

    async def safe(c: Client, i: int) -> T | BaseException:
        try:
            return await job(c, i)
        except Exception as e:  # noqa: BLE001 - each failure is reported in its own slot
            return e

    async def main() -> list[T | BaseException]:
        async with client as c:
            return list(await asyncio.gather(*(safe(c, i) for i in range(n))))

    return run_sync(main()) if n else []


# --- an adapter's endpoint --------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where and how an adapter calls an OpenAI-compatible server (no secret in here)."""

    base_url: str | None
    """Server URL including the `/v1` prefix, e.g. http://localhost:8000/v1; None means api.openai.com."""
    model: str
    """Model name the server expects."""
    key_env: tuple[str, ...]
    """Environment variables read, in order, for the API key."""
    timeout: float = 300.0
    """Seconds per request."""
    max_retries: int = 3
    """Retries with exponential backoff (`Retry`) on connection errors, timeouts, 429 and 5xx."""
    concurrency: int = 4
    """Requests in flight at once."""

    def public(self) -> dict[str, Any]:
        """JSON-safe identity for manifests: names the key's variables, never the key.

        Timeout, retries and concurrency are left out: they change no output, so a resumed run may
        use other values.
        """
        return {"base_url": self.base_url, "model": self.model, "key_env": list(self.key_env)}

    def connect(self) -> AbstractAsyncContextManager[Client]:
        """A client for this endpoint, with the key read from `key_env` now (no key: no header)."""
        return connect(
            self.base_url or DEFAULT_BASE_URL,
            env_first(*self.key_env),
            timeout=self.timeout,
            concurrency=self.concurrency,
            retry=Retry(self.max_retries),
        )


def chat_many(
    endpoint: Endpoint,
    prompts: Sequence[str],
    seeds: Sequence[int | None],
    *,
    temperature: float,
    max_tokens: int,
) -> list[str | BaseException]:
    """Send each prompt as its own chat, concurrently; replies ('' when empty) or exceptions, in order."""

    async def one(client: Client, i: int) -> str:
        body = chat_request(
            endpoint.model,
            [{"role": "user", "content": prompts[i]}],
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seeds[i],
        )
        return await client.retrying(lambda: chat_once(client, body)) or ""

    return map_ordered(endpoint.connect(), one, len(prompts))
