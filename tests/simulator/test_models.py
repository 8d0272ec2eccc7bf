"""Model files in the simulator: what /object_info and /models list, the SD workflows running on
stand-ins, and the two missing-model behaviours of a real 0.3.64 server.

The real server's answers are in tests/fixtures/comfyui/object_info (a whole /object_info with
model files, and the missing-models trace) and tests/fixtures/comfyui/workflows.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from simulator.__main__ import parse_args
from simulator.models import FOLDER_NAMES
from simulator.nodes import NODES
from simulator.testing import RunningSimulator, running_simulator
from tests.paths import FIXTURES, TRACES, WORKFLOWS
from tests.simulator.replay import Replay
from tests.simulator.test_trace_replay import compare_http, compare_socket

OBJECT_INFO = FIXTURES / "comfyui" / "object_info"

# The fake model files of the recorded server (object_info/README.md).
RECORDED_MODELS = {
    "checkpoints": [
        "v1-5-pruned-emaonly-fp16.safetensors",
        "sd_xl_base_1.0.safetensors",
        "sub/nested.safetensors",
    ],
    "loras": ["ink.safetensors"],
    "vae": ["ae.safetensors"],
    "upscale_models": ["RealESRGAN_x2.pth", "broken-empty.pth"],
    "text_encoders": ["t5xxl_fp8.safetensors"],
    "diffusion_models": ["flux1-dev.safetensors"],
    "controlnet": ["control_scribble.safetensors"],
    "clip_vision": ["clip_vision_g.safetensors"],
}

# Loader inputs that list model files: class -> input -> recorded files.
LOADER_INPUTS = {
    "CheckpointLoaderSimple": {"ckpt_name": "checkpoints"},
    "LoraLoader": {"lora_name": "loras"},
    "LoraLoaderModelOnly": {"lora_name": "loras"},
    "VAELoader": {"vae_name": "vae"},
    "UNETLoader": {"unet_name": "diffusion_models"},
    "CLIPLoader": {"clip_name": "text_encoders"},
    "DualCLIPLoader": {"clip_name1": "text_encoders", "clip_name2": "text_encoders"},
    "ControlNetLoader": {"control_net_name": "controlnet"},
    "CLIPVisionLoader": {"clip_name": "clip_vision"},
    "UpscaleModelLoader": {"model_name": "upscale_models"},
}

# Each exported workflow: the models it names, the sampler nodes with their step count, and the
# size of each output image (None: computed from the uploaded image in the test).
WORKFLOW_CASES: dict[str, dict[str, Any]] = {
    "default-txt2img": {"samplers": {"3": 20}, "sizes": {"9": (512, 512)}},
    "img2img": {"samplers": {"3": 20}, "sizes": {"9": None}},
    "inpaint": {"samplers": {"3": 20}, "sizes": {"9": None}},
    "hiresfix-latent-2pass": {"samplers": {"3": 12, "11": 14}, "sizes": {"12": (768, 768), "18": (512, 512)}},
    "sdxl-base-refiner": {"samplers": {"10": 20, "11": 5}, "sizes": {"19": (1024, 1024)}},
    "upscale-esrgan": {"samplers": {"3": 20}, "sizes": {"9": (2048, 2048), "16": (512, 512)}},
}
UPLOAD_SIZE = (96, 64)


def recorded_object_info() -> dict[str, Any]:
    info: dict[str, Any] = json.loads((OBJECT_INFO / "0.3.64.object_info.json").read_text())
    return info


def load_workflow(name: str) -> dict[str, Any]:
    workflow: dict[str, Any] = json.loads((WORKFLOWS / f"{name}.api.json").read_text())
    return workflow


def workflow_models(prompt: dict[str, Any]) -> list[str]:
    """The model files a graph names, as folder/file entries."""
    folders = {"ckpt_name": "checkpoints", "model_name": "upscale_models", "lora_name": "loras"}
    return [
        f"{folders[key]}/{value}"
        for node in prompt.values()
        for key, value in node["inputs"].items()
        if key in folders and isinstance(value, str)
    ]


def png(size: tuple[int, int] = UPLOAD_SIZE, alpha: bool = False) -> bytes:
    """An RGB gradient; with alpha, a transparent hole in the middle (an inpainting mask)."""
    image = Image.new("RGBA", size)
    width, height = size
    image.putdata(
        [
            (x * 255 // width, y * 255 // height, 90, 0 if alpha and abs(x - width // 2) < 16 else 255)
            for y in range(height)
            for x in range(width)
        ]
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Client:
    """Just enough of a ComfyUI client: queue, watch the socket until the job ends, view."""

    def __init__(self, sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.sim.url + path) as response:
            body = await response.read()
            is_json = response.content_type == "application/json"
            return response.status, json.loads(body) if is_json else body

    async def upload(self, name: str, data: bytes) -> None:
        form = aiohttp.FormData()
        form.add_field("image", data, filename=name, content_type="image/png")
        async with self.session.post(f"{self.sim.url}/upload/image", data=form) as response:
            assert response.status == 200
            assert (await response.json())["name"] == name

    async def post_prompt(self, prompt: dict[str, Any], client_id: str = "c") -> tuple[int, Any]:
        body = {"prompt": prompt, "prompt_id": str(uuid.uuid4()), "client_id": client_id}
        async with self.session.post(f"{self.sim.url}/prompt", json=body) as response:
            return response.status, await response.json()

    async def run(self, prompt: dict[str, Any], timeout: float = 20.0) -> tuple[list[Any], dict[str, Any]]:
        """Queue ``prompt`` with a socket open; every frame until executing{node: null}, and
        the history entry."""
        client_id = str(uuid.uuid4())
        frames: list[Any] = []
        async with self.session.ws_connect(self.sim.ws_url(client_id)) as ws:
            status, body = await self.post_prompt(prompt, client_id)
            assert status == 200, body
            prompt_id = body["prompt_id"]
            async with asyncio.timeout(timeout):
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        frames.append(msg.data)
                        continue
                    frame = json.loads(msg.data)
                    frames.append(frame)
                    if frame["type"] == "executing" and frame["data"] == {
                        "node": None,
                        "prompt_id": prompt_id,
                    }:
                        break
        _, history = await self.get(f"/history/{prompt_id}")
        return frames, history[prompt_id]

    async def image(self, ref: dict[str, str]) -> Image.Image:
        async with self.session.get(f"{self.sim.url}/view", params=ref) as response:
            assert response.status == 200
            return Image.open(io.BytesIO(await response.read())).convert("RGB")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def files_in(entry: dict[str, Any], name: str) -> list[str]:
    spec = entry["input"]["required"][name]
    files: list[str] = spec[1]["options"] if spec[0] == "COMBO" else spec[0]
    return files


def texts(frames: list[Any], kind: str) -> list[dict[str, Any]]:
    return [f["data"] for f in frames if isinstance(f, dict) and f["type"] == kind]


# --- /object_info and /models -----------------------------------------------------------------


async def test_object_info_entries_equal_the_recorded_server_holding_the_same_files(
    session: aiohttp.ClientSession,
) -> None:
    recorded = recorded_object_info()
    async with running_simulator(models=RECORDED_MODELS) as sim:
        status, ours = await Client(sim, session).get("/object_info")
    assert status == 200
    for name in NODES:
        if name != "SimSampler":
            assert ours[name] == recorded[name], name
            assert list(ours[name]) == list(recorded[name]), f"{name}: key order"


async def test_without_models_every_loader_lists_nothing_in_its_own_shape(
    session: aiohttp.ClientSession,
) -> None:
    recorded = recorded_object_info()
    async with running_simulator() as sim:
        _, ours = await Client(sim, session).get("/object_info")
    for name, inputs in LOADER_INPUTS.items():
        expected = copy.deepcopy(recorded[name])
        for input_name in inputs:
            spec = expected["input"]["required"][input_name]
            if spec[0] == "COMBO":
                spec[1]["options"] = []
            else:
                spec[0] = ["pixel_space"] if name == "VAELoader" else []
        assert ours[name] == expected, name
    assert ours["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] == [
        [],
        {"tooltip": "The name of the checkpoint (model) to load."},
    ]
    assert ours["VAELoader"]["input"]["required"]["vae_name"] == [["pixel_space"]]
    assert ours["UpscaleModelLoader"]["input"]["required"]["model_name"] == [
        "COMBO",
        {"multiselect": False, "options": []},
    ]


async def test_aliases_subfolders_sorting_and_taesd(session: aiohttp.ClientSession) -> None:
    models = [
        "unet/flux.safetensors",
        "clip/t5.safetensors",
        "checkpoints/z.ckpt",
        "checkpoints/a/b/deep.safetensors",
        "vae_approx/taesd_decoder.pth",
        "vae_approx/taesd_encoder.pth",
        "vae_approx/taesdxl_decoder.pth",  # no encoder: no taesdxl
        "vae/kl.pt",
        "upscale_models/4x-UltraSharp.pth",
    ]
    async with running_simulator(models=models) as sim:
        client = Client(sim, session)
        _, info = await client.get("/object_info")
        assert files_in(info["UNETLoader"], "unet_name") == ["flux.safetensors"]
        assert files_in(info["DualCLIPLoader"], "clip_name2") == ["t5.safetensors"]
        assert files_in(info["CheckpointLoaderSimple"], "ckpt_name") == ["a/b/deep.safetensors", "z.ckpt"]
        assert files_in(info["VAELoader"], "vae_name") == ["kl.pt", "taesd", "pixel_space"]
        assert files_in(info["UpscaleModelLoader"], "model_name") == ["4x-UltraSharp.pth"]
        _, single = await client.get("/object_info/LoraLoaderModelOnly")
        assert files_in(single["LoraLoaderModelOnly"], "lora_name") == []
        assert await client.get("/models/diffusion_models") == (200, ["flux.safetensors"])
        assert await client.get("/api/models/vae") == (200, ["kl.pt"])  # no pixel_space here
        assert await client.get("/models/unet") == (404, b"")
        assert await client.get("/api/models") == (200, list(FOLDER_NAMES))


async def test_models_added_and_removed_at_runtime_show_at_once(session: aiohttp.ClientSession) -> None:
    async with running_simulator(models={"loras": ["old.safetensors"]}) as sim:
        client = Client(sim, session)
        changed = await sim.set_models(add=["loras/sub/new.safetensors"], remove=["loras/old.safetensors"])
        assert changed == {"loras": ["sub/new.safetensors"], "resident": [], "vram": None, "loads": 0}
        _, info = await client.get("/object_info/LoraLoader")
        assert files_in(info["LoraLoader"], "lora_name") == ["sub/new.safetensors"]
        only_a = {"checkpoints": ["a.safetensors"], "resident": [], "vram": None, "loads": 0}
        assert await sim.set_models(set={"checkpoints": ["a.safetensors"]}) == only_a
        assert await client.get("/models/loras") == (200, [])
        assert await client.get("/_sim/models") == (200, only_a)
        # A bad entry changes nothing and says why.
        for bad in ({"add": ["nofolder.safetensors"]}, {"add": ["loras/x.txt"]}, {"drop": []}, {"add": "x"}):
            async with session.post(f"{sim.url}/_sim/models", json=bad) as response:
                assert response.status == 400
                assert (await response.json())["error"]
        assert await client.get("/_sim/models") == (200, only_a)
        await sim.reset()  # model files outlive a restart
        assert await client.get("/models/checkpoints") == (200, ["a.safetensors"])


# --- the missing-models trace -----------------------------------------------------------------


def missing_models_trace() -> dict[str, Any]:
    """The recorded trace up to the broken-file prompts (the simulator's files have no
    contents to be broken), then its socket close."""
    trace: dict[str, Any] = json.loads((OBJECT_INFO / "0.3.64.missing-models.json").read_text())
    events = trace["events"]
    cut = next(i for i, e in enumerate(events) if e["dir"] == "note" and e["text"].startswith("(c)"))
    trace["events"] = [*events[:cut], events[-1]]
    assert trace["events"][-1]["dir"] == "ws-close-by-client"
    return trace


async def test_missing_models_trace_replays(session: aiohttp.ClientSession) -> None:
    trace = missing_models_trace()
    input_png = (TRACES / "input-8x8.png").read_bytes()
    async with running_simulator(models=RECORDED_MODELS) as sim:
        run = Replay(sim.url, trace, input_png)
        await run.run(session)
    for result in run.http:
        compare_http(result)
        event = result.event
        exact = event["path"].startswith(("/models", "/object_info/")) or event["status"] == 400
        if exact and "body" in event:
            assert json.loads(result.body) == event["body"], event["path"]
    compare_socket("missing-models", "A", run.expected_frames("A"), run.closed["A"].frames)
    recorded_errors = [
        f["msg"]["data"] for f in run.expected_frames("A") if f["msg"]["type"] == "execution_error"
    ]
    errors = [
        f["msg"]["data"] for f in run.closed["A"].frames if f.get("msg", {}).get("type") == "execution_error"
    ]
    assert len(errors) == len(recorded_errors) == 2
    for ours, real in zip(errors, recorded_errors, strict=True):
        for key in ("node_id", "node_type", "executed", "exception_message", "exception_type", "traceback"):
            assert ours[key] == real[key], key
        assert ours["current_inputs"] == real["current_inputs"]
        assert sorted(ours["current_outputs"]) == sorted(real["current_outputs"])


async def test_recorded_400s_of_the_exported_workflows_come_out_exactly(
    session: aiohttp.ClientSession,
) -> None:
    """With no model files (and no uploads), as the workflows were recorded."""
    async with running_simulator() as sim:
        client = Client(sim, session)
        for name in ("default-txt2img", "img2img", "inpaint", "hiresfix-latent-2pass", "sdxl-base-refiner"):
            recorded = json.loads((WORKFLOWS / f"{name}.prompt-response.json").read_text())
            status, body = await client.post_prompt(load_workflow(name))
            assert (status, body) == (recorded["status"], recorded["body"]), name


# --- the workflows run ------------------------------------------------------------------------


async def _prepare_inputs(client: Client, prompt: dict[str, Any]) -> None:
    for node in prompt.values():
        if node["class_type"] == "LoadImage":
            await client.upload(node["inputs"]["image"], png(alpha=True))


def _scaled_upload_size(prompt: dict[str, Any]) -> tuple[int, int]:
    """ImageScaleToTotalPixels of UPLOAD_SIZE, then the VAE's crop to multiples of 8."""
    megapixels = next(n["inputs"]["megapixels"] for n in prompt.values() if "megapixels" in n["inputs"])
    width, height = UPLOAD_SIZE
    scale = (int(megapixels * 1024 * 1024) / (width * height)) ** 0.5
    return round(width * scale) // 8 * 8, round(height * scale) // 8 * 8


