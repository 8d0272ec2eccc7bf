"""Focused behaviour of the simulator: the protocol quirks a client must cope with,
real execution with Pillow, and the /_sim/ fault controls."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from simulator.node_base import ONE_MINUS
from simulator.testing import RunningSimulator, running_simulator

ROOT = Path(__file__).resolve().parents[2]


def gradient_png(alpha: bool = False) -> bytes:
    image = Image.new("RGBA" if alpha else "RGB", (8, 8))
    image.putdata(
        [(x * 32, y * 32, 128, 200) if alpha else (x * 32, y * 32, 128) for y in range(8) for x in range(8)]
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def invert_graph(image: str, prefix: str = "t/invert") -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def slow_graph(image: str, steps: int = 40, seconds: float = 0.02) -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {
            "class_type": "SimSampler",
            "inputs": {"image": ["1", 0], "steps": steps, "seconds_per_step": seconds, "preview": False},
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


class Api:
    """A tiny ComfyUI client for these tests."""

    def __init__(self, sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.sim.url + path, **kwargs) as response:
            body = await response.read()
            if response.content_type == "application/json":
                return response.status, json.loads(body)
            return response.status, body

    async def upload(self, data: bytes, name: str, **fields: str) -> tuple[int, Any]:
        form = aiohttp.FormData()
        for key, value in fields.items():
            form.add_field(key, value)
        form.add_field("image", data, filename=name, content_type="image/png")
        return await self.call("POST", "/upload/image", data=form)

    async def queue(
        self, prompt: dict[str, Any], client_id: str | None = None, **extra: Any
    ) -> tuple[int, Any]:
        body: dict[str, Any] = {"prompt": prompt, "prompt_id": str(uuid.uuid4()), **extra}
        if client_id is not None:
            body["client_id"] = client_id
        return await self.call("POST", "/prompt", json=body)

    async def history(self, prompt_id: str, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                _, body = await self.call("GET", f"/history/{prompt_id}")
                if body:
                    return body[prompt_id]
                await asyncio.sleep(0.01)

    async def socket(self, client_id: str | None = None) -> Socket:
        ws = await self.session.ws_connect(self.sim.ws_url(client_id))
        return Socket(ws)


class Socket:
    """Collects frames in the background."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[Any] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            self.frames.append(json.loads(msg.data) if msg.type == aiohttp.WSMsgType.TEXT else msg.data)

    def types(self) -> list[str]:
        return [f["type"] if isinstance(f, dict) else "binary" for f in self.frames]

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not any(isinstance(f, dict) and predicate(f) for f in self.frames):
                await asyncio.sleep(0.005)

    async def wait_done(self, prompt_id: str) -> None:
        await self.wait_for(
            lambda f: f["type"] == "executing" and f["data"] == {"node": None, "prompt_id": prompt_id}
        )

    async def close(self) -> None:
        await self.ws.close()
        await self.task


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with running_simulator() as sim, aiohttp.ClientSession() as session:
        yield Api(sim, session)


@pytest.fixture
async def image(api: Api) -> str:
    status, body = await api.upload(gradient_png(), "gradient.png")
    assert status == 200
    return body["name"]


# --- /prompt --------------------------------------------------------------------------------


async def test_partial_acceptance_runs_only_the_valid_output(api: Api, image: str) -> None:
    prompt = {
        **invert_graph(image),
        "4": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "x"}},
        "5": {"class_type": "ImageInvert", "inputs": {}},
    }
    status, body = await api.queue(prompt)
    assert status == 200
    assert body["node_errors"]["5"]["errors"][0]["type"] == "required_input_missing"
    assert body["node_errors"]["5"]["dependent_outputs"] == ["4"]
    entry = await api.history(body["prompt_id"])
    assert list(entry["outputs"]) == ["3"]
    assert entry["prompt"][4] == ["3"]


