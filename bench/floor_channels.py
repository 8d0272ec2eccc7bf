"""Floor 1: a bare Daphne + Channels app forwarding ComfyUI frames, with the stock in-memory layer.

    python -m bench.floor_channels --port P --source ws://127.0.0.1:S/ws?clientId=C

One socket reads the ComfyUI server's frames (as ComfyWeb's relay does, on Daphne's loop) and
group_sends each to the group of its prompt_id; a tab socket `/ws/<prompt_id>/` joins that
group and forwards what arrives. No database, no sessions: what Channels itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging

import django
from django.conf import settings

log = logging.getLogger("bench.floor_channels")


def _configure() -> None:
    settings.configure(
        DEBUG=False,
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        ALLOWED_HOSTS=["*"],
    )
    django.setup()


def build_application():
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter

    class Tab(AsyncWebsocketConsumer):
        async def connect(self) -> None:
            self.group = "t." + self.scope["path"].strip("/").rsplit("/", 1)[-1]
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.accept()

        async def disconnect(self, code: int) -> None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

        async def frame(self, event: dict) -> None:
            await self.send(text_data=event["text"])

    async def http(scope, receive, send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    return ProtocolTypeRouter({"http": http, "websocket": Tab.as_asgi()})


async def relay(source: str) -> None:
    """Read the server's frames and group_send each to its prompt's group."""
    import websockets
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    for _ in range(100):
        try:
            async with websockets.connect(source, max_queue=None, ping_interval=None, max_size=None) as sock:
                async for raw in sock:
                    if isinstance(raw, bytes):
                        continue
                    data = json.loads(raw).get("data") or {}
                    prompt_id = data.get("prompt_id")
                    if isinstance(prompt_id, str):
                        await layer.group_send("t." + prompt_id, {"type": "frame", "text": raw})
            return
        except OSError:
            await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--source", required=True, help="the ComfyUI socket URL to read frames from")
    args = parser.parse_args()
    _configure()
    from daphne.server import Server

    tasks = []

    def ready() -> None:
        tasks.append(asyncio.get_event_loop().create_task(relay(args.source)))
        print(f"floor_channels listening on {args.port}", flush=True)

    Server(
        application=build_application(),
        endpoints=[f"tcp:port={args.port}:interface=127.0.0.1"],
        ready_callable=ready,
        signal_handlers=True,
    ).run()


if __name__ == "__main__":
    main()
