"""Async HTTP client for one ComfyUI server.

A ``ComfyClient`` is bound to its base URL for its whole life and never follows
redirects, so an attempt made through it can only reach its own server (a product
invariant: a job's files and history live on the server that ran it).

Errors are mapped once, in ``_send``: transport failures and 5xx become
ComfyUnavailable, other non-2xx become ComfyHTTPError (or PromptRejected /
NotFound where the route gives the status a meaning), and bodies of the wrong
shape become ProtocolError. See errors.py for the tree.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import IO, Any, Self, TypeVar
from urllib.parse import quote

import httpx

from . import jsontext
from .errors import (
    ComfyHTTPError,
    ComfyUnavailable,
    NotFound,
    PromptRejected,
    ProtocolError,
    TooLarge,
)
from .transport import (
    AiohttpTransport,
    Answer,
    HttpxTransport,
    Transport,
    TransportDecode,
    TransportFailure,
    TransportTimeout,
)
from .types import HistoryEntry, QueuedPrompt, QueueState, UploadedImage

__all__ = ["ComfyClient"]

USAGE_SOURCE = "comfyweb"

T = TypeVar("T")


class ComfyClient:
    """``async with ComfyClient("http://gpu1:8188") as comfy: await comfy.system_stats()``.

    Requests go through aiohttp (jobs.comfy.transport); ``transport`` is for tests (an
    ``httpx.MockTransport``). ``timeout`` applies to connecting and to each read alike.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"ComfyUI base URL must be http(s)://host[:port]: {base_url!r}")
        self._base_url = str(url).rstrip("/")
        # Current releases record who submits (extra_data.comfy_usage_source); 0.3.64
        # ignores it (docs/comfyui-versions.md §8).
        headers = {"Comfy-Usage-Source": USAGE_SOURCE}
        self._http: Transport = (
            AiohttpTransport(self._base_url, timeout, headers)
            if transport is None
            else HttpxTransport(self._base_url, timeout, headers, transport)
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"ComfyClient({self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def ws_url(self, client_id: str) -> str:
        """The socket URL for ``client_id`` on this server (http→ws, https→wss).

        Keep one open socket per clientId per server (PROTOCOL.md §5)."""
        url = httpx.URL(self._base_url)
        return str(
            url.copy_with(
                scheme="wss" if url.scheme == "https" else "ws",
                path=url.path.rstrip("/") + "/ws",
                params={"clientId": client_id},
            )
        )

    # -- jobs ---------------------------------------------------------------

    async def upload_image(
        self,
        data: bytes,
        filename: str,
        *,
        subfolder: str = "",
        image_type: str = "input",
        overwrite: bool = False,
    ) -> UploadedImage:
        """Store an input image. Use the returned name: without ``overwrite`` the
        server renames a file whose name is taken by different bytes (trace 01)."""
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        # The multipart body is encoded by httpx (no request is sent through it).
        form = httpx.Request(
            "POST",
            self._base_url + "/upload/image",
            files={"image": (filename, data, content_type)},
            data={"subfolder": subfolder, "type": image_type, "overwrite": "true" if overwrite else "false"},
        )
        response = await self._send(
            "POST", "/upload/image", body=form.read(), content_type=form.headers["Content-Type"]
        )
        self._raise_for_status(response)
        return self._parse(response, UploadedImage.from_json)

    async def queue_prompt(
        self,
        prompt: dict[str, Any],
        *,
        prompt_id: str,
        client_id: str,
        extra_data: dict[str, Any] | None = None,
        front: bool = False,
    ) -> QueuedPrompt:
        """Queue a job under an id chosen by the caller, so it is known before the
        answer arrives (status frames can overtake the 200, PROTOCOL.md §7.8).

        ``client_id`` is required: without it the server broadcasts the job's
        progress and previews to every socket (§3). ComfyUI does not check
        ``prompt_id`` for uniqueness; reusing one replaces the old history entry.

        Raises PromptRejected on 400. A 200 can still carry ``node_errors``: the
        failing outputs were dropped and the rest will run (partial acceptance,
        see QueuedPrompt); deciding whether that is acceptable is the caller's job.
        """
        body: dict[str, Any] = {"prompt": prompt, "prompt_id": prompt_id, "client_id": client_id}
        if extra_data:
            body["extra_data"] = extra_data
        if front:
            body["front"] = True
        response = await self._send("POST", "/prompt", json=body)
        if response.status == 400:
            raise self._prompt_rejected(response)
        self._raise_for_status(response)
        return self._parse(response, QueuedPrompt.from_json)

    async def get_history(self, prompt_id: str) -> HistoryEntry | None:
        """The finished job, or None while it is queued, running, deleted or unknown
        (the server answers ``{}`` for all of those)."""
        body = await self._get_json(f"/history/{quote(prompt_id, safe='')}")
        if not isinstance(body, dict):
            raise self._protocol_error("GET /history/{id}: expected an object")
        if not body:
            return None
        if prompt_id not in body:
            raise self._protocol_error(f"GET /history/{prompt_id}: answer is for {list(body)}")
        return self._parse_value(body[prompt_id], lambda e: HistoryEntry.from_json(prompt_id, e))

    async def get_history_all(self, max_items: int | None = None) -> dict[str, HistoryEntry]:
        """The most recent ``max_items`` entries (all when None), oldest first."""
        params = {"max_items": max_items} if max_items is not None else None
        body = await self._get_json("/history", params=params)
        if not isinstance(body, dict):
            raise self._protocol_error("GET /history: expected an object")
        return {
            pid: self._parse_value(entry, partial(HistoryEntry.from_json, pid)) for pid, entry in body.items()
        }

    async def view(self, filename: str, subfolder: str = "", image_type: str = "output") -> bytes:
        """The raw bytes of an output, input or temp file. Raises NotFound on 404."""
        response = await self._send(
            "GET",
            "/view",
            params={"filename": filename, "subfolder": subfolder, "type": image_type},
        )
        if response.status == 404:
            raise self._http_error(response, NotFound, f"{image_type} file not found: {filename}")
        self._raise_for_status(response)
        return response.body

    async def view_to(
        self, sink: IO[bytes], filename: str, subfolder: str = "", image_type: str = "output", *, limit: int
    ) -> int:
        """Stream an output, input or temp file into `sink`, never whole in memory; returns
        its size. Raises NotFound on 404 and TooLarge past `limit` bytes (`sink` then holds
        a part: the caller discards it)."""
        params = {"filename": filename, "subfolder": subfolder, "type": image_type}
        what = f"GET {self._base_url}/view {filename}"
        try:
            async with self._http.stream("GET", "/view", params=params) as streamed:
                if streamed.status == 404:
                    raise self._http_error(
                        await streamed.read(), NotFound, f"{image_type} file not found: {filename}"
                    )
                if not 200 <= streamed.status < 300:
                    answer = await streamed.read()
                    if answer.status >= 500:
                        raise ComfyUnavailable(
                            f"{what}: HTTP {answer.status}", server_url=self._base_url, status=answer.status
                        )
                    self._raise_for_status(answer)
                size = 0
                async for chunk in streamed.chunks():  # as it arrives, not gathered
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(
                            f"{what}: larger than {limit} bytes", server_url=self._base_url, limit=limit
                        )
                    sink.write(chunk)
                return size
        except (TransportTimeout, TransportFailure) as exc:  # the original error as the cause
            raise ComfyUnavailable(f"{what}: {exc}", server_url=self._base_url) from exc.__cause__ or exc

    # -- queue --------------------------------------------------------------

    async def get_queue(self) -> QueueState:
        return self._parse_value(await self._get_json("/queue"), QueueState.from_json)

    async def queue_remaining(self) -> int:
        """GET /prompt: the running job plus the pending ones."""
        body = await self._get_json("/prompt")
        return self._parse_value(body, lambda b: int(b["exec_info"]["queue_remaining"]))

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop the running job.

        With ``prompt_id`` the interrupt is targeted: the server acts only if that
        job is the one running now, so it cannot hit another client's job.
        Without it, whatever runs is stopped, whoever submitted it. The answer
        is 200 either way and never says whether anything was stopped (§1).
        """
        body = {"prompt_id": prompt_id} if prompt_id is not None else {}
        self._raise_for_status(await self._send("POST", "/interrupt", json=body))

    async def has_jobs_api(self) -> bool:
        """Whether the server has the Jobs API (`GET /api/jobs`, `POST /api/jobs/{id}/cancel`;
        docs/comfyui-versions.md §2, §3): no feature flag says so, the route answering does.
        0.3.64 answers 404 (it has no such route)."""
        response = await self._send("GET", "/api/jobs", params={"limit": 1})
        if response.status != 200:
            return False
        body = _loads_or_none(response.text)
        return isinstance(body, dict) and isinstance(body.get("jobs"), list)

    async def job_status(self, prompt_id: str) -> str | None:
        """`GET /api/jobs/{id}`'s status (pending, in_progress, completed, failed, cancelled),
        read from queue and history in one answer; None when the server knows no such job.
        Jobs API only (docs/comfyui-versions.md §2)."""
        response = await self._send("GET", f"/api/jobs/{quote(prompt_id, safe='')}")
        if response.status == 404:
            return None
        self._raise_for_status(response)
        body = _loads_or_none(response.text)
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, str):
            raise ProtocolError(
                f"GET /api/jobs/{prompt_id}: no status in {response.text[:200]!r}", server_url=self._base_url
            )
        return status

    async def cancel_job(self, prompt_id: str) -> bool:
        """Cancel one prompt by its id, race-free: the server dequeues it if pending and
        interrupts it only while that very prompt runs (checked under its queue lock). True
        when something was cancelled; False for a finished or unknown id. Jobs API only."""
        response = await self._send("POST", f"/api/jobs/{quote(prompt_id, safe='')}/cancel")
        self._raise_for_status(response)
        body = _loads_or_none(response.text)
        return isinstance(body, dict) and body.get("cancelled") is True

    async def delete_from_queue(self, prompt_ids: list[str]) -> None:
        """Remove pending jobs (never the running one). Always 200, even for
        unknown ids; a deleted job leaves no history and sends no messages."""
        self._raise_for_status(await self._send("POST", "/queue", json={"delete": prompt_ids}))

    async def delete_history(self, prompt_ids: list[str]) -> None:
        self._raise_for_status(await self._send("POST", "/history", json={"delete": prompt_ids}))

    # -- server -------------------------------------------------------------

    async def system_stats(self) -> dict[str, Any]:
        """Versions, RAM and devices; a cheap health probe."""
        return await self._get_object("/system_stats")

    async def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        """Node definitions: all of them, or ``{class_type: info}`` for one
        (``{}`` when the server does not know that class)."""
        path = "/object_info" if class_type is None else f"/object_info/{quote(class_type, safe='')}"
        return await self._get_object(path)

    async def features(self) -> dict[str, Any]:
        return await self._get_object("/features")

    # -- plumbing -----------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Answer:
        """One request. Transport failures and 5xx become ComfyUnavailable; any
        other status is returned for the caller to interpret."""
        what = f"{method} {self._base_url}{path}"
        headers = {}
        if json is not None:
            body, content_type = _dumps(json), "application/json"
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            response = await self._http.send(method, path, params=params, headers=headers, body=body)
        except (TransportTimeout, TransportFailure) as exc:  # the original error as the cause
            raise ComfyUnavailable(f"{what}: {exc}", server_url=self._base_url) from exc.__cause__ or exc
        except TransportDecode as exc:  # an answer that is no HTTP, and the like
            raise ProtocolError(f"{what}: {exc}", server_url=self._base_url) from exc.__cause__ or exc
        if response.status >= 500:
            raise ComfyUnavailable(
                f"{what}: HTTP {response.status}",
                server_url=self._base_url,
                status=response.status,
                body_text=response.text,
            )
        return response

    def _raise_for_status(self, response: Answer) -> None:
        if not response.is_success:
            raise self._http_error(response, ComfyHTTPError)

    def _http_error(
        self,
        response: Answer,
        cls: type[ComfyHTTPError],
        message: str | None = None,
    ) -> ComfyHTTPError:
        text = response.text
        return cls(
            message or f"{response.method} {response.url}: HTTP {response.status}",
            server_url=self._base_url,
            status=response.status,
            body=_loads_or_none(text),
            body_text=text,
        )

    def _prompt_rejected(self, response: Answer) -> ComfyHTTPError:
        text = response.text
        body = _loads_or_none(text)
        if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
            return self._http_error(response, ComfyHTTPError)
        error = body["error"]
        node_errors = body.get("node_errors")
        return PromptRejected(
            f"prompt rejected by {self._base_url}: {error.get('type')}: {error.get('message')}",
            server_url=self._base_url,
            status=response.status,
            body=body,
            body_text=text,
            error=error,
            node_errors=node_errors if isinstance(node_errors, dict) else {},
        )

    async def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = await self._send("GET", path, params=params)
        self._raise_for_status(response)
        return self._parse(response, lambda body: body)

    async def _get_object(self, path: str) -> dict[str, Any]:
        body = await self._get_json(path)
        if not isinstance(body, dict):
            raise self._protocol_error(f"GET {path}: expected a JSON object")
        return body

    def _parse(self, response: Answer, parse: Callable[[Any], T]) -> T:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._protocol_error(
                f"{response.method} {response.url}: not JSON: {response.text[:200]!r}"
            ) from exc
        return self._parse_value(body, parse)

    def _parse_value(self, body: Any, parse: Callable[[Any], T]) -> T:
        try:
            return parse(body)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise self._protocol_error(f"unexpected answer shape: {exc!r}") from exc

    def _protocol_error(self, message: str) -> ProtocolError:
        return ProtocolError(f"{self._base_url}: {message}", server_url=self._base_url)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _loads_or_none(text: str) -> Any:
    try:
        return jsontext.loads(text) if text else None
    except ValueError:
        return None