async def test_every_output_failing_is_a_400_with_node_errors(api: Api, image: str) -> None:
    prompt = invert_graph(image)
    prompt["2"]["inputs"]["image"] = ["1", 1]  # MASK into IMAGE
    status, body = await api.queue(prompt)
    assert status == 400
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["node_errors"]["2"]["errors"][0]["type"] == "return_type_mismatch"


async def test_non_json_prompt_body_is_a_plain_500(api: Api) -> None:
    status, body = await api.call("POST", "/prompt", data=b"not json")
    assert status == 500
    assert body.startswith(b"500 Internal Server Error")


async def test_number_counts_every_prompt_and_front_is_negative(api: Api, image: str) -> None:
    _, first = await api.queue(invert_graph(image))
    await api.call("POST", "/prompt", json={"client_id": "x"})  # no_prompt still takes a number
    _, third = await api.queue(invert_graph(image), front=True)
    assert (first["number"], third["number"]) == (0, -2)


# --- execution ------------------------------------------------------------------------------


async def test_invert_really_inverts_the_pixels(api: Api, image: str) -> None:
    _, body = await api.queue(invert_graph(image))
    entry = await api.history(body["prompt_id"])
    picture = entry["outputs"]["3"]["images"][0]
    status, png = await api.call(
        "GET", f"/view?filename={picture['filename']}&subfolder={picture['subfolder']}&type=output"
    )
    assert status == 200
    original = Image.open(io.BytesIO(gradient_png())).convert("RGB")
    inverted = Image.open(io.BytesIO(png)).convert("RGB")
    for xy in [(0, 0), (3, 5), (7, 7)]:
        # 1.0 - x in float32, truncated when saved: 255 - c, or one less (see ONE_MINUS).
        assert inverted.getpixel(xy) == tuple(ONE_MINUS[c] for c in original.getpixel(xy))


async def test_save_image_prefix_with_subfolder_names_and_counts(api: Api, image: str) -> None:
    names = []
    for prefix in ("a/b", "a/b", "plain"):
        prompt = invert_graph(image, prefix)
        prompt["2"] = {
            "class_type": "ImageBlur",
            "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 0.1 * (len(names) + 1)},
        }
        _, body = await api.queue(prompt)
        names.append((await api.history(body["prompt_id"]))["outputs"]["3"]["images"][0])
    assert names == [
        {"filename": "b_00001_.png", "subfolder": "a", "type": "output"},
        {"filename": "b_00002_.png", "subfolder": "a", "type": "output"},
        {"filename": "plain_00001_.png", "subfolder": "", "type": "output"},
    ]
    assert (api.sim.data_dir / "output" / "a" / "b_00002_.png").is_file()


async def test_identical_graph_is_cached_with_the_same_filename_and_no_new_file(api: Api, image: str) -> None:
    sock = await api.socket("c1")
    _, first = await api.queue(invert_graph(image), client_id="c1")
    await sock.wait_done(first["prompt_id"])
    sock.frames.clear()
    _, second = await api.queue(invert_graph(image), client_id="c1")
    await sock.wait_done(second["prompt_id"])
    cached = next(f for f in sock.frames if f["type"] == "execution_cached")
    assert cached["data"]["nodes"] == ["1", "2", "3"]
    assert "executing" not in [
        t for t, f in zip(sock.types(), sock.frames, strict=True) if f["data"].get("node")
    ]
    one = (await api.history(first["prompt_id"]))["outputs"]
    two = (await api.history(second["prompt_id"]))["outputs"]
    assert one == two
    assert len(list((api.sim.data_dir / "output" / "t").iterdir())) == 1
    await sock.close()


async def test_new_bytes_under_the_same_name_invalidate_the_cache(api: Api, image: str) -> None:
    _, first = await api.queue(invert_graph(image))
    await api.history(first["prompt_id"])
    await api.upload(gradient_png(alpha=True), image, overwrite="true")
    _, second = await api.queue(invert_graph(image))
    entry = await api.history(second["prompt_id"])
    assert entry["status"]["messages"][1][1]["nodes"] == []
    assert entry["outputs"]["3"]["images"][0]["filename"] == "invert_00002_.png"


