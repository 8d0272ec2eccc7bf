"""How ComfyClient's requests reach a server: aiohttp, or an httpx transport in tests.

Every job makes four calls to ComfyUI (upload, prompt, history, view). httpx's stack (httpcore,
h11, anyio) cost more CPU per call than the rest of the relay's work on the answer (issue Y),
so the client sends through aiohttp, already a dependency, with one pooled connection set
per server. Tests keep what they have always passed, an ``httpx.MockTransport``: it is wrapped
here behind the same two calls, so the client's own logic (error mapping, parsing) is the
same code under both.

Failures come out as three exceptions of this module, whatever the library: TransportTimeout,
TransportFailure (refused, reset, closed) and TransportDecode (an answer that is no HTTP);
the client maps them to its own errors (jobs.comfy.errors).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx

from . import jsontext

CHUNK = 64 * 1024


class TransportTimeout(Exception):
    """No answer in time (connect, read or write)."""


class TransportFailure(Exception):
    """The connection could not be made or broke."""


class TransportDecode(Exception):
    """The bytes that came back are no HTTP answer the client can read."""


@dataclass(frozen=True)
class Answer:
    """A whole answer: status, body and what was asked (for error messages)."""

    status: int
    body: bytes
    method: str
    url: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsontext.loads(self.body)


class Transport(Protocol):
    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> Answer: ...

    def stream(self, method: str, path: str, *, params: Mapping[str, Any]) -> Any:
        """An async context manager yielding a Streamed answer."""
        ...

    async def aclose(self) -> None: ...


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    return None if params is None else {k: str(v) for k, v in params.items()}


class AiohttpTransport:
    """One aiohttp session per client, made in the loop of its first request (a client may be
    built outside any loop) and never following redirects."""

    def __init__(self, base_url: str, timeout: float, headers: Mapping[str, str]) -> None:
        self._base_url = base_url
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_read=timeout, sock_connect=timeout
        )
        self._headers = dict(headers)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers=self._headers, auto_decompress=True, trust_env=False
            )
        return self._session

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> Answer:
        url = self._base_url + path
        try:
            async with self._http().request(
                method, url, params=_query(params), headers=dict(headers), data=body, allow_redirects=False
            ) as response:
                content = await response.read()
                return Answer(response.status, content, method, str(response.url))
        except Exception as exc:
            raise _mapped(exc) from exc

    def stream(self, method: str, path: str, *, params: Mapping[str, Any]) -> Any:
        request = self._http().request(
            method, self._base_url + path, params=_query(params), allow_redirects=False
        )

        def wrap(response: aiohttp.ClientResponse) -> Streamed:
            return Streamed(
                response.status, method, str(response.url), lambda: response.content.iter_chunked(CHUNK),
                response.read, _mapped,
            )  # fmt: skip

        return _opened(request, wrap, _mapped)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class Streamed:
    """An answer being read, whichever library reads it; its failures mapped by `mapped`."""

    def __init__(
        self,
        status: int,
        method: str,
        url: str,
        chunks: Callable[[], AsyncIterator[bytes]],
        read: Callable[[], Awaitable[bytes]],
        mapped: Callable[[BaseException], Exception | None],
    ) -> None:
        self.status, self.method, self.url = status, method, url
        self._chunks, self._read, self._mapped = chunks, read, mapped

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks():
                yield chunk
        except Exception as exc:
            raise _or_same(self._mapped, exc) from exc

    async def read(self) -> Answer:
        try:
            return Answer(self.status, await self._read(), self.method, self.url)
        except Exception as exc:
            raise _or_same(self._mapped, exc) from exc


def _or_same(mapped: Callable[[BaseException], Exception | None], exc: Exception) -> Exception:
    return mapped(exc) or exc


@asynccontextmanager
async def _opened(
    request: Any, wrap: Callable[[Any], Streamed], mapped: Callable[[BaseException], Exception | None]
) -> AsyncIterator[Streamed]:
    """Open a streamed answer. Only opening it is mapped here: what the caller raises while
    reading (its sink's OSError, say) is the caller's, not a transport failure."""
    try:
        response = await request.__aenter__()
    except Exception as exc:
        raise _or_same(mapped, exc) from exc
    try:
        yield wrap(response)
    finally:
        await request.__aexit__(None, None, None)


def _mapped(exc: BaseException) -> Exception:
    """aiohttp's failures (and the socket's) as this module's."""
    if isinstance(exc, TransportTimeout | TransportFailure | TransportDecode):
        return exc
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return TransportTimeout(f"timed out ({exc!r})")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return TransportDecode(repr(exc))
    if isinstance(exc, aiohttp.ClientError | OSError):
        return TransportFailure(repr(exc))
    return TransportDecode(repr(exc))


class HttpxTransport:
    """An httpx transport (``httpx.MockTransport`` in tests) behind the same calls."""

    def __init__(
        self, base_url: str, timeout: float, headers: Mapping[str, str], transport: httpx.AsyncBaseTransport
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers=dict(headers),
        )

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> Answer:
        try:
            response = await self._http.request(method, path, params=params, headers=headers, content=body)
        except httpx.RequestError as exc:
            raise _or_same(_mapped_httpx, exc) from exc
        return Answer(response.status_code, response.content, method, str(response.request.url))

    def stream(self, method: str, path: str, *, params: Mapping[str, Any]) -> Any:
        def wrap(response: httpx.Response) -> Streamed:
            return Streamed(
                response.status_code, method, str(response.request.url), response.aiter_bytes, response.aread,
                _mapped_httpx,
            )  # fmt: skip

        return _opened(self._http.stream(method, path, params=params), wrap, _mapped_httpx)

    async def aclose(self) -> None:
        await self._http.aclose()


def _mapped_httpx(exc: BaseException) -> Exception | None:
    """httpx's failures as this module's; None for what is not httpx's."""
    if not isinstance(exc, httpx.RequestError):
        return None
    if isinstance(exc, httpx.TimeoutException):
        return TransportTimeout(f"timed out ({exc!r})")
    if isinstance(exc, httpx.TransportError):
        return TransportFailure(repr(exc))
    return TransportDecode(repr(exc))
