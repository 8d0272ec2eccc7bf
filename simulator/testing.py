"""In-process simulator for tests.

    async with running_simulator(delay=0.0) as sim:
        sim.url        # http://127.0.0.1:<free port>
        sim.ws_url("client-1")
        await sim.set_faults(http_500=True)
        await sim.set_models(add=["loras/ink.safetensors"])
        await sim.set_models(evict_all=True)   # the simulated VRAM empties

    async with running_simulator(profile="current") as sim:   # as the newest ComfyUI
        (await sim.calls())["counts"]   # {"POST /api/jobs/{job_id}/cancel": 1, ...}

    async with running_simulator(models={"checkpoints": [{"name": "a.safetensors", "load_seconds": 2}]},
                                 vram=1, load_seconds=0.5) as sim: ...

The "die" fault stops this server (listener and sockets) instead of exiting the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from simulator.app import create_app
from simulator.config import SimConfig
from simulator.models import parse_spec
from simulator.profiles import Profile
from simulator.state import SIM, Simulator


@dataclass
class RunningSimulator:
    """A started simulator: its URL, its state object and a few control helpers."""

    url: str
    port: int
    app: web.Application
    runner: web.AppRunner
    _dead: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def sim(self) -> Simulator:
        return self.app[SIM]

    @property
    def data_dir(self) -> Path:
        return self.sim.storage.root

    def ws_url(self, client_id: str | None = None, api: bool = False) -> str:
        base = self.url.replace("http://", "ws://") + ("/api/ws" if api else "/ws")
        return base if client_id is None else f"{base}?clientId={client_id}"

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/_sim/faults", json=faults) as r,
        ):
            r.raise_for_status()
            return await r.json()

    async def set_models(self, **change: Any) -> dict[str, Any]:
        """POST /_sim/models: set=..., add=[...], remove=[...], evict=[...], evict_all=True;
        returns the new model set with "resident" and "vram" (see simulator.model_controls)."""
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/_sim/models", json=change) as r,
        ):
            r.raise_for_status()
            models: dict[str, Any] = await r.json()
            return models

    async def models(self) -> dict[str, Any]:
        """GET /_sim/models: the model set with "resident" (least recently used first) and "vram"."""
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/_sim/models") as r:
            r.raise_for_status()
            models: dict[str, Any] = await r.json()
            return models

    async def calls(self) -> dict[str, Any]:
        """GET /_sim/calls: the requests made to routes only the current profile has (the Jobs
        API), as {"profile", "calls": [{"method", "path", "route", "status"}], "counts"}."""
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/_sim/calls") as r:
            r.raise_for_status()
            calls: dict[str, Any] = await r.json()
            return calls

    async def reset(self) -> None:
        async with aiohttp.ClientSession() as session, session.post(f"{self.url}/_sim/reset") as r:
            r.raise_for_status()

    async def wait_dead(self, timeout: float = 5.0) -> None:
        """After the "die" fault: wait until the server is down."""
        await asyncio.wait_for(self._dead.wait(), timeout)


# The profile of a simulator started without one: tests run a suite against each release by
# setting it (tests/relay/conftest.py).
DEFAULT_PROFILE = "0.3.64"


@asynccontextmanager
async def running_simulator(
    delay: float = 0.0,
    *,
    data_dir: Path | None = None,
    name: str = "sim",
    host: str = "127.0.0.1",
    models: dict[str, list[Any]] | list[Any] | None = None,
    vram: int | None = None,
    load_seconds: float = 0.0,
    sampler_seconds: float | None = None,
    profile: str | Profile | None = None,
) -> AsyncIterator[RunningSimulator]:
    """Start a simulator on a free port in this event loop; stop it on exit.

    ``models``: the model files it holds, {"folder": [files]} or ["folder/file", ...], where a
    file may be {"name": ..., "load_seconds": s}; ``vram`` and ``load_seconds`` as --vram and
    --load-seconds (simulator.residency; the defaults make loads free); ``profile`` as --profile
    ("0.3.64" or "current"), or a Profile (simulator.profiles)."""
    spec = parse_spec(models or {})
    config = SimConfig(
        host=host,
        port=0,
        data_dir=data_dir,
        delay=delay,
        name=name,
        models=spec.files,
        vram=vram,
        load_seconds=load_seconds,
        model_load_seconds=spec.load_seconds,
        sampler_seconds=sampler_seconds,
        profile=DEFAULT_PROFILE if profile is None else profile,
    )
    app = create_app(config)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    assert runner.addresses
    port = runner.addresses[0][1]
    config.port = port
    running = RunningSimulator(url=f"http://{host}:{port}", port=port, app=app, runner=runner)

    async def die() -> None:
        # Closes the listener and every open connection, like a crashed process.
        await runner.cleanup()
        running._dead.set()

    def on_die() -> None:
        asyncio.get_running_loop().create_task(die())

    config.on_die = on_die
    try:
        yield running
    finally:
        if not running._dead.is_set():
            await runner.cleanup()