@pytest.mark.parametrize("name", sorted(WORKFLOW_CASES))
async def test_exported_workflow_runs_on_an_instance_holding_its_models(
    name: str, session: aiohttp.ClientSession
) -> None:
    case = WORKFLOW_CASES[name]
    prompt = load_workflow(name)
    async with running_simulator(models=workflow_models(prompt)) as sim:
        client = Client(sim, session)
        await _prepare_inputs(client, prompt)
        frames, entry = await client.run(prompt)
        assert entry["status"]["status_str"] == "success", entry["status"]
        progress = texts(frames, "progress")
        for node_id, steps in case["samplers"].items():
            ticks = [p for p in progress if p["node"] == node_id]
            assert [p["value"] for p in ticks] == list(range(1, steps + 1)), node_id
            assert {p["max"] for p in ticks} == {steps}
            assert all(p["prompt_id"] == entry["prompt"][1] for p in ticks)
        previews = [f for f in frames if isinstance(f, bytes)]
        assert len(previews) == sum(case["samplers"].values())
        assert all(p[:4] == b"\x00\x00\x00\x01" and p[8:10] == b"\xff\xd8" for p in previews)  # type 1, JPEG
        assert sorted(entry["outputs"]) == sorted(case["sizes"])
        for node_id, size in case["sizes"].items():
            image = await client.image(entry["outputs"][node_id]["images"][0])
            assert image.size == (size or _scaled_upload_size(prompt)), node_id
            colours = image.resize((16, 16)).getcolors(256)
            assert colours is not None and len(colours) > 8, f"{node_id}: real pixels, not one colour"


