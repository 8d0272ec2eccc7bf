"""Clients the benchmark drives: ComfyWeb sessions and tabs, and a direct ComfyUI client.

Each tab socket has a reader task that timestamps every message on arrival, so measuring
never waits behind the code that drives the run.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from PIL import Image

FINISHED = ("succeeded", "failed", "cancelled")


def distinct_png(number: int, size: int = 16) -> bytes:
    """A small PNG whose pixels encode `number`: no two jobs share inputs (no cache hits)."""
    image = Image.new("RGB", (size, size))
    seed = number.to_bytes(8, "big")
    image.putdata(
        [(seed[(x + y) % 8], x * 16 % 256, (y * 16 + number) % 256) for y in range(size) for x in range(size)]
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def flood_stamp(message: dict[str, Any]) -> tuple[int, int] | None:
    """(sequence number, send time in monotonic ns) of a forwarded flood frame, or None.

    ComfyWeb forwards it as `job.progress` `node`; the floors forward the raw ComfyUI frame.
    """
    node = message.get("node")
    if node is None:
        data = message.get("data")
        if isinstance(data, dict):
            node = data.get("node")
            if node is None and isinstance(data.get("nodes"), dict) and data["nodes"]:
                node = next(iter(data["nodes"]))
    if not isinstance(node, str) or node.count(":") != 1:
        return None
    seq, _, sent = node.partition(":")
    try:
        return int(seq), int(sent)
    except ValueError:
        return None


class JobWaiters:
    """A future per job that resolves with the job's shape once it has finished: a client
    records each JOB it sees (`seen`) and awaits `finished`, in whichever order they come."""

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def seen(self, job: dict[str, Any]) -> None:
        if job["status"] in FINISHED:
            waiter = self._futures.get(job["id"])
            if waiter is not None and not waiter.done():
                waiter.set_result(job)

    def finished(self, job_id: str, known: dict[str, Any] | None) -> asyncio.Future[dict[str, Any]]:
        """The job's future; `known` is its latest shape, if any (it may have finished already)."""
        waiter = self._futures.get(job_id)
        if waiter is None:
            waiter = self._futures[job_id] = asyncio.get_running_loop().create_future()
            if known is not None:
                self.seen(known)
        return waiter

    def fail_all(self, error: BaseException) -> None:
        for waiter in self._futures.values():
            if not waiter.done():
                waiter.set_exception(error)


class FloodLog:
    """Flood frames as a tab receives them: each frame counts once, at its first receipt.

    A relay may repeat the last frame's node later (ComfyWeb's progress keeps the running node
    until another one starts), so a repeat is not a new sample.
    """

    def __init__(self) -> None:
        self.latencies_ns: list[int] = []
        self.sent_ns: list[int] = []
        self.seen: set[int] = set()
        self.repeats = 0
        self.last: tuple[int, int] | None = None  # (send ns, receipt ns) of the newest frame

    def add(self, stamp: tuple[int, int], now: int) -> bool:
        seq, sent = stamp
        if seq in self.seen:
            self.repeats += 1
            return False
        self.seen.add(seq)
        self.latencies_ns.append(now - sent)
        self.sent_ns.append(sent)
        self.last = (sent, now)
        return True


async def close_socket(ws: Any, reader: asyncio.Task[None] | None) -> None:
    """Close a client socket, then stop and reap the task that read it."""
    if ws is not None:
        await ws.close()
    if reader is not None:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


# --- ComfyWeb ----------------------------------------------------------------------------------


