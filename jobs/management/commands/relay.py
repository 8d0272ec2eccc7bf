"""Run the relay as its own process (with REDIS_URL, beside any number of web processes)."""

from __future__ import annotations

import asyncio
import gc
import signal

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the ComfyUI relay: dispatches jobs, follows every server, completes jobs."

    def handle(self, *args, **options) -> None:
        from jobs.core.servers import register_servers
        from jobs.relay.loop import Relay

        if settings.COMFYUI_SERVERS:
            register_servers(settings.COMFYUI_SERVERS)

        async def main() -> None:
            gc.freeze()  # as in `serve`: what is loaded now lives as long as the process
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await Relay().run(stop)

        asyncio.run(main())