async def test_seed_changes_the_pixels_and_the_same_graph_gives_the_same_image(
    session: aiohttp.ClientSession,
) -> None:
    prompt = load_workflow("default-txt2img")
    prompt["5"]["inputs"].update(width=128, height=96)
    other = copy.deepcopy(prompt)
    other["3"]["inputs"]["seed"] += 1
    images = []
    for graph in (prompt, other, prompt):
        async with running_simulator(models=workflow_models(prompt)) as sim:
            client = Client(sim, session)
            _, entry = await client.run(graph)
            images.append((await client.image(entry["outputs"]["9"]["images"][0])).tobytes())
    assert images[0] != images[1]
    assert images[0] == images[2]


async def test_lora_pass_through_needs_its_file_and_changes_the_image(session: aiohttp.ClientSession) -> None:
    prompt = load_workflow("default-txt2img")
    prompt["5"]["inputs"].update(width=64, height=64)
    with_lora = copy.deepcopy(prompt)
    with_lora["10"] = {
        "inputs": {
            "lora_name": "ink.safetensors",
            "strength_model": 1.0,
            "strength_clip": 1.0,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
        "class_type": "LoraLoader",
    }
    with_lora["3"]["inputs"]["model"] = ["10", 0]
    async with running_simulator(models=workflow_models(prompt)) as sim:
        client = Client(sim, session)
        status, body = await client.post_prompt(with_lora)
        assert status == 400
        error = body["node_errors"]["10"]["errors"][0]
        assert error["type"] == "value_not_in_list"
        assert error["details"] == "lora_name: 'ink.safetensors' not in []"
        await sim.set_models(add=["loras/ink.safetensors"])
        _, plain = await client.run(prompt)
        _, styled = await client.run(with_lora)
        assert styled["status"]["status_str"] == "success"
        first = await client.image(plain["outputs"]["9"]["images"][0])
        second = await client.image(styled["outputs"]["9"]["images"][0])
        assert first.tobytes() != second.tobytes()


# --- missing models ---------------------------------------------------------------------------


async def test_missing_checkpoint_is_refused_with_the_files_it_has(session: aiohttp.ClientSession) -> None:
    prompt = load_workflow("default-txt2img")
    async with running_simulator(models=["checkpoints/other.safetensors"]) as sim:
        status, body = await Client(sim, session).post_prompt(prompt)
    assert status == 400
    assert body == {
        "error": {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": "",
            "extra_info": {},
        },
        "node_errors": {
            "4": {
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": (
                            "ckpt_name: 'v1-5-pruned-emaonly-fp16.safetensors' not in ['other.safetensors']"
                        ),
                        "extra_info": {
                            "input_name": "ckpt_name",
                            "input_config": [
                                ["other.safetensors"],
                                {"tooltip": "The name of the checkpoint (model) to load."},
                            ],
                            "received_value": "v1-5-pruned-emaonly-fp16.safetensors",
                        },
                    }
                ],
                "dependent_outputs": ["9"],
                "class_type": "CheckpointLoaderSimple",
            }
        },
    }


