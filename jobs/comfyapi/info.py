"""/object_info, /system_stats, /features, /embeddings: the pool described as one server.

- /object_info: every node class of the enabled servers, each model combo listing the files
  of all of them, upload combos listing the caller's own uploads only (jobs.pool.node_defs).
- /system_stats: the system of the oldest server (its `comfyui_version`: what every server
  supports at least), RAM summed over servers, and every server's devices in one list.
- /features: the flags every server sets, with ComfyWeb's own upload limit; previews with
  metadata always (ComfyWeb's socket makes them itself).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from jobs.comfyapi.http import comfy_view, ok
from jobs.comfyapi.identity import Caller
from jobs.core import graphs
from jobs.core.models import Server
from jobs.pool import node_defs


def _shown_definitions(caller: Caller) -> dict[str, Any]:
    return node_defs.with_uploads(graphs.pool_definitions(), list(graphs.upload_names(caller.owner_key)))


@comfy_view(("GET",))
def object_info(request: HttpRequest, caller: Caller) -> HttpResponse:
    return ok(_shown_definitions(caller))


@comfy_view(("GET",))
def object_info_of(request: HttpRequest, caller: Caller, class_type: str) -> HttpResponse:
    defs = graphs.pool_definitions()
    if class_type not in defs:
        return ok({})
    one = node_defs.with_uploads({class_type: defs[class_type]}, list(graphs.upload_names(caller.owner_key)))
    return ok(one)


def _enabled_stats() -> list[tuple[str, dict[str, Any]]]:
    rows = (
        Server.objects.filter(enabled=True).exclude(system_stats=None).values_list("version", "system_stats")
    )
    found = [(v, s) for v, s in rows if isinstance(s, dict)]
    return sorted(found, key=lambda row: graphs._version_key(row[0]))


def pool_stats(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """The pool as one server's /system_stats (the oldest first in `stats`)."""
    if not stats:
        return {
            "system": {"os": "posix", "comfyui_version": "", "ram_total": 0, "ram_free": 0},
            "devices": [],
        }
    system = dict(stats[0].get("system") or {})
    system.pop("argv", None)
    for key in ("ram_total", "ram_free"):
        system[key] = sum(int((s.get("system") or {}).get(key) or 0) for s in stats)
    devices: list[dict[str, Any]] = []
    for one in stats:
        for device in one.get("devices") or []:
            if isinstance(device, dict):
                devices.append({**device, "index": len(devices)})
    system["argv"] = ["comfyweb"]
    return {"system": system, "devices": devices}


@comfy_view(("GET",))
def system_stats(request: HttpRequest, caller: Caller) -> HttpResponse:
    return ok(pool_stats([s for _, s in _enabled_stats()]))


def pool_features(capabilities: list[list[str]]) -> dict[str, Any]:
    """The flags every enabled server sets (`feature:<name>` in Server.capabilities)."""
    sets = [{c.removeprefix("feature:") for c in caps if c.startswith("feature:")} for caps in capabilities]
    common = set.intersection(*sets) if sets else set()
    common.discard("max_upload_size")
    features: dict[str, Any] = dict.fromkeys(sorted(common), True)
    features["supports_preview_metadata"] = True
    features["max_upload_size"] = settings.COMFYWEB_MAX_UPLOAD_BYTES
    return features


@comfy_view(("GET",))
def features(request: HttpRequest, caller: Caller) -> HttpResponse:
    rows = Server.objects.filter(enabled=True).values_list("capabilities", flat=True)
    return ok(pool_features([list(c or []) for c in rows]))


@comfy_view(("GET",))
def embeddings(request: HttpRequest, caller: Caller) -> HttpResponse:
    return ok([])
