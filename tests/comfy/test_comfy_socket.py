"""ComfySocket against a tiny local websockets server playing ComfyUI's part."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from jobs.comfy import (
    ComfySocket,
    ComfyUnavailable,
    Executing,
    FeatureFlags,
    Preview,
    ProtocolError,
    Status,
)

PID = "04537837-8c35-4d49-b286-c710a004a1b0"
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 690
BIG = b"\xff\xd8\xff\xe0" + b"\x01" * (3 * 1024 * 1024)  # beyond websockets' 1 MiB default


def preview_with_metadata(image: bytes) -> bytes:
    metadata = json.dumps({"node_id": "2", "prompt_id": PID, "image_type": "image/jpeg"})
    return struct.pack(">II", 4, len(metadata)) + metadata.encode() + image


@asynccontextmanager
async def comfy_like_server(
    script: Callable[[ServerConnection], Awaitable[None]],
) -> AsyncIterator[str]:
    """Serve ``script`` on 127.0.0.1:<free port>; yields the ws URL for client "tab-1"."""
    async with serve(script, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws?clientId=tab-1"


async def test_announces_flags_first_and_yields_parsed_events() -> None:
    received: list[Any] = []

    async def script(ws: ServerConnection) -> None:
        # Like ComfyUI: the status frame goes out on connect, before reading anything.
        await ws.send(
            json.dumps(
                {
                    "type": "status",
                    "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "tab-1"},
                }
            )
        )
        received.append(json.loads(await ws.recv()))
        received.append(ws.request.path)
        await ws.send(
            json.dumps(
                {
                    "type": "feature_flags",
                    "data": {"supports_preview_metadata": True, "max_upload_size": 104857600},
                }
            )
        )
        await ws.send(preview_with_metadata(JPEG))
        await ws.send(struct.pack(">II", 1, 1) + JPEG)
        await ws.send(preview_with_metadata(BIG))
        await ws.send(json.dumps({"type": "executing", "data": {"node": None, "prompt_id": PID}}))
        # returning closes the connection normally (1000)

    async with comfy_like_server(script) as url, ComfySocket(url) as sock:
        events = [event async for event in sock]

    assert received == [
        {"type": "feature_flags", "data": {"supports_preview_metadata": True}},
        "/ws?clientId=tab-1",
    ]
    assert events == [
        Status(queue_remaining=0, sid="tab-1"),
        FeatureFlags({"supports_preview_metadata": True, "max_upload_size": 104857600}),
        Preview(PID, "2", "image/jpeg", JPEG),
        Preview(None, None, "image/jpeg", JPEG),
        Preview(PID, "2", "image/jpeg", BIG),
        Executing(PID, None),
    ]
    assert events[-1].is_terminal


async def test_without_announcement_the_client_sends_nothing() -> None:
    got: list[Any] = []

    async def script(ws: ServerConnection) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "status",
                    "data": {"status": {"exec_info": {"queue_remaining": 2}}, "sid": "tab-1"},
                }
            )
        )
        try:
            got.append(await asyncio.wait_for(ws.recv(), timeout=0.2))
        except TimeoutError:
            got.append("nothing")

    async with (
        comfy_like_server(script) as url,
        ComfySocket(url, announce_preview_metadata=False) as sock,
    ):
        assert await sock.recv() == Status(queue_remaining=2, sid="tab-1")
        events = [event async for event in sock]
    assert events == []
    assert got == ["nothing"]


async def test_recv_after_close_is_unavailable() -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.close()

    async with comfy_like_server(script) as url, ComfySocket(url) as sock:
        with pytest.raises(ComfyUnavailable) as info:
            await sock.recv()
    assert info.value.server_url == url.split("/ws")[0].replace("ws://", "http://")


async def test_a_lost_connection_is_unavailable() -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.send(
            json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}})
        )
        ws.transport.abort()  # no close frame: like a crashed server

    async with comfy_like_server(script) as url, ComfySocket(url) as sock:
        events: list[Any] = []
        with pytest.raises(ComfyUnavailable):
            async for event in sock:
                events.append(event)
    assert events == [Status(queue_remaining=0)]


async def test_a_non_json_text_frame_is_a_protocol_error() -> None:
    async def script(ws: ServerConnection) -> None:
        await ws.send("hello")
        await ws.wait_closed()

    async with comfy_like_server(script) as url, ComfySocket(url) as sock:
        with pytest.raises(ProtocolError) as info:
            await sock.recv()
    assert info.value.server_url is not None and info.value.server_url.startswith("http://")


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ComfyUnavailable) as info:
        async with ComfySocket(f"ws://127.0.0.1:{port}/ws?clientId=x", open_timeout=2):
            pass
    assert info.value.server_url == f"http://127.0.0.1:{port}"


async def test_a_rejected_handshake_is_unavailable() -> None:
    async def script(ws: ServerConnection) -> None:
        pass

    def reject(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(404, "Not Found\n")

    async with serve(script, "127.0.0.1", 0, process_request=reject) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(ComfyUnavailable):
            async with ComfySocket(f"ws://127.0.0.1:{port}/ws?clientId=x"):
                pass


async def test_context_exit_closes_the_socket() -> None:
    """PROTOCOL.md §5: the old socket must be closed before a new one with the
    same clientId opens; leaving the block must really close it."""
    closed = asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        await ws.wait_closed()
        closed.set()

    async with comfy_like_server(script) as url:
        async with ComfySocket(url):
            pass
        await asyncio.wait_for(closed.wait(), timeout=2)


async def test_using_an_unopened_socket_is_a_programming_error() -> None:
    sock = ComfySocket("ws://127.0.0.1:1/ws")
    with pytest.raises(RuntimeError):
        await sock.recv()
    with pytest.raises(RuntimeError):
        async for _ in sock:
            pass
