"""Fault controls under /_sim/ (a prefix the real server does not have).

POST /_sim/faults takes any of: http_500 (bool), stall_ws (bool), slow_history (seconds),
delay (seconds per executed node), and the one-shot actions drop_sockets, die, lose_queue.
GET /_sim/faults shows the settings, POST /_sim/reset clears faults and server state,
GET /_sim/state shows the worker's position (used by tests to time reconnects).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from aiohttp import web

from simulator.state import Simulator

SIM_PREFIX = "/_sim/"


def fault_middleware(sim: Simulator) -> Any:
    """Applies http_500 and slow_history to every real route (not to /_sim/)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path.startswith(SIM_PREFIX):
            return await handler(request)
        if sim.faults.http_500:
            return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")
        if sim.faults.slow_history and path.removeprefix("/api").startswith("/history"):
            await asyncio.sleep(sim.faults.slow_history)
        return await handler(request)

    return middleware


def _settings(sim: Simulator) -> dict[str, Any]:
    return {**asdict(sim.faults), "delay": sim.executor.delay}


def add_routes(app: web.Application, sim: Simulator) -> None:
    """The /_sim/ routes (not mirrored under /api)."""

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(_settings(sim))

    async def post_faults(request: web.Request) -> web.Response:
        return await _post_faults(sim, request)

    async def post_reset(request: web.Request) -> web.Response:
        return await _post_reset(sim)

    async def get_state(request: web.Request) -> web.Response:
        return _state(sim)

    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", post_faults)
    app.router.add_post("/_sim/reset", post_reset)
    app.router.add_get("/_sim/state", get_state)


async def _post_faults(sim: Simulator, request: web.Request) -> web.Response:
    body = await request.json()
    if not isinstance(body, dict):
        return web.json_response({"error": "expected a JSON object"}, status=400)
    unknown = set(body) - {
        "http_500",
        "stall_ws",
        "slow_history",
        "delay",
        "drop_sockets",
        "die",
        "lose_queue",
    }
    if unknown:
        return web.json_response({"error": f"unknown faults: {sorted(unknown)}"}, status=400)
    if "http_500" in body:
        sim.faults.http_500 = bool(body["http_500"])
    if "stall_ws" in body:
        sim.faults.stall_ws = bool(body["stall_ws"])
        sim.hub.stalled = sim.faults.stall_ws
    if "slow_history" in body:
        sim.faults.slow_history = float(body["slow_history"] or 0)
    if "delay" in body:
        sim.executor.delay = float(body["delay"] or 0)
    if body.get("lose_queue"):
        await sim.lose_state()
    if body.get("drop_sockets"):
        await sim.hub.close_all()
    if body.get("die"):
        # Answer first, then die: the caller learns the request arrived.
        asyncio.get_running_loop().call_later(0.05, sim.die)
    return web.json_response(_settings(sim))


async def _post_reset(sim: Simulator) -> web.Response:
    sim.faults.http_500 = sim.faults.stall_ws = False
    sim.faults.slow_history = 0.0
    sim.hub.stalled = False
    sim.executor.delay = sim.config.delay
    sim.calls.clear()
    await sim.lose_state()
    return web.json_response(_settings(sim))


def _state(sim: Simulator) -> web.Response:
    running, pending = sim.queue.current()
    progress = sim.executor.progress_value
    return web.json_response(
        {
            "name": sim.config.name,
            "running": running[0][1] if running else None,
            "node": sim.executor.last_node_id,
            "progress": None if progress is None else {"value": progress[0], "max": progress[1]},
            "pending": [item[1] for item in pending],
            "history": len(sim.queue.history),
            "sockets": sorted(sim.hub.sockets),
        }
    )
