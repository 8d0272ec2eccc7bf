"""POST /upload/image and /upload/mask, GET /view: the caller's files, kept by ComfyWeb.

Uploads go to ComfyWeb first (jobs.core.named_uploads) and follow each prompt to its server.
/view serves results from ComfyWeb's storage by the names jobs.core.comfy_files gives them,
and the caller's uploads by their input names; a file the caller does not own is a 404.
"""

from __future__ import annotations

import uuid

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase

from jobs.comfyapi.http import comfy_view, empty, ok
from jobs.comfyapi.identity import Caller
from jobs.core import storage
from jobs.core.errors import ServiceError
from jobs.core.models import Output, Upload
from jobs.core.named_uploads import accept_named


@comfy_view(("POST",))
def upload(request: HttpRequest, caller: Caller) -> HttpResponse:
    """ComfyUI's multipart upload: `image`, `overwrite`, `subfolder`, `type` (input only
    here: results are ComfyWeb's). /upload/mask is taken as an image upload."""
    part = request.FILES.get("image")
    if part is None or not part.name:
        return empty(400)  # ComfyUI: no image part, or no file name
    overwrite = request.POST.get("overwrite", "") in ("true", "1")
    try:
        named = accept_named(
            caller.owner_key, part.read(), part.name, request.POST.get("subfolder", ""), overwrite
        )
    except ServiceError as error:
        return HttpResponse(
            error.message.encode(), status=error.status, content_type="text/plain; charset=utf-8"
        )
    return ok({"name": named.name, "subfolder": named.subfolder, "type": "input"})


@comfy_view(("GET",))
def view(request: HttpRequest, caller: Caller) -> HttpResponseBase:
    filename = request.GET.get("filename", "")
    subfolder = request.GET.get("subfolder", "")
    kind = request.GET.get("type", "output") or "output"
    if not filename or "/" in filename or "\\" in filename or ".." in filename:
        return empty(400 if filename else 404)
    if kind == "input":
        name = f"{subfolder}/{filename}" if subfolder else filename
        found = Upload.objects.filter(session_key=caller.owner_key, input_name=name).first()
        if found is None:
            return empty(404)
        return _file(found.file, found.content_type, filename)
    try:
        job_id = uuid.UUID(subfolder)
    except ValueError:
        return empty(404)
    output = (
        Output.objects.filter(job_id=job_id, job__session_key=caller.owner_key, filename=filename, kind=kind)
        .exclude(file="")
        .first()
    )
    if output is None:
        return empty(404)
    return _file(output.file, output.content_type, filename)


def _file(name: str, content_type: str, filename: str) -> HttpResponseBase:
    response = FileResponse(storage.open_file(name), content_type=content_type)
    shown = "".join(c for c in filename if c.isprintable() and c not in '"\\')
    response["Content-Disposition"] = f'filename="{shown}"'
    return response
