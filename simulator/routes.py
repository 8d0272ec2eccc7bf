"""The HTTP routes of ComfyUI 0.3.64 server.py that clients use (PROTOCOL §1).

Handlers keep the real quirks: empty-bodied 200/400/404 answers, a 500 for a non-JSON
/prompt body (aiohttp's default error page), partial acceptance, history written only
when a job ends.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time
import uuid

from aiohttp import web
from PIL import Image

from simulator.files import PathEscape, content_type
from simulator.jobs_api import validate_job_id
from simulator.models import FOLDER_NAMES
from simulator.nodes import NODES
from simulator.object_info import node_info
from simulator.profiles import object_info_entry
from simulator.state import Simulator
from simulator.validation import validate_prompt

SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


INVALID_PROMPT_ID = {
    "type": "invalid_prompt_id",
    "message": "prompt_id must be a valid UUID",
    "details": "prompt_id must be a UUID string in canonical lowercase hyphenated form; "
    "omit it to let the server generate one",
    "extra_info": {},
}


def route_table(sim: Simulator) -> web.RouteTableDef:
    routes = web.RouteTableDef()
    profile = sim.profile

    def info(name: str, input_images: list[str]) -> dict[str, object]:
        entry = node_info(name, input_images, sim.models, sim.storage)
        return object_info_entry(profile, name, entry)

    async def seed_scan() -> None:
        # app/assets/seeder.py: the frames go to every socket (sid None), after the answer.
        await asyncio.sleep(0)
        root = sim.storage.root
        roots = {
            "models": str(root / "models"),
            "input": sim.storage.dirs["input"],
            "output": sim.storage.dirs["output"],
        }
        for event, data in sim.assets.seed_frames(roots):
            await sim.hub.send_json(event, data)

    @routes.get("/ws")
    async def websocket(request: web.Request) -> web.WebSocketResponse:
        return await sim.hub.handler(request)

    @routes.get("/embeddings")
    async def embeddings(request: web.Request) -> web.Response:
        return web.json_response([])

    @routes.get("/features")
    async def features(request: web.Request) -> web.Response:
        return web.json_response(dict(profile.features))

    @routes.post("/upload/image")
    async def upload_image(request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        dir_type = post.get("type")
        dir_type = "input" if dir_type is None else str(dir_type)
        upload_dir = sim.storage.directory(dir_type)
        if upload_dir is None:
            raise web.HTTPInternalServerError()  # server.py fails on an unknown type
        if not isinstance(image, web.FileField) or not image.file:
            return web.Response(status=400)
        if not image.filename:
            return web.Response(status=400)
        subfolder = str(post.get("subfolder", ""))
        overwrite = post.get("overwrite") in ("true", "1")
        try:
            name = sim.storage.store_upload(
                image.file.read(), image.filename, subfolder, upload_dir, overwrite
            )
        except PathEscape:
            return web.Response(status=400)
        answer: dict[str, object] = {"name": name, "subfolder": subfolder, "type": dir_type}
        if profile.assets:
            path = os.path.join(upload_dir, os.path.normpath(subfolder), name)
            answer["asset"] = sim.assets.register_upload(path, name, dir_type, subfolder)
        return web.json_response(answer)

    @routes.get("/view")
    async def view(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        found = sim.storage.view_path(query["filename"], query.get("subfolder"), query.get("type", "output"))
        if isinstance(found, int):
            return web.Response(status=found)
        filename = os.path.basename(found)
        disposition = {"Content-Disposition": f'filename="{filename}"'}
        channel = query.get("channel", "")
        if "preview" in query:
            preview = query["preview"].split(";")
            fmt = preview[0] if preview[0] in ("webp", "jpeg") and "a" not in channel else "webp"
            quality = int(preview[-1]) if preview[-1].isdigit() else 90
            with Image.open(found) as opened:
                img = opened.convert("RGB") if fmt == "jpeg" or channel == "rgb" else opened
                buffer = io.BytesIO()
                img.save(buffer, format=fmt, quality=quality)
            return web.Response(body=buffer.getvalue(), content_type=f"image/{fmt}", headers=disposition)
        if channel == "rgb":
            with Image.open(found) as img:
                body = _png(img.convert("RGB"))
            return web.Response(body=body, content_type="image/png", headers=disposition)
        if channel == "a":
            with Image.open(found) as img:
                alpha = img.getchannel("A") if img.mode == "RGBA" else Image.new("L", img.size, 255)
                out = Image.new("RGBA", img.size)
                out.putalpha(alpha)
            return web.Response(body=_png(out), content_type="image/png", headers=disposition)
        return web.FileResponse(found, headers={**disposition, "Content-Type": content_type(filename)})

    @routes.get("/system_stats")
    async def system_stats(request: web.Request) -> web.Response:
        total, free = _memory()
        data_dir = str(sim.storage.root)
        system: dict[str, object] = {
            "os": profile.system_os,
            "ram_total": total,
            "ram_free": free,
            "comfyui_version": profile.comfyui_version,
            "required_frontend_version": "1.27.10",
            "installed_templates_version": "0.1.95",
            "required_templates_version": "0.1.95",
        }
        if profile.system_stats_new_keys:
            system["comfy_package_versions"] = [
                {"name": "comfyui-frontend-package", "installed": "1.27.10", "required": "1.27.10"},
                {"name": "comfyui-workflow-templates", "installed": "0.1.95", "required": "0.1.95"},
            ]
        system.update(python_version=sys.version, pytorch_version="2.13.0+cpu", embedded_python=False)
        if profile.system_stats_new_keys:
            system["deploy_environment"] = "local-git"
        return web.json_response(
            {
                "system": {
                    **system,
                    "argv": [
                        "main.py",
                        "--listen",
                        sim.config.host,
                        "--port",
                        str(sim.config.port),
                        "--cpu",
                        "--output-directory",
                        f"{data_dir}/output",
                        "--input-directory",
                        f"{data_dir}/input",
                        "--temp-directory",
                        f"{data_dir}/temp",
                        "--user-directory",
                        f"{data_dir}/user",
                        "--database-url",
                        f"sqlite:///{data_dir}/user/comfyui.db",
                    ],
                },
                "devices": [
                    {
                        "name": "cpu",
                        "type": "cpu",
                        "index": None,
                        "vram_total": total,
                        "vram_free": free,
                        "torch_vram_total": total,
                        "torch_vram_free": free,
                    }
                ],
            }
        )

    @routes.get("/prompt")
    async def get_prompt(request: web.Request) -> web.Response:
        return web.json_response(sim.queue_info())

    @routes.get("/object_info")
    async def object_info(request: web.Request) -> web.Response:
        if profile.assets:
            asyncio.get_running_loop().create_task(seed_scan())  # asset_manager.ensure_scan_started
        files = sim.storage.input_images()
        return web.json_response({name: info(name, files) for name in NODES})

    @routes.get("/object_info/{node_class}")
    async def object_info_node(request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        if name not in NODES:
            return web.json_response({})
        return web.json_response({name: info(name, sim.storage.input_images())})

    @routes.get("/models")
    async def list_model_types(request: web.Request) -> web.Response:
        return web.json_response(list(FOLDER_NAMES))

    @routes.get("/models/{folder}")
    async def get_models(request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in FOLDER_NAMES:  # no legacy mapping here: /models/unet is a 404
            return web.Response(status=404)
        return web.json_response(sim.models.files(folder))

    @routes.get("/history")
    async def get_history(request: web.Request) -> web.Response:
        query = request.rel_url.query
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query["offset"]) if "offset" in query else -1
        return web.json_response(sim.queue.get_history(max_items=max_items, offset=offset))

    @routes.get("/history/{prompt_id}")
    async def get_history_item(request: web.Request) -> web.Response:
        return web.json_response(sim.queue.get_history(prompt_id=request.match_info["prompt_id"]))

    @routes.get("/queue")
    async def get_queue(request: web.Request) -> web.Response:
        running, pending = sim.queue.current()
        return web.json_response({"queue_running": running, "queue_pending": pending})

    @routes.post("/prompt")
    async def post_prompt(request: web.Request) -> web.Response:
        json_data = await request.json()  # not JSON -> aiohttp's plain 500, as the real one
        if "number" in json_data:
            number: float | int = float(json_data["number"])
        else:
            number = sim.number
            if json_data.get("front"):
                number = -number
            sim.number += 1
        if "prompt" not in json_data:
            no_prompt = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": no_prompt, "node_errors": {}}, status=400)
        prompt = json_data["prompt"]
        if not profile.strict_prompt_id:
            prompt_id = str(json_data.get("prompt_id", uuid.uuid4()))
        elif json_data.get("prompt_id") is None:
            prompt_id = str(uuid.uuid4())  # absent or null: the server mints one
        else:
            try:
                prompt_id = validate_job_id(json_data["prompt_id"])
            except ValueError:
                return web.json_response({"error": INVALID_PROMPT_ID, "node_errors": {}}, status=400)
        valid, error, outputs, node_errors = validate_prompt(
            prompt, json_data.get("partial_execution_targets"), sim.storage, sim.models, profile
        )
        extra_data = json_data.get("extra_data", {})
        if "client_id" in json_data:
            extra_data["client_id"] = json_data["client_id"]
        if profile.usage_source_header and "comfy_usage_source" not in extra_data:
            usage_source = request.headers.get("Comfy-Usage-Source")
            if usage_source:
                extra_data["comfy_usage_source"] = usage_source
        if not valid:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        sensitive = {key: extra_data.pop(key) for key in SENSITIVE_EXTRA_DATA_KEYS if key in extra_data}
        if profile.create_time:
            extra_data["create_time"] = int(time.time() * 1000)  # ms, set at acceptance
            # The 6th element keeps the secrets out of /queue, /api/jobs and /history.
            await sim.queue.put((number, prompt_id, prompt, extra_data, outputs, sensitive))
        else:
            await sim.queue.put((number, prompt_id, prompt, extra_data, outputs))
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    @routes.post("/queue")
    async def post_queue(request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("clear"):
            await sim.queue.wipe()
        for prompt_id in json_data.get("delete", []):
            await sim.queue.delete(prompt_id)
        return web.Response(status=200)

    @routes.post("/interrupt")
    async def post_interrupt(request: web.Request) -> web.Response:
        try:
            json_data = await request.json()
        except ValueError:
            json_data = {}
        prompt_id = json_data.get("prompt_id") if isinstance(json_data, dict) else None
        if prompt_id:
            # Targeted: only if it is the running job; otherwise nothing (still 200).
            running, _ = sim.queue.current()
            if any(item[1] == prompt_id for item in running):
                sim.executor.interrupt()
        else:
            sim.executor.interrupt()
        return web.Response(status=200)

    @routes.post("/free")
    async def post_free(request: web.Request) -> web.Response:
        return web.Response(status=200)

    @routes.post("/history")
    async def post_history(request: web.Request) -> web.Response:
        json_data = await request.json()
        if json_data.get("clear"):
            sim.queue.wipe_history()
        for prompt_id in json_data.get("delete", []):
            sim.queue.delete_history(prompt_id)
        return web.Response(status=200)

    return routes


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _memory() -> tuple[int, int]:
    """RAM total/free for the simulated CPU device."""
    try:
        pages, free_pages, size = (
            os.sysconf(n) for n in ("SC_PHYS_PAGES", "SC_AVPHYS_PAGES", "SC_PAGE_SIZE")
        )
        return pages * size, free_pages * size
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3, 4 * 1024**3