async def test_image_to_mask_alpha_on_rgb_fails_like_comfyui(api: Api, image: str) -> None:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "ImageToMask", "inputs": {"image": ["1", 0], "channel": "alpha"}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "m"}},
    }
    _, body = await api.queue(prompt)
    entry = await api.history(body["prompt_id"])
    assert entry["status"]["status_str"] == "error"
    event, data = entry["status"]["messages"][-1]
    assert event == "execution_error"
    assert data["exception_type"] == "IndexError"
    assert data["exception_message"] == "index 3 is out of bounds for dimension 3 with size 3\n"


# --- upload ---------------------------------------------------------------------------------


async def test_upload_renames_only_when_the_bytes_differ(api: Api) -> None:
    assert (await api.upload(gradient_png(), "in.png"))[1]["name"] == "in.png"
    assert (await api.upload(gradient_png(), "in.png"))[1]["name"] == "in.png"
    assert (await api.upload(gradient_png(alpha=True), "in.png"))[1]["name"] == "in (1).png"
    assert (await api.upload(gradient_png(alpha=True), "in.png", overwrite="true"))[1]["name"] == "in.png"
    assert (await api.upload(gradient_png(), "x.png", subfolder="../.."))[0] == 400
    form = aiohttp.FormData()
    form.add_field("overwrite", "true")
    assert await api.call("POST", "/upload/image", data=form) == (400, b"")


async def test_view_rejects_paths_that_escape(api: Api, image: str) -> None:
    assert (await api.call("GET", "/view?filename=../x.png&type=input"))[0] == 400
    assert (await api.call("GET", f"/view?filename={image}&subfolder=../..&type=input"))[0] == 403
    assert await api.call("GET", "/view?filename=nothing.png") == (404, b"")


# --- queue, interrupt -----------------------------------------------------------------------


async def test_targeted_interrupt_of_a_queued_prompt_has_no_effect(api: Api, image: str) -> None:
    sock = await api.socket("c1")
    _, running = await api.queue(slow_graph(image, steps=5), client_id="c1")
    _, queued = await api.queue(slow_graph(image, steps=2, seconds=0.01), client_id="c1")
    await sock.wait_for(lambda f: f["type"] == "progress")
    assert await api.call("POST", "/interrupt", json={"prompt_id": queued["prompt_id"]}) == (200, b"")
    assert (await api.history(running["prompt_id"]))["status"]["status_str"] == "success"
    assert (await api.history(queued["prompt_id"]))["status"]["status_str"] == "success"
    await sock.close()


async def test_targeted_interrupt_of_the_running_prompt_stops_it_at_the_next_tick(
    api: Api, image: str
) -> None:
    sock = await api.socket("c1")
    _, running = await api.queue(slow_graph(image), client_id="c1")
    await sock.wait_for(lambda f: f["type"] == "progress")
    await api.call("POST", "/interrupt", json={"prompt_id": running["prompt_id"]})
    await sock.wait_done(running["prompt_id"])
    assert sock.types()[-3:] == ["execution_interrupted", "status", "executing"]
    entry = await api.history(running["prompt_id"])
    assert (entry["status"]["status_str"], entry["status"]["completed"]) == ("error", False)
    await sock.close()


async def test_global_interrupt_stops_whoever_runs_and_the_next_job_starts(api: Api, image: str) -> None:
    other = await api.socket("other")
    _, first = await api.queue(slow_graph(image), client_id="other")
    _, second = await api.queue(slow_graph(image, steps=2, seconds=0.01), client_id="other")
    await other.wait_for(lambda f: f["type"] == "progress")
    assert await api.call("POST", "/interrupt") == (200, b"")
    assert (await api.history(first["prompt_id"]))["status"]["messages"][-1][0] == "execution_interrupted"
    assert (await api.history(second["prompt_id"]))["status"]["status_str"] == "success"
    await other.close()


