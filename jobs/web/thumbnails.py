"""Gallery thumbnails: made once with Pillow, stored next to their output, recorded on the Output.

The browser never shrinks a full-size result for the gallery grid; it gets a small WebP made
here the first time it is asked for, and the same file on every later request.
"""

from __future__ import annotations

import io

from PIL import Image

from jobs.core import storage
from jobs.core.models import Output

MAX_SIDE = 320
FORMAT = "webp"
CONTENT_TYPE = "image/webp"


def render(data: bytes, max_side: int = MAX_SIDE) -> bytes:
    """A WebP at most `max_side` pixels on its longer side; never larger than the original."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
        small = image.convert(mode)
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
    data = render(storage.read_bytes(output.file))
    # Named after the output's slot: two requests racing here write the same file, not two.
    name = storage.save_output(output.job_id, f"thumb_{output.node_id}", output.index, data, FORMAT)
    # Race: another request made it meanwhile; only an empty field is written.
    Output.objects.filter(id=output.id, thumbnail="").update(thumbnail=name)
    output.thumbnail = name
    return name
