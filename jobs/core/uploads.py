"""Accept an uploaded image: its type is what Pillow decodes, never its name or header.

Order matters for hostile files (SPEC §4, SECURITY.md): size first, then only the image
parsers we accept are tried, the pixel count is checked from the header before anything is
decoded, the whole image is decoded, and only then is a file written, under a name we make.
If recording it in the database fails, the file is removed: nothing half-written stays.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import warnings

from django.conf import settings
from PIL import Image

from jobs.core import storage
from jobs.core.errors import ServiceError
from jobs.core.models import Upload

FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}


def accept_upload(session_key: str, data: bytes, original_name: str) -> Upload:
    if not data:
        raise ServiceError("invalid_upload", "The file is empty.")
    if len(data) > settings.COMFYWEB_MAX_UPLOAD_BYTES:
        raise ServiceError(
            "upload_too_large",
            f"The file is larger than {settings.COMFYWEB_MAX_UPLOAD_BYTES // (1024 * 1024)} MB.",
            status=413,
        )
    width, height, kind = _decode(data)
    name = storage.save_upload(data, FORMATS[kind])
    try:
        return Upload.objects.create(
            session_key=session_key,
            file=name,
            original_name=display_name(original_name),
            content_type=Image.MIME.get(kind, "application/octet-stream"),
            width=width,
            height=height,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    except BaseException:
        storage.delete(name)
        raise


def display_name(original_name: str) -> str:
    """The client's file name, kept only to show it: no directories, no control characters.

    It never becomes a path; the stored file is named by storage.save_upload.
    """
    base = original_name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return clean[:255] or "upload"


def _decode(data: bytes) -> tuple[int, int, str]:
    limit = settings.COMFYWEB_MAX_UPLOAD_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the accepted parsers run: a file claiming to be EPS, PSD, ... is never parsed.
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
                kind, width, height = image.format, image.width, image.height
                if kind not in FORMATS:
                    raise ServiceError(
                        "invalid_upload", "Only PNG, JPEG, WebP, GIF and BMP images are accepted."
                    )
                if width * height > limit:
                    raise ServiceError(
                        "upload_too_large", f"The image has more than {limit:,} pixels.", status=413
                    )
                image.load()  # decode it whole: a truncated or corrupt file fails here
    except ServiceError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ServiceError("upload_too_large", "The image is too large to decode.", status=413) from None
    except Exception:
        raise ServiceError("invalid_upload", "The file is not an image that can be read.") from None
    return width, height, kind
