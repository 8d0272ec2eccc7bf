"""Pages, private files and the health check."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Min
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from jobs.core import heartbeat, sql, storage
from jobs.core import servers as servers_status
from jobs.core.models import Output, Server, Upload, Workflow
from jobs.core.workflows import UPLOAD_TYPES
from jobs.media.detect import MEDIA
from jobs.web import access, ranges, thumbnails
from jobs.web.api import workflow_list

GALLERY_PAGE_SIZE = 24
MEDIA_LABELS = {
    "image": gettext_lazy("Pictures"),
    "animated": gettext_lazy("Animations"),
    "video": gettext_lazy("Videos"),
    "audio": gettext_lazy("Audio"),
    "text": gettext_lazy("Texts"),
    "3d": gettext_lazy("3D models"),
    "file": gettext_lazy("Other files"),
}

# The built-in workflows' names, descriptions and labels (jobs/core/builtin_workflows.py) live in
# the database; marked here so that they are in the catalog and shown translated. A workflow
# an operator adds shows as written.
BUILTIN_TEXT = (
    gettext_noop("Invert colours"),
    gettext_noop("Inverts every colour of the image."),
    gettext_noop("Gaussian blur"),
    gettext_noop("Blurs the image with a Gaussian kernel."),
    gettext_noop("Upscale"),
    gettext_noop("Scales the image by a factor."),
    gettext_noop("Preview demo (simulator)"),
    gettext_noop("A slow sampler-like node with live previews; runs on the built-in simulators."),
    gettext_noop("Image"),
    gettext_noop("Blur radius"),
    gettext_noop("Sigma"),
    gettext_noop("Scale by"),
    gettext_noop("Method"),
    gettext_noop("Steps"),
    gettext_noop("Text to image (simulator)"),
    gettext_noop(
        "ComfyUI's default graph with a checkpoint of your choice; "
        "each job runs on a server that has the checkpoint."
    ),
    gettext_noop("SDXL text to image (simulator)"),
    gettext_noop("Needs the SDXL base checkpoint: only the server holding it runs these jobs."),
    gettext_noop("Upscale 4x with a model (simulator)"),
    gettext_noop("An upscale model (a V3-schema loader): only the server holding it runs these jobs."),
    gettext_noop("Prompt"),
    gettext_noop("Checkpoint"),
    gettext_noop("Seed"),
    gettext_noop("Animate an image (simulator)"),
    gettext_noop("Four frames made from your image, saved as an animated WebP."),
    gettext_noop("Video from an image (simulator)"),
    gettext_noop("Four frames made from your image, saved as an MP4 video."),
    gettext_noop("Save a sound (simulator)"),
    gettext_noop("Loads your sound and saves it as FLAC."),
    gettext_noop("Show a text (simulator)"),
    gettext_noop("Shows the text you give it as a result (PreviewAny)."),
    gettext_noop("Video to animation (simulator)"),
    gettext_noop("Takes the frames of your video and saves them as an animated WebP."),
    gettext_noop("Video"),
    gettext_noop("Audio"),
    gettext_noop("Text"),
)


def _translated(text: str | None) -> str:
    return gettext(text) if text else (text or "")


def localized_workflows() -> list[dict[str, Any]]:
    """workflow_list() with names, descriptions and parameter labels in the active language."""
    workflows = workflow_list()
    for workflow in workflows:
        workflow["name"] = _translated(workflow["name"])
        workflow["description"] = _translated(workflow.get("description"))
        for param in workflow["params"]:
            param["label"] = _translated(param.get("label") or param["name"])
    return workflows


def _start_session(request: HttpRequest) -> str:
    """A session starts on the first page view (SPEC §4): the tab socket needs its cookie."""
    if not request.session.session_key:
        request.session["started"] = True
        request.session.save()
    owner = access.owner_of(request)
    assert owner is not None  # a session exists now; in accounts mode, a person signed in
    return owner


@require_GET
@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    _start_session(request)
    return render(request, "jobs/index.html", {"workflows": localized_workflows()})


def _thumb_width(output: Output) -> int:
    """The width of the output's thumbnail (thumbnails.MAX_SIDE on the longer side, never upscaled)."""
    width, height = output.width or 0, output.height or 0
    longest = max(width, height)
    if not longest:
        return thumbnails.MAX_SIDE
    if longest <= thumbnails.MAX_SIDE:
        return width
    return max(1, round(width * thumbnails.MAX_SIDE / longest))