async def test_missing_upscale_model_is_accepted_then_fails_until_the_file_is_copied_on(
    session: aiohttp.ClientSession,
) -> None:
    prompt = load_workflow("upscale-esrgan")
    prompt["13"]["inputs"]["model_name"] = "4x-UltraSharp.pth"
    prompt["5"]["inputs"].update(width=128, height=128)
    async with running_simulator(models=["checkpoints/DreamShaper_8_pruned.safetensors"]) as sim:
        client = Client(sim, session)
        frames, entry = await client.run(prompt)
        [error] = texts(frames, "execution_error")
        assert error["node_id"] == "13"
        assert error["node_type"] == "UpscaleModelLoader"
        assert error["exception_type"] == "FileNotFoundError"
        assert error["exception_message"] == (
            "Model in folder 'upscale_models' with filename '4x-UltraSharp.pth' not found.\n"
        )
        assert error["traceback"][-3:] == [
            '  File "/opt/ComfyUI/comfy_api/latest/_io.py", line 1270, in EXECUTE_NORMALIZED\n'
            "    <source line elided by recorder>\n",
            '  File "/opt/ComfyUI/comfy_extras/nodes_upscale_model.py", line 35, in execute\n'
            "    <source line elided by recorder>\n",
            '  File "/opt/ComfyUI/folder_paths.py", line 308, in get_full_path_or_raise\n'
            "    <source line elided by recorder>\n",
        ]
        assert error["current_inputs"] == {"model_name": ["4x-UltraSharp.pth"]}
        assert sorted(error["current_outputs"]) == sorted(prompt)
        assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
        assert entry["status"]["messages"][-1][0] == "execution_error"

        await sim.set_models(add=["upscale_models/4x-UltraSharp.pth"])
        _, entry = await client.run(prompt)
        assert entry["status"]["status_str"] == "success"
        upscaled = await client.image(entry["outputs"]["9"]["images"][0])
        assert upscaled.size == (512, 512)


