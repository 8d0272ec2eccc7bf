"""A browser session as an outside client sees ComfyWeb: HTTP API plus tab WebSockets."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import websockets

FINISHED = ("succeeded", "failed", "cancelled")


class Browser:
    """One browser session: cookies from the first page view, CSRF header on unsafe calls."""

    def __init__(self, app):
        self.app = app
        self.http = httpx.Client(base_url=app.url, timeout=15)
        assert self.http.get("/").status_code == 200
        self.csrf = self.http.cookies["csrftoken"]

    def post(self, path, **kwargs):
        return self.http.post(path, headers={"X-CSRFToken": self.csrf}, **kwargs)

    def upload(self, data: bytes) -> dict:
        answer = self.post("/api/uploads/", files={"file": ("in.png", data, "image/png")})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def submit(self, tab: str, upload: dict, workflow: str = "invert", **params) -> dict:
        body = {"tab": tab, "workflow": workflow, "params": {"image": upload["id"], **params}}
        answer = self.post("/api/jobs/", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()["job"]

    def job(self, job_id: str) -> dict:
        return self.http.get(f"/api/jobs/{job_id}/").json()["job"]

    def wait_finished(self, job_ids, timeout: float = 60) -> dict[str, dict]:
        deadline = time.monotonic() + timeout
        while True:
            jobs = {j: self.job(j) for j in job_ids}
            if all(job["status"] in FINISHED for job in jobs.values()):
                return jobs
            if time.monotonic() > deadline:
                raise AssertionError(f"not finished in {timeout} s: {[j['status'] for j in jobs.values()]}")
            time.sleep(0.2)

    async def tab_socket(self, tab: str):
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        return await websockets.connect(
            f"{self.app.ws_url}/ws/tabs/{tab}/", additional_headers={"Cookie": cookie}, origin=self.app.url
        )


async def follow_until_done(socket, job_ids: set[str], timeout: float = 60) -> list[dict]:
    """Messages of one tab until every job in `job_ids` finished; returns them all."""
    seen, done = [], set()
    async with asyncio.timeout(timeout):
        while done != job_ids:
            message = json.loads(await socket.recv())
            seen.append(message)
            if message["type"] == "job.updated" and message["job"]["status"] in FINISHED:
                done.add(message["job"]["id"])
    return seen
