"""The endpoint's routes, at the root of COMFYWEB_COMFYUI_PORT and again under /api/, as
ComfyUI registers every route twice (PROTOCOL.md §1). The Jobs API is declared under /api/
and prefixed again, as in ComfyUI: /api/jobs and /api/api/jobs, never /jobs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponseBase
from django.urls import URLPattern, path, re_path

from jobs.comfyapi import files, info, views
from jobs.comfyapi.http import not_found

ROUTES: list[tuple[str, Callable[..., HttpResponseBase]]] = [
    ("prompt", views.prompt),
    ("queue", views.queue),
    ("interrupt", views.interrupt),
    ("history", views.history),
    ("history/<str:prompt_id>", views.history_of),
    ("view", files.view),
    ("upload/image", files.upload),
    ("upload/mask", files.upload),
    ("object_info", info.object_info),
    ("object_info/<str:class_type>", info.object_info_of),
    ("system_stats", info.system_stats),
    ("features", info.features),
    ("embeddings", info.embeddings),
]
JOB_ROUTES: list[tuple[str, Callable[..., HttpResponseBase]]] = [
    ("api/jobs", views.jobs_list),
    ("api/jobs/cancel", views.jobs_cancel),
    ("api/jobs/<str:job_id>", views.jobs_one),
    ("api/jobs/<str:job_id>/cancel", views.jobs_cancel_one),
]


def _patterns() -> list[URLPattern]:
    found = []
    for prefix in ("", "api/"):
        for route, view in [*ROUTES, *JOB_ROUTES]:
            found.append(path(prefix + route, view))
    # Everything else is aiohttp's 404, in DEBUG too (Django would show its own page).
    found.append(re_path(r"", not_found))
    return found


urlpatterns = _patterns()
handler404 = "jobs.comfyapi.http.not_found"
handler500 = "jobs.comfyapi.http.server_error"