async def test_an_interrupt_between_nodes_lands_when_the_next_node_starts() -> None:
    async with running_simulator(delay=0.1) as sim, aiohttp.ClientSession() as session:
        api = Api(sim, session)
        await api.upload(gradient_png(), "g.png")
        sock = await api.socket("c1")
        _, body = await api.queue(invert_graph("g.png"), client_id="c1")
        await sock.wait_for(lambda f: f["type"] == "executing" and f["data"].get("node") == "2")
        await api.call("POST", "/interrupt", json={})
        await sock.wait_done(body["prompt_id"])
        interrupted = next(f for f in sock.frames if f["type"] == "execution_interrupted")
        assert interrupted["data"]["node_id"] == "3"
        assert sorted(interrupted["data"]["executed"]) == ["1", "2"]
        await sock.close()


async def test_a_deleted_queued_prompt_leaves_no_trace(api: Api, image: str) -> None:
    sock = await api.socket("c1")
    _, running = await api.queue(slow_graph(image, steps=5), client_id="c1")
    _, doomed = await api.queue(slow_graph(image, steps=2, seconds=0.011), client_id="c1")
    assert await api.call("POST", "/queue", json={"delete": [doomed["prompt_id"], "unknown"]}) == (200, b"")
    _, queue = await api.call("GET", "/queue")
    assert [item[1] for item in queue["queue_pending"]] == []
    await sock.wait_done(running["prompt_id"])
    await asyncio.sleep(0.1)
    assert await api.call("GET", f"/history/{doomed['prompt_id']}") == (200, {})
    assert not any(
        isinstance(f, dict) and f["data"].get("prompt_id") == doomed["prompt_id"] for f in sock.frames
    )
    await sock.close()


# --- sockets --------------------------------------------------------------------------------


async def test_duplicate_client_id_orphans_the_newer_socket_when_the_older_closes(
    api: Api, image: str
) -> None:
    older = await api.socket("dup")
    newer = await api.socket("dup")
    _, first = await api.queue(slow_graph(image, steps=3, seconds=0.01), client_id="dup")
    await newer.wait_done(first["prompt_id"])
    assert older.types() == ["status"]  # only its on-connect frame: the newer took over
    await older.close()
    newer.frames.clear()
    _, second = await api.queue(slow_graph(image, steps=2, seconds=0.01), client_id="dup")
    await api.history(second["prompt_id"])
    await asyncio.sleep(0.05)
    assert newer.frames == []  # orphaned: not even status broadcasts
    assert not newer.ws.closed
    await newer.close()


async def test_reconnect_mid_run_gets_the_current_node_without_prompt_id(api: Api, image: str) -> None:
    first = await api.socket("r")
    _, body = await api.queue(slow_graph(image, steps=10), client_id="r")
    await first.wait_for(lambda f: f["type"] == "progress")
    await first.close()
    second = await api.socket("r")
    await second.wait_done(body["prompt_id"])
    assert second.frames[1] == {"type": "executing", "data": {"node": "2"}}
    await second.close()


async def test_prompt_without_client_id_broadcasts_only_unguarded_frames(api: Api, image: str) -> None:
    watcher = await api.socket("watcher")
    anonymous = await api.socket()
    graph = slow_graph(image, steps=2, seconds=0.01)
    graph["2"]["inputs"]["preview"] = True
    _, body = await api.queue(graph)
    await api.history(body["prompt_id"])
    await asyncio.sleep(0.05)
    for sock in (watcher, anonymous):
        assert set(sock.types()) == {"status", "progress_state", "progress", "binary"}
        assert all(f[:4] == b"\x00\x00\x00\x01" for f in sock.frames if isinstance(f, bytes))
    assert len(anonymous.frames[0]["data"]["sid"]) == 32
    await watcher.close()
    await anonymous.close()


