"""Model-file controls under /_sim/ (not part of ComfyUI): copy files onto a running server,
and see or empty its simulated VRAM (simulator.residency).

GET /_sim/models shows the model set as {"folder": [files]} plus two keys no folder has:
"resident", the loaded files as "folder/file", least recently used first (the next to be
evicted), "vram", how many files fit at once (null: no limit), and "loads", how many files
it loaded since its process started (a /_sim/reset keeps the count: a benchmark reads it).
POST /_sim/models takes any of, applied in this order:
  "set": {"folder": [files]} or ["folder/file", ...]  (replaces the whole set),
  "add": ["folder/file", ...], "remove": ["folder/file", ...],
  "evict": ["folder/file", ...] (no longer loaded; a file that was not is fine),
  "evict_all": true (nothing loaded),
and answers as GET does. In "set" and "add" a file may be {"name": ..., "load_seconds": s}, as
in the --models JSON: its own load time from now on. A removed file is no longer loaded either.
A bad entry changes nothing and is a 400 {"error": ...}.
The next /object_info and POST /prompt see the change at once, as a real server sees a
new file in its models folder (folder_paths re-reads a folder whose mtime changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from simulator.models import ModelSet, ModelSpecError, parse_spec, split_entry
from simulator.state import Simulator

_KEYS = {"set", "add", "remove", "evict", "evict_all"}


@dataclass
class _Change:
    """A checked POST body: the new set, new load times, the files to evict."""

    models: ModelSet
    load_seconds: dict[str, float] = field(default_factory=dict)
    evict: list[str] = field(default_factory=list)
    evict_all: bool = False


def add_routes(app: web.Application, sim: Simulator) -> None:
    async def get_models(request: web.Request) -> web.Response:
        return web.json_response(_view(sim))

    async def post_models(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _bad("expected a JSON object with set, add, remove, evict and/or evict_all")
        unknown = set(body) - _KEYS
        if unknown:
            return _bad(f"unknown keys: {sorted(unknown)} (allowed: {', '.join(sorted(_KEYS))})")
        try:
            change = _check(sim.models, body)
        except ModelSpecError as ex:
            return _bad(str(ex))
        sim.models.replace(change.models.as_dict())
        sim.residency.file_seconds.update(change.load_seconds)
        sim.residency.keep_only(_entries(sim.models))
        if change.evict_all:
            sim.residency.clear()
        sim.residency.evict(change.evict)
        return web.json_response(_view(sim))

    app.router.add_get("/_sim/models", get_models)
    app.router.add_post("/_sim/models", post_models)


def _view(sim: Simulator) -> dict[str, Any]:
    residency = sim.residency
    return {
        **sim.models.as_dict(),
        "resident": residency.resident(),
        "vram": residency.vram,
        "loads": residency.loads,
    }


def _entries(models: ModelSet) -> list[str]:
    return [f"{folder}/{name}" for folder, names in models.as_dict().items() for name in names]


def _check(current: ModelSet, body: dict[str, Any]) -> _Change:
    """The change, built on a copy so that a bad entry leaves the server alone."""
    change = _Change(ModelSet(current.as_dict()))
    if "set" in body:
        spec = parse_spec(body["set"])
        change.models = ModelSet(spec.files)
        change.load_seconds.update(spec.load_seconds)
    for key in ("add", "remove", "evict"):
        entries = body.get(key, [])
        if not isinstance(entries, list):
            raise ModelSpecError(f"{key} must be a list of 'folder/file' strings")
        if key == "add":
            spec = parse_spec(entries)
            change.models.add(f"{folder}/{name}" for folder, names in spec.files.items() for name in names)
            change.load_seconds.update(spec.load_seconds)
            continue
        if not all(isinstance(entry, str) for entry in entries):
            raise ModelSpecError(f"{key} entries must be 'folder/file' strings")
        if key == "remove":
            change.models.remove(entries)
        else:
            change.evict = ["/".join(split_entry(entry)) for entry in entries]
    evict_all = body.get("evict_all", False)
    if not isinstance(evict_all, bool):
        raise ModelSpecError("evict_all must be true or false")
    change.evict_all = evict_all
    return change


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)
