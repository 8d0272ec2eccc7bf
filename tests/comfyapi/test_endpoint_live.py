"""The pool as one ComfyUI server, tried with real clients against simulators (issue X)."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import time
import uuid

import httpx
import pytest
import websockets
from comfy_api_simplified import ComfyApiWrapper, ComfyWorkflowWrapper
from PIL import Image

from tests.comfyapi.conftest import INVERT, Endpoint
from tests.factories import png_bytes

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("comfyapi")]


def inverted(result: bytes, source: bytes) -> bool:
    got = Image.open(io.BytesIO(result)).convert("RGB")
    original = Image.open(io.BytesIO(source)).convert("RGB")
    return got.size == original.size and all(
        abs(a + b - 255) <= 1
        for xy in [(0, 0), (original.width - 1, original.height - 1)]
        for a, b in zip(got.getpixel(xy), original.getpixel(xy), strict=True)
    )


def wait_for_pool(endpoint: Endpoint) -> None:
    """Until the relay has read the simulators' node definitions."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "LoadImage" in httpx.get(f"{endpoint.url}/object_info/LoadImage").json():
            return
        time.sleep(0.2)
    raise AssertionError("the pool's /object_info stayed empty")


def upload(endpoint: Endpoint, data: bytes, name: str = "in.png", **fields: str) -> dict:
    answer = httpx.post(f"{endpoint.url}/upload/image", files={"image": (name, data)}, data=fields)
    assert answer.status_code == 200, answer.text
    return answer.json()


def invert_graph(image_name: str) -> dict:
    graph = copy.deepcopy(INVERT)
    graph["1"]["inputs"]["image"] = image_name
    return graph


def test_comfy_api_simplified_runs_a_graph_on_the_pool_and_gets_the_inverted_image(endpoint, tmp_path):
    wait_for_pool(endpoint)
    source = png_bytes(12, 9, (40, 90, 200))
    path = tmp_path / "photo.png"
    path.write_bytes(source)
    api = ComfyApiWrapper(endpoint.url)
    sent = api.upload_image(path)  # subfolder "default_upload_folder", the library's default
    assert sent == {"name": "photo.png", "subfolder": "default_upload_folder", "type": "input"}
    workflow = ComfyWorkflowWrapper(copy.deepcopy(INVERT))
    workflow.set_node_param("Load Image", "image", f"{sent['subfolder']}/{sent['name']}")
    images = api.queue_and_wait_images(workflow, "Save Image")
    (result,) = images.values()
    assert inverted(result, source)
    # The result is in ComfyWeb's gallery of the anonymous identity, named for the client.
    assert "python-requests" in endpoint.app.manage(
        "shell",
        "-c",
        "from jobs.models import Job; print(Job.objects.get(workflow=None, status='succeeded').source)",
    )


def test_unknown_routes_answer_404_as_comfyui_and_the_app_is_not_on_this_port(endpoint):
    for path in ("/nope", "/api/nope", "/api/tabs/x/", "/admin/", "/healthz", "/jobs"):
        answer = httpx.get(endpoint.url + path)
        assert (answer.status_code, answer.text) == (404, "404: Not Found"), path
    assert httpx.get(endpoint.app.url + "/prompt").status_code == 404  # nor these on the app's port
    assert httpx.get(endpoint.url + "/object_info/NoSuchNode").json() == {}
    assert httpx.get(endpoint.url + "/api/embeddings").json() == []
    features = httpx.get(endpoint.url + "/features").json()
    assert features["supports_preview_metadata"] is True
    stats = httpx.get(endpoint.url + "/api/system_stats").json()
    assert stats["system"]["comfyui_version"] == "0.3.64"  # the oldest of the pool
    assert len(stats["devices"]) == 2  # one per simulator


HOSTILE = [b"not json", b"[1, 2]", b'"x"', b"{", b"[" * 5000, json.dumps({"prompt": "x"}).encode()]


def test_hostile_bodies_get_comfyui_shaped_errors_never_a_500(endpoint):
    wait_for_pool(endpoint)
    for body in HOSTILE:
        answer = httpx.post(f"{endpoint.url}/prompt", content=body)
        assert answer.status_code == 400, body[:20]
        assert set(answer.json()) == {"error", "node_errors"}
    answer = httpx.post(f"{endpoint.url}/prompt", json={"client_id": "x"})
    assert answer.json()["error"]["type"] == "no_prompt"
    for path in ("/queue", "/interrupt", "/history", "/api/jobs/cancel"):
        for body in HOSTILE:
            assert httpx.post(endpoint.url + path, content=body).status_code < 500, (path, body[:20])
    assert httpx.post(f"{endpoint.url}/upload/image", data={"subfolder": "x"}).status_code == 400
    bad = httpx.post(f"{endpoint.url}/upload/image", files={"image": ("a.png", b"no image")})
    assert bad.status_code == 400
    escape = httpx.post(
        f"{endpoint.url}/upload/image", files={"image": ("a.png", png_bytes())}, data={"subfolder": "../up"}
    )
    assert escape.status_code == 400
    for query in ("filename=../x&type=output", "filename=x.png&subfolder=nope", "filename=a.png&type=input"):
        assert httpx.get(f"{endpoint.url}/view?{query}").status_code in (400, 404)
    assert httpx.get(f"{endpoint.url}/api/jobs?limit=x").status_code == 400