async def test_feature_flags_switch_previews_to_type_4_with_prompt_id(api: Api, image: str) -> None:
    sock = await api.socket("flags")
    await sock.ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    await sock.wait_for(lambda f: f["type"] == "feature_flags")
    graph = slow_graph(image, steps=2, seconds=0.01)
    graph["2"]["inputs"]["preview"] = True
    _, body = await api.queue(graph, client_id="flags")
    await sock.wait_done(body["prompt_id"])
    previews = [f for f in sock.frames if isinstance(f, bytes)]
    assert len(previews) == 2 and all(f[:4] == b"\x00\x00\x00\x04" for f in previews)
    length = int.from_bytes(previews[0][4:8], "big")
    assert json.loads(previews[0][8 : 8 + length])["prompt_id"] == body["prompt_id"]
    await sock.close()


async def test_api_prefix_serves_the_same_routes(api: Api) -> None:
    assert await api.call("GET", "/api/features") == await api.call("GET", "/features")
    assert (await api.call("GET", "/api/object_info/ImageInvert"))[1]["ImageInvert"][
        "python_module"
    ] == "nodes"
    async with api.session.ws_connect(api.sim.ws_url("api-client", api=True)) as ws:
        first = await ws.receive_json()
        assert first["data"]["sid"] == "api-client"


# --- fault controls -------------------------------------------------------------------------


async def test_http_500_fault_breaks_every_real_route_but_not_the_controls(api: Api) -> None:
    await api.sim.set_faults(http_500=True)
    assert (await api.call("GET", "/system_stats"))[0] == 500
    assert (await api.call("GET", "/api/queue"))[0] == 500
    _, faults = await api.call("GET", "/_sim/faults")
    assert faults["http_500"] is True
    await api.sim.reset()
    assert (await api.call("GET", "/system_stats"))[0] == 200


async def test_stall_ws_keeps_executing_without_frames(api: Api, image: str) -> None:
    sock = await api.socket("c1")
    await api.sim.set_faults(stall_ws=True)
    _, body = await api.queue(invert_graph(image), client_id="c1")
    assert (await api.history(body["prompt_id"]))["status"]["status_str"] == "success"
    assert sock.types() == ["status"]
    await sock.close()


async def test_slow_history_and_runtime_delay(api: Api, image: str) -> None:
    await api.sim.set_faults(slow_history=0.2, delay=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await api.call("GET", "/history")
    assert loop.time() - started >= 0.2
    _, body = await api.queue(invert_graph(image))
    started = loop.time()
    await api.history(body["prompt_id"])
    assert loop.time() - started >= 0.15  # three nodes, 0.05 s each


async def test_drop_sockets_closes_every_socket(api: Api) -> None:
    sock = await api.socket("c1")
    await api.sim.set_faults(drop_sockets=True)
    await asyncio.wait_for(sock.task, 2)
    assert sock.ws.closed


async def test_lose_queue_forgets_pending_and_history_like_a_restart(api: Api, image: str) -> None:
    _, done = await api.queue(invert_graph(image))
    await api.history(done["prompt_id"])
    _, running = await api.queue(slow_graph(image, steps=50))
    _, pending = await api.queue(slow_graph(image, steps=2))
    await api.sim.set_faults(lose_queue=True)
    await asyncio.sleep(0.1)
    assert await api.call("GET", "/queue") == (200, {"queue_running": [], "queue_pending": []})
    for prompt_id in (done["prompt_id"], running["prompt_id"], pending["prompt_id"]):
        assert await api.call("GET", f"/history/{prompt_id}") == (200, {})
    _, again = await api.queue(invert_graph(image))
    assert again["number"] == 0


async def test_die_stops_the_server() -> None:
    async with running_simulator() as sim, aiohttp.ClientSession() as session:
        async with session.post(f"{sim.url}/_sim/faults", json={"die": True}) as response:
            assert response.status == 200
        await sim.wait_dead()
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(f"{sim.url}/system_stats"):
                pass


def test_cli_prints_its_address_and_serves(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--data-dir", str(tmp_path), "--name", "cli"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        assert (tmp_path / "input").is_dir()
    finally:
        process.terminate()
        process.wait(5)