async def test_upscale_factor_comes_from_the_file_name(session: aiohttp.ClientSession) -> None:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "RealESRGAN_x2plus.pth"}},
        "3": {
            "class_type": "ImageUpscaleWithModel",
            "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
        },
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "up"}},
    }
    async with running_simulator(models=["upscale_models/RealESRGAN_x2plus.pth"]) as sim:
        client = Client(sim, session)
        await client.upload("in.png", png())
        frames, entry = await client.run(prompt)
        image = await client.image(entry["outputs"]["4"]["images"][0])
    assert image.size == (UPLOAD_SIZE[0] * 2, UPLOAD_SIZE[1] * 2)
    # One tick per 512-px tile (comfy.utils.tiled_scale), no previews.
    assert [(p["node"], p["value"], p["max"]) for p in texts(frames, "progress")] == [("3", 1, 1)]


# --- sampler timing and interrupts ------------------------------------------------------------


async def test_sampler_spreads_the_delay_over_its_steps_and_stops_on_interrupt(
    session: aiohttp.ClientSession,
) -> None:
    prompt = load_workflow("default-txt2img")
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"]["steps"] = 10
    async with running_simulator(delay=0.05, models=workflow_models(prompt)) as sim:
        client = Client(sim, session)
        started = time.monotonic()
        frames, entry = await client.run(prompt)
        assert entry["status"]["status_str"] == "success"
        # 6 nodes sleep the delay once each; the sampler spends it over its 10 steps.
        assert 0.3 <= time.monotonic() - started < 3.0

        await sim.set_faults(delay=5.0)
        prompt["3"]["inputs"]["seed"] += 1
        run = asyncio.create_task(client.run(prompt))
        deadline = time.monotonic() + 15
        while sim.sim.executor.last_node_id != "3" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await sim.set_faults(delay=0.0)  # the remaining node delays end at once...
        sim.sim.executor.release()
        async with session.post(f"{sim.url}/interrupt") as response:  # ...and the sampler stops
            assert response.status == 200
        frames, entry = await run
    interrupted = texts(frames, "execution_interrupted")
    assert [i["node_id"] for i in interrupted] == ["3"]
    assert len(texts(frames, "progress")) < 10


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_models_as_a_list_or_a_json_file(tmp_path: Path) -> None:
    config = parse_args(["--models", "checkpoints/sd15.safetensors,loras/ink.safetensors,unet/sub/f.sft"])
    assert config.models == {
        "checkpoints": ["sd15.safetensors"],
        "loras": ["ink.safetensors"],
        "diffusion_models": ["sub/f.sft"],
    }
    as_dict = tmp_path / "models.json"
    as_dict.write_text(json.dumps({"checkpoints": ["b.ckpt", "a.safetensors"], "clip": ["t5.safetensors"]}))
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps(["upscale_models/4x.pth"]))
    config = parse_args(["--models", str(as_dict), "--models", str(as_list)])
    assert config.models == {
        "checkpoints": ["a.safetensors", "b.ckpt"],
        "text_encoders": ["t5.safetensors"],
        "upscale_models": ["4x.pth"],
    }
    assert parse_args([]).models == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nowhere/x.safetensors", "unknown model folder 'nowhere'"),
        ("sd15.safetensors", "must be folder/file"),
        ("checkpoints/notes.txt", "ComfyUI would not list this file"),
        ("checkpoints/../x.safetensors", "bad model file name"),
        ("missing.json", "cannot read missing.json"),
        ("BAD_JSON", "is not JSON"),
        ("WRONG_SHAPE", "must map to a list"),
    ],
)
def test_cli_rejects_bad_models(
    value: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "shape.json").write_text(json.dumps({"checkpoints": "a.safetensors"}))
    value = {"BAD_JSON": "bad.json", "WRONG_SHAPE": "shape.json"}.get(value, value)
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--models", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --models" in err and message in err
