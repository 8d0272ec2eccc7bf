"""HTTP range requests for stored files, so that the browser's video and audio players seek.

Django's FileResponse always sends the whole file; a `<video>` asks for `bytes=N-` to seek
and for the end of an MP4 whose index comes last (ComfyUI writes no faststart MP4s). One
range per request, as browsers ask; a range past the end is 416 with the size.
"""

from __future__ import annotations

import re
from typing import IO

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.utils.http import content_disposition_header

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


# A file up to this size is read in the view and answered whole: a FileResponse is streamed
# by Django's ASGI handler one worker-thread hop per chunk, and one more for its end, which
# cost a picture's download more than reading it (issue Y). Bigger files stream.
WHOLE_BYTES = 1024 * 1024


class Unsatisfiable(ValueError):
    """The range lies past the end of the file (HTTP 416)."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of one range; None without a usable header (send everything).
    Raises Unsatisfiable for a range past the end."""
    match = _RANGE.match(header.strip())
    if not match or not (match.group(1) or match.group(2)):
        return None  # no range, several ranges, or another unit: the whole file
    start, end = match.group(1), match.group(2)
    if not start:  # the last N bytes
        length = int(end)
        if length == 0:
            raise Unsatisfiable(header)
        return max(size - length, 0), size - 1
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    if first >= size or last < first:
        raise Unsatisfiable(header)
    return first, last


class _Slice:
    """A file object that reads `length` bytes from `start`, in chunks, for FileResponse."""

    def __init__(self, handle: IO[bytes], start: int, length: int) -> None:
        handle.seek(start)
        self.handle, self.left = handle, length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


def file_response(
    request: HttpRequest,
    handle: IO[bytes],
    size: int,
    content_type: str,
    *,
    as_attachment: bool = False,
    filename: str = "",
) -> HttpResponseBase:
    """The file, or the part of it the Range header asks for (206)."""
    try:
        wanted = parse_range(request.headers.get("Range", ""), size) if size else None
    except Unsatisfiable:
        handle.close()
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    response: HttpResponseBase
    if wanted is None and size <= WHOLE_BYTES:
        with handle:
            return whole(handle.read(), content_type, as_attachment=as_attachment, filename=filename)
    if wanted is None:
        response = FileResponse(
            handle, content_type=content_type, as_attachment=as_attachment, filename=filename
        )
    else:
        first, last = wanted
        part = _Slice(handle, first, last - first + 1)
        response = FileResponse(
            part, content_type=content_type, as_attachment=as_attachment, filename=filename
        )
        response.status_code = 206
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    return response


def whole(data: bytes, content_type: str, *, as_attachment: bool = False, filename: str = "") -> HttpResponse:
    """A file read whole, with the headers FileResponse would give it."""
    response = HttpResponse(data, content_type=content_type)
    response["Content-Length"] = str(len(data))
    disposition = content_disposition_header(as_attachment, filename)
    if disposition:  # as FileResponse sets it
        response["Content-Disposition"] = disposition
    response["Accept-Ranges"] = "bytes"
    return response
