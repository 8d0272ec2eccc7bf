"""Floor 2: a plain `websockets` server forwarding ComfyUI frames to tab sockets.

    python -m bench.floor_ws --port P --source ws://127.0.0.1:S/ws?clientId=C

The same job as floor 1 with no framework: a dict from prompt_id to its tab sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal

import websockets
from websockets.asyncio.server import ServerConnection, serve

tabs: dict[str, set[ServerConnection]] = {}


async def tab(connection: ServerConnection) -> None:
    prompt_id = connection.request.path.strip("/").rsplit("/", 1)[-1]
    tabs.setdefault(prompt_id, set()).add(connection)
    try:
        await connection.wait_closed()
    finally:
        tabs[prompt_id].discard(connection)


async def relay(source: str) -> None:
    for _ in range(100):
        try:
            async with websockets.connect(source, max_queue=None, ping_interval=None, max_size=None) as sock:
                async for raw in sock:
                    if isinstance(raw, bytes):
                        continue
                    data = json.loads(raw).get("data") or {}
                    for connection in list(tabs.get(data.get("prompt_id"), ())):
                        with contextlib.suppress(websockets.ConnectionClosed):
                            await connection.send(raw)
            return
        except OSError:
            await asyncio.sleep(0.2)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--source", required=True)
    args = parser.parse_args()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(tab, "127.0.0.1", args.port, ping_interval=None, max_queue=None, compression=None):
        reader = asyncio.create_task(relay(args.source))
        print(f"floor_ws listening on {args.port}", flush=True)
        await stop.wait()
        reader.cancel()


if __name__ == "__main__":
    asyncio.run(main())