def test_graphs_that_do_not_fit_the_pool_are_refused_with_comfyuis_400(endpoint):
    wait_for_pool(endpoint)
    unknown = {"1": {"class_type": "NoSuchNode", "inputs": {}}}
    answer = httpx.post(f"{endpoint.url}/prompt", json={"prompt": unknown}).json()
    assert answer["error"]["type"] == "invalid_prompt"
    assert answer["error"]["message"] == "Cannot execute because node NoSuchNode does not exist."
    never = httpx.post(f"{endpoint.url}/prompt", json={"prompt": invert_graph("never-uploaded.png")}).json()
    assert never["error"]["type"] == "prompt_outputs_failed_validation"
    (error,) = never["node_errors"]["1"]["errors"]
    assert error["type"] == "custom_validation_failed"
    assert "Invalid image file: never-uploaded.png" in error["details"]
    ranged = invert_graph(upload(endpoint, png_bytes())["name"])
    ranged["4"] = {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 99, "sigma": 1.0}}
    ranged["5"] = {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "b"}}
    answer = httpx.post(f"{endpoint.url}/prompt", json={"prompt": ranged}).json()
    assert answer["node_errors"]["4"]["errors"][0]["type"] == "value_bigger_than_max"
    model = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "nowhere.safetensors"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    answer = httpx.post(f"{endpoint.url}/prompt", json={"prompt": model}).json()
    assert answer["node_errors"]["1"]["errors"][0]["type"] == "value_not_in_list"


async def _frames(ws, prompt_id: str, timeout: float = 30) -> list[dict]:
    """Text frames until this prompt's final `executing` with node null."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            raw = await ws.recv()
            if isinstance(raw, bytes):
                seen.append({"type": "binary"})
                continue
            frame = json.loads(raw)
            seen.append(frame)
            data = frame.get("data", {})
            if (
                frame["type"] == "executing"
                and data.get("node") is None
                and data.get("prompt_id") == prompt_id
            ):
                return seen


async def test_two_clients_hear_only_their_own_prompts_and_an_interrupt_spares_the_other(endpoint):
    await asyncio.to_thread(wait_for_pool, endpoint)
    name = await asyncio.to_thread(lambda: upload(endpoint, png_bytes(9, 9))["name"])
    async with (
        websockets.connect(f"{endpoint.ws}/ws?clientId=alice") as alice,
        websockets.connect(f"{endpoint.ws}/api/ws?clientId=bob") as bob,
    ):
        for ws, who in ((alice, "alice"), (bob, "bob")):
            hello = json.loads(await ws.recv())
            assert hello == {
                "type": "status",
                "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": who},
            }
        wanted = str(uuid.uuid4())
        async with httpx.AsyncClient(base_url=endpoint.url) as http:
            first = await http.post(
                "/prompt", json={"prompt": invert_graph(name), "client_id": "alice", "prompt_id": wanted}
            )
            assert first.json()["prompt_id"] == wanted  # a fresh canonical UUID is kept
            again = await http.post(
                "/prompt", json={"prompt": invert_graph(name), "client_id": "bob", "prompt_id": wanted}
            )
            theirs = again.json()["prompt_id"]
            assert theirs != wanted  # used before: a new id, as ComfyUI answers with its own
            # Slow enough (a chain of blurs, 0.15 s a node) that the interrupt lands while it
            # runs, even on a loaded machine.
            slow = invert_graph(name)
            previous = ["2", 0]
            for node in range(10, 22):
                slow[str(node)] = {
                    "class_type": "ImageBlur",
                    "inputs": {"image": previous, "blur_radius": 3, "sigma": 1.0},
                }
                previous = [str(node), 0]
            slow["5"] = {"class_type": "SaveImage", "inputs": {"images": previous, "filename_prefix": "slow"}}
            frames_alice = await _frames(alice, wanted)
            frames_bob = await _frames(bob, theirs)
            for frames, mine, other in ((frames_alice, wanted, theirs), (frames_bob, theirs, wanted)):
                ids = {f["data"].get("prompt_id") for f in frames if isinstance(f.get("data"), dict)}
                assert other not in ids and mine in ids
                kinds = [f["type"] for f in frames]
                assert (
                    kinds.index("execution_start")
                    < kinds.index("executed")
                    < kinds.index("execution_success")
                )
                assert kinds[-3:] == ["execution_success", "status", "executing"]
                assert frames[-2]["data"]["status"]["exec_info"]["queue_remaining"] == 0
                executed = next(f for f in frames if f["type"] == "executed")["data"]["output"]["images"][0]
                view = await http.get("/view", params=executed)
                assert view.status_code == 200 and view.content.startswith(b"\x89PNG")
            history = (await http.get(f"/history/{wanted}")).json()[wanted]
            assert history["status"]["status_str"] == "success"
            assert history["prompt"][3] == {"client_id": "alice"}
            # An interrupt naming Alice's running prompt stops hers, never Bob's.
            a = (await http.post("/prompt", json={"prompt": slow, "client_id": "alice"})).json()["prompt_id"]
            b = (await http.post("/prompt", json={"prompt": slow, "client_id": "bob"})).json()["prompt_id"]
            deadline = time.monotonic() + 20
            while (await http.get(f"/api/jobs/{a}")).json()["status"] != "in_progress":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await http.post("/interrupt", json={"prompt_id": a})
            await http.post("/interrupt")  # a bare interrupt names no client: it stops nothing
            ends_alice = await _frames(alice, a)
            ends_bob = await _frames(bob, b)
            assert "execution_interrupted" in [f["type"] for f in ends_alice]
            assert "execution_success" in [f["type"] for f in ends_bob]
            assert (await http.get(f"/api/jobs/{b}")).json()["status"] == "completed"
