"""The state of one simulated ComfyUI server, shared by its routes and its /_sim/ controls.

It imports none of the modules that serve it (routes, faults, flood, app): they import it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from simulator.assets import Assets
from simulator.config import SimConfig
from simulator.executor import Executor
from simulator.files import Storage
from simulator.models import ModelSet
from simulator.profiles import get_profile
from simulator.prompt_queue import PromptQueue
from simulator.residency import Residency
from simulator.ws import SocketHub


@dataclass
class Faults:
    """The standing faults set through POST /_sim/faults (the one-shot actions keep no state)."""

    http_500: bool = False
    stall_ws: bool = False
    slow_history: float = 0.0


def exit_process() -> None:
    """The CLI's "die": no cleanup, like a crash."""
    os._exit(1)


class Simulator:
    """The state of one server: files, models, sockets, queue, worker, faults, prompt counter.

    The model set survives lose_state and /_sim/reset: model files stay on disk over a restart;
    the resident models (VRAM) do not."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.profile = get_profile(config.profile)
        root = config.data_dir or Path(tempfile.mkdtemp(prefix="comfysim-"))
        self.storage = Storage(Path(root))
        self.assets = Assets(self.storage)
        self.hub = SocketHub(self.queue_info, self.reconnect_node, self.profile.features)
        self.queue = PromptQueue(self.hub.broadcast_status)
        self.models = ModelSet(config.models)
        self.residency = Residency(config.vram, config.load_seconds, config.model_load_seconds)
        self.executor = Executor(
            self.queue, self.hub, self.storage, config.delay, self.models, self.residency
        )
        self.executor.profile = self.profile
        self.executor.assets = self.assets
        self.executor.sampler_seconds = config.sampler_seconds
        self.faults = Faults()
        self.number = 0
        # Requests to routes only the current profile has (simulator.jobs_api, GET /_sim/calls).
        self.calls: list[dict[str, Any]] = []

    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}

    def reconnect_node(self, sid: str) -> str | None:
        return self.executor.reconnect_node(sid)

    async def lose_state(self) -> None:
        """Pending queue, history, caches, loaded models, running job and counter gone, as after
        a restart."""
        for task_id in list(self.queue.running):
            self.queue.forget_running(task_id)
        self.queue.queue = []
        self.queue.wipe_history()
        self.executor.forget_everything()
        self.residency.clear()
        self.number = 0

    def die(self) -> None:
        (self.config.on_die or exit_process)()


SIM = web.AppKey("simulator", Simulator)
