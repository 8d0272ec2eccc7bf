"""Pages, private files and the health check."""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from jobs import relay, storage
from jobs.api import workflow_list
from jobs.models import Output, Server, Upload


def _start_session(request: HttpRequest) -> str:
    """A session starts on the first page view (SPEC §4): the tab socket needs its cookie."""
    if not request.session.session_key:
        request.session["started"] = True
        request.session.save()
    return request.session.session_key


@require_GET
@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    _start_session(request)
    return render(request, "jobs/index.html", {"workflows": workflow_list()})


@require_GET
@ensure_csrf_cookie
def gallery(request: HttpRequest) -> HttpResponse:
    session_key = _start_session(request)
    outputs = (
        Output.objects.filter(job__session_key=session_key, kind="output")
        .select_related("job__workflow")
        .order_by("-created_at", "node_id", "index")
    )
    items = [
        {
            "url": f"/files/outputs/{o.id}/",
            "filename": o.filename,
            "width": o.width,
            "height": o.height,
            "kind": o.kind,
            "job_id": str(o.job_id),
            "workflow": o.job.workflow.name,
            "tab": str(o.job.tab_id),
            "created_at": o.created_at,
        }
        for o in outputs[:500]
    ]
    return render(request, "jobs/gallery.html", {"outputs": items})


def _owned_file(request: HttpRequest, model, file_id: uuid.UUID):
    query = model.objects.filter(id=file_id)
    if not request.user.is_staff:
        owner = "job__session_key" if model is Output else "session_key"
        query = query.filter(**{owner: request.session.session_key or "-"})
    item = query.first()
    if item is None:
        raise Http404
    return item


@require_GET
def output_file(request: HttpRequest, file_id: uuid.UUID) -> FileResponse:
    output = _owned_file(request, Output, file_id)
    response = FileResponse(storage.open_file(output.file), content_type=output.content_type)
    response["Cache-Control"] = "private, max-age=86400"
    return response


@require_GET
def upload_file(request: HttpRequest, file_id: uuid.UUID) -> FileResponse:
    upload = _owned_file(request, Upload, file_id)
    response = FileResponse(storage.open_file(upload.file), content_type=upload.content_type)
    response["Cache-Control"] = "private, max-age=86400"
    return response


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        db_ok = True
    except Exception:
        db_ok = False
    try:
        layer = get_channel_layer()
        async_to_sync(layer.send)("comfyweb.healthz", {"type": "healthz"})
        async_to_sync(layer.receive)("comfyweb.healthz")
        channels_ok = True
    except Exception:
        channels_ok = False
    servers = (
        [
            {
                "name": s.name,
                "status": s.status,
                "enabled": s.enabled,
                "last_seen": s.last_seen.isoformat() if s.last_seen else None,
            }
            for s in Server.objects.all()
        ]
        if db_ok
        else []
    )
    relay_state = {"in_process": relay.STATE["running"], "last_poll": relay.STATE["last_poll"]}
    ok = db_ok and channels_ok
    return JsonResponse(
        {"ok": ok, "db": db_ok, "channels": channels_ok, "relay": relay_state, "servers": servers},
        status=200 if ok else 503,
    )