def _gallery_item(output: Output, workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    job = output.job
    declared = workflows.get(job.slug, {}).get("params", [])
    labels = {p["name"]: p["label"] for p in declared}
    kinds = {p["name"]: p.get("type") for p in declared}
    params = [
        {"name": name, "label": labels.get(name, name), "value": value}
        for name, value in (job.params or {}).items()
        if kinds.get(name) not in UPLOAD_TYPES and value not in (None, "")
    ]
    url = f"/files/outputs/{output.id}/"
    return {
        "id": str(output.id),
        "url": url,
        "thumb_url": f"{url}?thumb=1",
        "thumb_width": _thumb_width(output),
        "download_url": f"{url}?download=1",
        "filename": output.filename,
        "width": output.width,
        "height": output.height,
        "media": output.media,
        "content_type": output.content_type,
        "duration": output.duration,
        "size": output.size,
        "text": output.text if output.media == "text" else "",
        "has_thumb": output.media in ("image", "animated", "video"),
        "job_id": str(job.id),
        "workflow": _translated(job.workflow.name) if job.workflow else _graph_label(job.source),
        "workflow_slug": job.slug,
        "tab": str(job.tab_id),
        "params": params,
        "created_at": output.created_at,
    }


def _graph_label(source: str) -> str:
    """A graph a ComfyUI client sent (jobs.comfyapi), named by the program that sent it."""
    return (
        gettext("ComfyUI graph from %(source)s") % {"source": source} if source else gettext("ComfyUI graph")
    )


@require_GET
@ensure_csrf_cookie
def gallery(request: HttpRequest) -> HttpResponse:
    """The session's results, newest first, 24 a page, filtered by `?tab=`, `?workflow=` and
    `?media=` (image, animated, video, audio, text, 3d, file)."""
    session_key = _start_session(request)
    mine = Output.objects.filter(job__session_key=session_key, kind="output")
    outputs = mine.select_related("job__workflow").order_by("-created_at", "-job_id", "node_id", "index")
    tab = request.GET.get("tab", "")
    workflow = request.GET.get("workflow", "")
    media = request.GET.get("media", "")
    media = media if media in MEDIA else ""
    try:
        tab_id = uuid.UUID(tab) if tab else None
    except ValueError:
        tab_id, tab = None, ""
    if tab_id:
        outputs = outputs.filter(job__tab_id=tab_id)
    if workflow:
        outputs = outputs.filter(job__workflow__slug=workflow)
    if media:
        outputs = outputs.filter(media=media)
    page = Paginator(outputs, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    workflows = {w["slug"]: w for w in localized_workflows()}
    tabs = mine.values("job__tab_id").annotate(first=Min("created_at")).order_by("-first")
    used_workflows = Workflow.objects.filter(jobs__outputs__in=mine).distinct().order_by("name")
    query = "&".join(f"{k}={v}" for k, v in (("tab", tab), ("workflow", workflow), ("media", media)) if v)
    present = set(mine.values_list("media", flat=True).distinct())
    context = {
        "page": page,
        "items": [_gallery_item(o, workflows) for o in page.object_list],
        "tab_filter": tab,
        "workflow_filter": workflow,
        "tabs": [{"id": str(t["job__tab_id"]), "first": t["first"]} for t in tabs],
        "workflows": [{"slug": w.slug, "name": _translated(w.name)} for w in used_workflows],
        "media_filter": media,
        # The media the session has, in a fixed order, each with its label for the filter.
        "media_choices": [(m, MEDIA_LABELS[m]) for m in MEDIA if m in present],
        "filter_query": query,
        "filtered": bool(tab or workflow or media),
    }
    return render(request, "jobs/gallery.html", context)


def _owned_upload(request: HttpRequest, file_id: uuid.UUID) -> Upload:
    query = Upload.objects.filter(id=file_id)
    if not request.user.is_staff:
        query = query.filter(session_key=access.owner_of(request) or "-")
    item = query.first()
    if item is None:
        raise Http404
    return item


@require_GET
def output_file(request: HttpRequest, file_id: uuid.UUID) -> HttpResponseBase:
    """An output for its owner: `?thumb=1` its thumbnail (a video's poster frame), `?download=1`
    as an attachment with a useful name. Files answer range requests (players seek); a text
    result is served as text/plain."""
    found = sql.output_file(file_id)  # with its owner and slug, in one statement
    if found is None or not (request.user.is_staff or found[1] == access.owner_of(request)):
        raise Http404
    output, _, slug = found
    download = bool(request.GET.get("download"))
    response: HttpResponseBase
    if request.GET.get("thumb"):
        try:
            name = thumbnails.ensure(output)
        except thumbnails.NoThumbnail:
            raise Http404 from None
        response = FileResponse(storage.open_file(name), content_type=thumbnails.CONTENT_TYPE)
    elif output.media == "text":
        response = HttpResponse(output.text, content_type="text/plain; charset=utf-8")
        if download:
            response["Content-Disposition"] = f'attachment; filename="{download_name(output, slug)}"'
    else:
        handle = storage.open_file(output.file)
        size = output.size if output.size is not None else storage.size(output.file)
        response = ranges.file_response(
            request,
            handle,
            size,
            output.content_type,
            as_attachment=download,
            filename=download_name(output, slug),
        )
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def download_name(output: Output, slug: str | None = None) -> str:
    """workflow-slug_job8_node-index.ext: tells one result from another in a downloads folder
    (the server's names repeat across servers: ComfyUI_00001_.png). `slug`: its workflow's,
    when the caller read it (None: a raw graph's, or read here)."""
    extension = output.file.rsplit(".", 1)[-1] if "." in output.file else "txt"
    if slug is None:
        slug = output.job.slug if output.job_id else "result"
    return f"{slug}_{str(output.job_id)[:8]}_{output.node_id}-{output.index}.{extension}"


@require_GET
def upload_file(request: HttpRequest, file_id: uuid.UUID) -> HttpResponseBase:
    """An upload for its owner (the form's preview), with ranges for a video's or a sound's player."""
    upload = _owned_upload(request, file_id)
    response = ranges.file_response(request, storage.open_file(upload.file), upload.size, upload.content_type)
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


async def _layer_round_trip() -> bool:
    """Send a message to a fresh channel of our own and read it back. The channel exists
    before the send, as the Redis pub/sub layer needs (it subscribes on first use)."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "healthz"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    return message.get("type") == "healthz"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        db_ok = True
    except Exception:
        db_ok = False
    try:
        channels_ok = async_to_sync(_layer_round_trip)()
    except Exception:
        channels_ok = False
    servers = (
        [
            {
                "name": s.name,
                "status": servers_status.status_now(s),
                "enabled": s.enabled,
                "last_seen": s.last_seen.isoformat() if s.last_seen else None,
            }
            for s in Server.objects.annotate(**servers_status.LEASE)
        ]
        if db_ok
        else []
    )
    relay_state = {"in_process": heartbeat.STATE["running"], "last_poll": heartbeat.STATE["last_poll"]}
    ok = db_ok and channels_ok
    return JsonResponse(
        {"ok": ok, "db": db_ok, "channels": channels_ok, "relay": relay_state, "servers": servers},
        status=200 if ok else 503,
    )
