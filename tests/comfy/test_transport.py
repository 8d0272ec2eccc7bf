"""ComfyClient's production transport (aiohttp, jobs.comfy.transport) against a real local
HTTP server: answers, streams, and each failure mapped to the client's errors."""

from __future__ import annotations

import asyncio
import io
import socket

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from jobs.comfy import ComfyClient
from jobs.comfy.errors import ComfyHTTPError, ComfyUnavailable, NotFound, ProtocolError, TooLarge

BIG = bytes(range(256)) * 1024  # 256 KiB, several chunks


async def _stats(request: web.Request) -> web.Response:
    assert request.headers["Comfy-Usage-Source"] == "comfyweb"
    return web.json_response({"system": {"comfyui_version": "0.3.64"}, "devices": []})


async def _prompt(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"prompt_id": body["prompt_id"], "number": 7, "node_errors": {}})


async def _upload(request: web.Request) -> web.Response:
    form = await request.post()
    image = form["image"]
    assert isinstance(image, web.FileField) and image.file.read() == b"\x89PNG-bytes"
    return web.json_response({"name": image.filename, "subfolder": form["subfolder"], "type": form["type"]})


async def _view(request: web.Request) -> web.StreamResponse:
    if request.query["filename"] == "missing.png":
        return web.json_response({}, status=404)
    if request.query["filename"] == "broken.png":
        return web.Response(status=500, text="boom")
    return web.Response(body=BIG, content_type="image/png")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.json_response({})


async def _not_json(request: web.Request) -> web.Response:
    return web.Response(text="not json")


async def _forbidden(request: web.Request) -> web.Response:
    return web.Response(status=403, text="no")


@pytest.fixture
async def server():
    app = web.Application()
    app.router.add_get("/system_stats", _stats)
    app.router.add_post("/prompt", _prompt)
    app.router.add_post("/upload/image", _upload)
    app.router.add_get("/view", _view)
    app.router.add_get("/queue", _slow)
    app.router.add_get("/features", _not_json)
    app.router.add_get("/object_info", _forbidden)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield f"http://127.0.0.1:{test_server.port}"
    await test_server.close()


async def test_answers_uploads_and_prompts(server):
    async with ComfyClient(server) as comfy:
        assert (await comfy.system_stats())["system"]["comfyui_version"] == "0.3.64"
        uploaded = await comfy.upload_image(b"\x89PNG-bytes", "in.png", subfolder="sub")
        assert (uploaded.name, uploaded.subfolder) == ("in.png", "sub")
        queued = await comfy.queue_prompt({"1": {}}, prompt_id="p-1", client_id="c")
        assert (queued.prompt_id, queued.number) == ("p-1", 7)
        assert await comfy.view("x.png") == BIG


async def test_a_stream_arrives_whole_and_is_bounded(server):
    async with ComfyClient(server) as comfy:
        sink = io.BytesIO()
        assert await comfy.view_to(sink, "x.png", limit=len(BIG)) == len(BIG) and sink.getvalue() == BIG
        with pytest.raises(TooLarge):
            await comfy.view_to(io.BytesIO(), "x.png", limit=1000)
        with pytest.raises(NotFound):
            await comfy.view_to(io.BytesIO(), "missing.png", limit=10)
        with pytest.raises(ComfyUnavailable):
            await comfy.view_to(io.BytesIO(), "broken.png", limit=10)


async def test_statuses_and_bodies_map_to_the_clients_errors(server):
    async with ComfyClient(server) as comfy:
        with pytest.raises(ProtocolError):
            await comfy.features()
        with pytest.raises(ComfyHTTPError) as refused:
            await comfy.object_info()
        assert refused.value.status == 403
        with pytest.raises(ComfyUnavailable):
            await comfy.view("broken.png")


async def test_a_slow_server_times_out_and_a_closed_port_is_unavailable(server):
    async with ComfyClient(server, timeout=0.3) as comfy:
        with pytest.raises(ComfyUnavailable, match="timed out"):
            await comfy.get_queue()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens
    async with ComfyClient(f"http://127.0.0.1:{port}") as comfy:
        with pytest.raises(ComfyUnavailable):
            await comfy.system_stats()
        sink = io.BytesIO()
        with pytest.raises(ComfyUnavailable):
            await comfy.view_to(sink, "x.png", limit=10)
