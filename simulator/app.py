"""Builds the aiohttp application of one simulated ComfyUI server."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from simulator import faults, flood, routes
from simulator.config import SimConfig
from simulator.executor import Executor
from simulator.files import Storage
from simulator.prompt_queue import PromptQueue
from simulator.ws import SocketHub

MAX_UPLOAD_SIZE = 104857600


class Simulator:
    """The state of one server: files, sockets, queue, worker, faults, prompt counter."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        root = config.data_dir or Path(tempfile.mkdtemp(prefix="comfysim-"))
        self.storage = Storage(Path(root))
        self.hub = SocketHub(self.queue_info, self.reconnect_node)
        self.queue = PromptQueue(self.hub.broadcast_status)
        self.executor = Executor(self.queue, self.hub, self.storage, config.delay)
        self.faults = faults.Faults()
        self.number = 0

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}

    def reconnect_node(self, sid: str) -> str | None:
        return self.executor.reconnect_node(sid)

    async def lose_state(self) -> None:
        """Pending queue, history, caches, running job and counter gone, as after a restart."""
        for task_id in list(self.queue.running):
            self.queue.forget_running(task_id)
        self.queue.queue = []
        self.queue.wipe_history()
        self.executor.forget_everything()
        self.number = 0

    def die(self) -> None:
        (self.config.on_die or faults.exit_process)()


SIM = web.AppKey("simulator", Simulator)


async def _start_worker(app: web.Application) -> None:
    app[SIM].executor.start()


async def _stop_worker(app: web.Application) -> None:
    sim = app[SIM]
    await sim.executor.stop()
    await sim.hub.close_all()


def create_app(config: SimConfig) -> web.Application:
    """The application; its worker starts with the app (AppRunner.setup / run_app)."""
    sim = Simulator(config)
    app = web.Application(client_max_size=MAX_UPLOAD_SIZE, middlewares=[faults.fault_middleware(sim)])
    app[SIM] = sim
    table = routes.route_table(sim)
    # server.py registers every route twice: as is and under /api.
    api = web.RouteTableDef()
    for route in table:
        if isinstance(route, web.RouteDef):
            api.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
    app.add_routes(api)
    app.add_routes(table)
    faults.add_routes(app, sim)
    flood.add_routes(app, sim)
    app.on_startup.append(_start_worker)
    app.on_shutdown.append(_stop_worker)
    return app
