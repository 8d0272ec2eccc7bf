"""The live pool dashboard at /admin/pool/ and its action endpoints (staff only).

The page redirects anyone else to the admin login; the actions and the JSON snapshot answer
404 to anyone but staff, so they reveal nothing. Actions are CSRF-protected POSTs that call
jobs.operators.pool_actions and answer JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt, csrf_protect, ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from jobs.core import quotas, usage
from jobs.core.errors import ServiceError
from jobs.core.models import Server
from jobs.operators import dashboard, pool_actions


def staff_or_404(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (user.is_active and user.is_staff):
            raise Http404("Not found")
        return view(request, *args, **kwargs)

    return wrapper


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@staff_member_required
@require_GET
@ensure_csrf_cookie
def pool_page(request: HttpRequest) -> HttpResponse:
    context = {
        **admin.site.each_context(request),
        "title": "Pool dashboard",
        "snapshot": dashboard.snapshot(),
        # Today's usage per group (issue U), read at page load; the usage page has any period.
        "usage_today": usage.by_group(since=quotas.day_start()),
    }
    return render(request, "pool/dashboard.html", context)


@staff_or_404
@require_GET
def snapshot_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dashboard.snapshot())


@csrf_exempt  # checked below, after the staff check: others get a 404, not a CSRF 403
@staff_or_404
@csrf_protect
@require_POST
def server_action(request: HttpRequest, server_id: int, action: str) -> JsonResponse:
    server = get_object_or_404(Server, id=server_id)
    if action == "refresh":
        pool_actions.refresh_server(server.id)
        message = f"Asked the relay to re-read {server.name}'s node classes and model files."
        return JsonResponse({"ok": True, "message": message})
    if action not in pool_actions.SERVER_FLAGS:
        return _error("unknown_action", f"Unknown action {action[:30]!r}.", 400)
    pool_actions.set_server_flags([server.id], action)
    done = {"enable": "enabled", "disable": "disabled", "drain": "draining", "undrain": "not draining"}
    return JsonResponse({"ok": True, "message": f"{server.name}: {done[action]}."})


@csrf_exempt  # checked below, after the staff check: others get a 404, not a CSRF 403
@staff_or_404
@csrf_protect
@require_POST
def tab_unlock(request: HttpRequest, tab_id: Any) -> JsonResponse:
    try:
        cancelled = pool_actions.force_unlock(tab_id)
    except ServiceError as error:
        return _error(error.code, error.message, error.status)
    message = f"Unlocked tab {str(tab_id)[:8]}; cancelled {cancelled} job(s)."
    return JsonResponse({"ok": True, "message": message})


@csrf_exempt  # checked below, after the staff check: others get a 404, not a CSRF 403
@staff_or_404
@csrf_protect
@require_POST
def job_action(request: HttpRequest, job_id: Any, action: str) -> JsonResponse:
    try:
        if action == "cancel":
            job = pool_actions.cancel(job_id)
            message = f"Job {str(job.id)[:8]}: {job.status}."
            return JsonResponse({"ok": True, "message": message, "job": str(job.id)})
        if action == "retry":
            job = pool_actions.retry(job_id)
            message = f"Started it again as job {str(job.id)[:8]}."
            return JsonResponse({"ok": True, "message": message, "job": str(job.id)})
    except ServiceError as error:
        return _error(error.code, error.message, error.status)
    return _error("unknown_action", f"Unknown action {action[:30]!r}.", 400)


urlpatterns = [
    path("", pool_page, name="pool-dashboard"),
    path("snapshot.json", snapshot_json, name="pool-snapshot"),
    path("servers/<int:server_id>/<slug:action>/", server_action, name="pool-server-action"),
    path("tabs/<uuid:tab_id>/unlock/", tab_unlock, name="pool-tab-unlock"),
    path("jobs/<uuid:job_id>/<slug:action>/", job_action, name="pool-job-action"),
]
