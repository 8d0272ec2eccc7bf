"""Benchmark controls under /_sim/ (not part of ComfyUI): a progress flood and a release.

POST /_sim/flood {"client_id", "prompt_ids": [...], "rate": frames/s (0: as fast as possible),
"seconds": s, "count": frames (optional cap), "kinds": ["progress_state", "progress"]}
starts sending protocol-shaped progress frames for the given prompts, round robin, to that
client's socket, and answers at once with what it will send. One tick is one frame of each kind
for one prompt, as the real server sends them (PROTOCOL §2: progress_state, then progress).
A new flood for the same client replaces the running one; {"stop": true} stops them all.
GET /_sim/flood reports each flood: frames sent, frames dropped (no socket), whether it runs.

Every frame carries its send time so the receiver can measure the hop without matching: the
node id is "<seq>:<time.monotonic_ns()>", taken just before the frame is written. The node id
is the field a relay forwards; CLOCK_MONOTONIC is shared by every process on the machine.

POST /_sim/release cuts short the node delay (--delay, or "delay" in /_sim/faults) of the node
running now, so a benchmark can hold a job on the server and let it go at a chosen moment.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from simulator.state import Simulator

KINDS = ("progress_state", "progress")
MAX_SECONDS = 600.0
MAX_FRAMES = 10_000_000
TICK = 0.002  # seconds between pacing checks


@dataclass
class Flood:
    client_id: str
    prompt_ids: list[str]
    rate: float
    seconds: float
    count: int
    kinds: tuple[str, ...]
    sent: int = 0
    dropped: int = 0
    started_at: float = 0.0
    finished_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def report(self) -> dict[str, Any]:
        end = self.finished_at or time.monotonic()
        elapsed = max(end - self.started_at, 1e-9)
        return {
            "client_id": self.client_id,
            "prompts": len(self.prompt_ids),
            "rate": self.rate,
            "seconds": self.seconds,
            "count": self.count,
            "sent": self.sent,
            "dropped": self.dropped,
            "elapsed": round(elapsed, 4),
            "achieved_rate": round(self.sent / elapsed, 1),
            "running": self.finished_at is None,
        }


def frame(kind: str, prompt_id: str, node: str, step: int) -> str:
    value, maximum = step % 100 + 1, 100
    if kind == "progress":
        data: dict[str, Any] = {"value": value, "max": maximum, "prompt_id": prompt_id, "node": node}
    else:
        state = {
            "value": float(value),
            "max": float(maximum),
            "state": "running",
            "node_id": node,
            "prompt_id": prompt_id,
            "display_node_id": node,
            "parent_node_id": None,
            "real_node_id": node,
        }
        data = {"prompt_id": prompt_id, "nodes": {node: state}}
    return json.dumps({"type": kind, "data": data})


async def _run(sim: Simulator, flood: Flood) -> None:
    hub = sim.hub
    flood.started_at = start = time.monotonic()
    deadline = start + flood.seconds
    seq = 0
    try:
        while flood.sent + flood.dropped < flood.count:
            now = time.monotonic()
            if now >= deadline:
                break
            due = flood.count if flood.rate <= 0 else min(flood.count, int((now - start) * flood.rate) + 1)
            while flood.sent + flood.dropped < due:
                tick, kind_index = divmod(seq, len(flood.kinds))
                prompt_id = flood.prompt_ids[tick % len(flood.prompt_ids)]
                ws = hub.sockets.get(flood.client_id)
                seq += 1
                if ws is None or ws.closed or hub.stalled:
                    flood.dropped += 1
                    continue
                text = frame(flood.kinds[kind_index], prompt_id, f"{seq}:{time.monotonic_ns()}", tick)
                try:
                    await ws.send_str(text)
                    flood.sent += 1
                except Exception:  # a socket that died meanwhile: counted, never fatal
                    flood.dropped += 1
            if flood.rate > 0:
                await asyncio.sleep(TICK)
            else:
                await asyncio.sleep(0)
    finally:
        flood.finished_at = time.monotonic()


def add_routes(app: web.Application, sim: Simulator) -> None:
    floods: dict[str, Flood] = {}

    async def post_flood(request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        if body.get("stop"):
            for flood in floods.values():
                if flood.task is not None:
                    flood.task.cancel()
            return web.json_response({"floods": [f.report() for f in floods.values()]})
        try:
            flood = _parse(body)
        except (KeyError, TypeError, ValueError) as error:
            return web.json_response({"error": f"bad flood request: {error}"}, status=400)
        old = floods.get(flood.client_id)
        if old is not None and old.task is not None:
            old.task.cancel()
        floods[flood.client_id] = flood
        flood.task = asyncio.get_running_loop().create_task(_run(sim, flood), name="sim-flood")
        return web.json_response(flood.report())

    async def get_flood(request: web.Request) -> web.Response:
        return web.json_response({"floods": [f.report() for f in floods.values()]})

    async def post_release(request: web.Request) -> web.Response:
        return web.json_response({"released": sim.executor.release()})

    app.router.add_post("/_sim/flood", post_flood)
    app.router.add_get("/_sim/flood", get_flood)
    app.router.add_post("/_sim/release", post_release)


def _parse(body: dict[str, Any]) -> Flood:
    client_id = str(body["client_id"])
    prompt_ids = [str(p) for p in body["prompt_ids"]]
    if not prompt_ids:
        raise ValueError("prompt_ids is empty")
    rate = float(body.get("rate", 0))
    seconds = min(float(body.get("seconds", 10)), MAX_SECONDS)
    kinds = tuple(body.get("kinds") or KINDS)
    if any(kind not in KINDS for kind in kinds):
        raise ValueError(f"kinds must be among {KINDS}")
    default = MAX_FRAMES if rate > 0 else len(prompt_ids) * len(kinds)
    count = min(int(body.get("count") or default), MAX_FRAMES)
    if rate < 0 or seconds <= 0 or count <= 0:
        raise ValueError("rate must be >= 0, seconds and count > 0")
    return Flood(client_id, prompt_ids, rate, seconds, count, kinds)
