"""Model-file controls under /_sim/ (not part of ComfyUI): copy files onto a running server.

GET /_sim/models shows the model set as {"folder": [files]}.
POST /_sim/models takes any of, applied in this order:
  "set": {"folder": [files]} or ["folder/file", ...]  (replaces the whole set),
  "add": ["folder/file", ...], "remove": ["folder/file", ...],
and answers with the new set. A bad entry changes nothing and is a 400 {"error": ...}.
The next /object_info and POST /prompt see the change at once, as a real server sees a
new file in its models folder (folder_paths re-reads a folder whose mtime changed).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.models import ModelSet, ModelSpecError
from simulator.state import Simulator

_KEYS = {"set", "add", "remove"}


def add_routes(app: web.Application, sim: Simulator) -> None:
    async def get_models(request: web.Request) -> web.Response:
        return web.json_response(sim.models.as_dict())

    async def post_models(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _bad("expected a JSON object with set, add and/or remove")
        unknown = set(body) - _KEYS
        if unknown:
            return _bad(f"unknown keys: {sorted(unknown)} (allowed: add, remove, set)")
        try:
            changed = _apply(sim.models, body)
        except ModelSpecError as ex:
            return _bad(str(ex))
        sim.models.replace(changed.as_dict())
        return web.json_response(sim.models.as_dict())

    app.router.add_get("/_sim/models", get_models)
    app.router.add_post("/_sim/models", post_models)


def _apply(current: ModelSet, body: dict[str, Any]) -> ModelSet:
    """The new set, built on a copy so that a bad entry leaves the server's set alone."""
    result = ModelSet(body["set"] if "set" in body else current.as_dict())
    for key in ("add", "remove"):
        entries = body.get(key, [])
        if not isinstance(entries, list):
            raise ModelSpecError(f"{key} must be a list of 'folder/file' strings")
        if not all(isinstance(entry, str) for entry in entries):
            raise ModelSpecError(f"{key} entries must be 'folder/file' strings")
        (result.add if key == "add" else result.remove)(entries)
    return result


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)
