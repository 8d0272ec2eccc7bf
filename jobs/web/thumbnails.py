"""Gallery thumbnails and video posters: made once, stored next to their output, recorded on it.

The browser never shrinks a full-size result for the gallery grid; it gets a small WebP made
here the first time it is asked for, and the same file on every later request.
"""

from __future__ import annotations

import io

from PIL import Image

from jobs.core import storage
from jobs.core.models import Output
from jobs.media.detect import MediaInfo
from jobs.media.poster import first_frame

MAX_SIDE = 320
FORMAT = "webp"
CONTENT_TYPE = "image/webp"


class NoThumbnail(Exception):
    """The output has no picture to show small (audio, text, 3D, a download)."""


def render(data: bytes, max_side: int = MAX_SIDE) -> bytes:
    """A WebP at most `max_side` pixels on its longer side; never larger than the original."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
        return shrink(image.convert(mode), max_side)


def shrink(small: Image.Image, max_side: int = MAX_SIDE) -> bytes:
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # Tiny results (an 8×8 test image) stay lossless so they scale up crisp in the page.
    lossless = small.width * small.height <= 64 * 64
    small.save(out, format="WEBP", quality=82, method=4, lossless=lossless)
    return out.getvalue()


def ensure(output: Output) -> str:
    """The storage name of the output's thumbnail, making and recording it if it has none."""
    if output.thumbnail:
        return output.thumbnail
    if output.media in ("image", "animated"):
        data = render(storage.read_bytes(output.file))  # an animation: its first frame
    elif output.media == "video":
        data = _poster(output)
    else:
        raise NoThumbnail(output.media)
    # Named after the output's slot: two requests racing here write the same file, not two.
    name = storage.save_output(output.job_id, f"thumb_{output.node_id}", output.index, data, FORMAT)
    # Race: another request made it meanwhile; only an empty field is written.
    Output.objects.filter(id=output.id, thumbnail="").update(thumbnail=name)
    output.thumbnail = name
    return name


def _poster(output: Output) -> bytes:
    """A video's first frame (PyAV reads files: a local copy when storage is remote)."""
    with storage.local_copy(output.file) as path:
        frame = first_frame(path, MediaInfo("video", output.content_type, ""))
    if frame is None:
        raise NoThumbnail("video without a frame")
    return shrink(frame)