class Session:
    """One browser session: the cookie from a page view, CSRF on unsafe calls."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=60)
        self.csrf = ""

    async def open(self) -> Session:
        answer = await self.http.get("/")
        answer.raise_for_status()
        self.csrf = self.http.cookies["csrftoken"]
        return self

    @property
    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    async def upload(self, data: bytes) -> str:
        answer = await self.http.post(
            "/api/uploads/", headers={"X-CSRFToken": self.csrf}, files={"file": ("in.png", data, "image/png")}
        )
        if answer.status_code != 201:
            raise RuntimeError(f"upload: {answer.status_code} {answer.text[:300]}")
        return answer.json()["id"]

    async def submit(self, tab: str, upload_id: str, workflow: str = "invert") -> dict[str, Any]:
        body = {"tab": tab, "workflow": workflow, "params": {"image": upload_id}}
        answer = await self.http.post("/api/jobs/", headers={"X-CSRFToken": self.csrf}, json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"submit: {answer.status_code} {answer.text[:300]}")
        return answer.json()["job"]

    async def download(self, url: str) -> bytes:
        answer = await self.http.get(url)
        answer.raise_for_status()
        return answer.content

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class Tab:
    """One tab socket. Keeps numbered-state bookkeeping and flood latencies as they arrive."""

    session: Session
    ws_base: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    seq: int | None = None
    gaps: int = 0
    out_of_order: int = 0
    statuses: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What came, in order, for a report on a tab that lost something: (seq, what) per
    # numbered event or snapshot.
    numbered: list[tuple[int, str]] = field(default_factory=list)
    flood: FloodLog = field(default_factory=FloodLog)
    progress: int = 0
    last_receipt_ns: int = 0
    snapshot: asyncio.Event = field(default_factory=asyncio.Event)
    _waiters: JobWaiters = field(default_factory=JobWaiters)
    _ws: Any = None
    _reader: asyncio.Task[None] | None = None
    closed_early: bool = False

    async def connect(self, timeout: float = 60) -> Tab:
        url = f"{self.ws_base}/ws/tabs/{self.id}/"
        self._ws = await websockets.connect(
            url,
            additional_headers={"Cookie": self.session.cookie},
            origin=self.session.base_url,
            open_timeout=timeout,
            max_queue=None,
            ping_interval=None,
            compression=None,
        )
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self.snapshot.wait(), timeout)
        return self

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                now = time.monotonic_ns()
                self.on_message(json.loads(raw), now)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed_early = True
            self._waiters.fail_all(RuntimeError(f"tab {self.id} socket closed"))

    def on_message(self, message: dict[str, Any], now: int) -> None:
        kind = message.get("type")
        self.last_receipt_ns = now
        if kind == "job.progress":
            stamp = flood_stamp(message)
            if stamp is not None and self.flood.add(stamp, now):
                self.progress += 1
            return
        if kind == "tab.snapshot":
            self.seq = int(message.get("seq") or 0)
            self.numbered.append((self.seq, "snapshot"))
            for job in message.get("jobs") or []:
                self._job(job)
            self.snapshot.set()
            return
        seq = message.get("seq")
        if isinstance(seq, int):
            what = message["job"]["status"] if kind == "job.updated" else str(kind)
            self.numbered.append((seq, what))
        if isinstance(seq, int) and self.seq is not None:
            if seq > self.seq + 1:
                self.gaps += seq - self.seq - 1
            if seq <= self.seq:
                self.out_of_order += 1
            else:
                self.seq = seq
        if kind == "job.updated":
            self._job(message["job"])

    def _job(self, job: dict[str, Any]) -> None:
        self.jobs[job["id"]] = job
        self.statuses[job["id"]] = job["status"]
        self._waiters.seen(job)

    def finished(self, job_id: str) -> asyncio.Future[dict[str, Any]]:
        return self._waiters.finished(job_id, self.jobs.get(job_id))

    async def close(self) -> None:
        await close_socket(self._ws, self._reader)


# --- a plain tab on a floor --------------------------------------------------------------------


@dataclass
class PlainTab:
    """A socket on a floor server (no session): counts and timestamps flood frames."""

    url: str
    flood: FloodLog = field(default_factory=FloodLog)
    last_receipt_ns: int = 0
    _ws: Any = None
    _reader: asyncio.Task[None] | None = None

    async def connect(self) -> PlainTab:
        self._ws = await websockets.connect(
            self.url, open_timeout=60, max_queue=None, ping_interval=None, compression=None
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                now = time.monotonic_ns()
                stamp = flood_stamp(json.loads(raw))
                self.last_receipt_ns = now
                if stamp is not None:
                    self.flood.add(stamp, now)
        except websockets.ConnectionClosed:
            pass

    async def close(self) -> None:
        await close_socket(self._ws, self._reader)


# --- direct ComfyUI ----------------------------------------------------------------------------


def invert_prompt(image_name: str) -> dict[str, Any]:
    """The same graph ComfyWeb's `invert` workflow queues."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image_name}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench/invert"}},
    }


class DirectTab:
    """A client of one ComfyUI server with its own clientId socket, as ComfyUI's own page."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client_id = uuid.uuid4().hex
        self.http = httpx.AsyncClient(base_url=base_url, timeout=60)
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> DirectTab:
        url = self.base_url.replace("http://", "ws://") + f"/ws?clientId={self.client_id}"
        self._ws = await websockets.connect(
            url, open_timeout=60, max_queue=None, ping_interval=None, compression=None, max_size=None
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                if isinstance(raw, bytes):
                    continue
                frame = json.loads(raw)
                data = frame.get("data") or {}
                if frame.get("type") == "executing" and data.get("node") is None and data.get("prompt_id"):
                    waiter = self._waiters.get(data["prompt_id"])
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
        except websockets.ConnectionClosed:
            pass
        finally:
            for waiter in self._waiters.values():
                if not waiter.done():
                    waiter.set_exception(RuntimeError("direct socket closed"))

    async def run_job(self, image: bytes, timeout: float) -> int:
        """Upload, queue, wait for `executing` null, read /history, download each output."""
        upload = await self.http.post("/upload/image", files={"image": (f"{uuid.uuid4().hex}.png", image)})
        upload.raise_for_status()
        prompt_id = str(uuid.uuid4())
        waiter = self._waiters[prompt_id] = asyncio.get_running_loop().create_future()
        body = {
            "prompt": invert_prompt(upload.json()["name"]),
            "prompt_id": prompt_id,
            "client_id": self.client_id,
        }
        queued = await self.http.post("/prompt", json=body)
        queued.raise_for_status()
        await asyncio.wait_for(waiter, timeout)
        del self._waiters[prompt_id]
        history = (await self.http.get(f"/history/{prompt_id}")).json()[prompt_id]
        size = 0
        for output in history["outputs"].values():
            for image_ref in output.get("images", []):
                answer = await self.http.get("/view", params=image_ref)
                answer.raise_for_status()
                size += len(answer.content)
        if not size:
            raise RuntimeError(f"direct job {prompt_id} has no output")
        return size

    async def close(self) -> None:
        await close_socket(self._ws, self._reader)
        await self.http.aclose()
