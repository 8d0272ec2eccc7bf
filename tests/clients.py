"""A browser session as an outside client sees ComfyWeb: HTTP API plus tab WebSockets."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterable
from typing import Any

import httpx
import websockets
from PIL import Image
from websockets.asyncio.client import ClientConnection

from tests.live import LiveApp

FINISHED = ("succeeded", "failed", "cancelled")


class Browser:
    """One browser session: cookies from the first page view, CSRF header on unsafe calls."""

    def __init__(self, app: LiveApp) -> None:
        self.app = app
        self.http = httpx.Client(base_url=app.url, timeout=15)
        assert self.http.get("/").status_code == 200
        self.csrf = self.http.cookies["csrftoken"]

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An unsafe call as the page's scripts make it: the CSRF header added to any given."""
        headers = {"X-CSRFToken": self.csrf, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def upload(self, data: bytes) -> dict:
        answer = self.post("/api/uploads/", files={"file": ("in.png", data, "image/png")})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def submit(self, tab: str, upload: dict, workflow: str = "invert", **params: Any) -> dict:
        body = {"tab": tab, "workflow": workflow, "params": {"image": upload["id"], **params}}
        answer = self.post("/api/jobs/", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()["job"]

    def job(self, job_id: str) -> dict:
        return self.http.get(f"/api/jobs/{job_id}/").json()["job"]

    def image(self, url: str) -> Image.Image:
        """A stored file (upload or output) as this session fetches it, as RGB."""
        answer = self.http.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        return Image.open(io.BytesIO(answer.content)).convert("RGB")

    def wait_finished(self, job_ids: Iterable[str], timeout: float = 60) -> dict[str, dict]:
        deadline = time.monotonic() + timeout
        while True:
            jobs = {j: self.job(j) for j in job_ids}
            if all(job["status"] in FINISHED for job in jobs.values()):
                return jobs
            if time.monotonic() > deadline:
                raise AssertionError(f"not finished in {timeout} s: {[j['status'] for j in jobs.values()]}")
            time.sleep(0.2)

    async def tab_socket(self, tab: str, origin: str | None = None, **options: Any) -> ClientConnection:
        """The tab's WebSocket with this session's cookies, from the app's own origin unless
        a test plays another site; `options` go to websockets.connect (e.g. max_size)."""
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        return await websockets.connect(
            f"{self.app.ws_url}/ws/tabs/{tab}/",
            additional_headers={"Cookie": cookie},
            origin=origin or self.app.url,
            **options,
        )


async def submit_on_socket(
    socket: ClientConnection, workflow: str, params: dict, ref: str, timeout: float = 30
) -> dict:
    """Send `job.submit` on a tab socket; returns the job of the `job.updated` answering it.

    SPEC §5: the answer carries the submission's `ref`, which tells it apart from other
    messages of the tab; an `error` answer fails the test with its code.
    """
    body = {"type": "job.submit", "workflow": workflow, "params": params, "ref": ref}
    await socket.send(json.dumps(body))
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await socket.recv())
            if message.get("ref") == ref:
                assert message["type"] == "job.updated", message
                return message["job"]


async def follow_until_done(socket: ClientConnection, job_ids: set[str], timeout: float = 60) -> list[dict]:
    """Messages of one tab until every job in `job_ids` finished; returns them all."""
    seen, done = [], set()
    async with asyncio.timeout(timeout):
        while done != job_ids:
            message = json.loads(await socket.recv())
            seen.append(message)
            if message["type"] == "job.updated" and message["job"]["status"] in FINISHED:
                done.add(message["job"]["id"])
    return seen
