"""Accept an upload: an image, a video or a sound, told from its bytes, never its name.

An image's type is what Pillow decodes; a video's or a sound's is what puremagic names and
PyAV then decodes whole (jobs.media), within the duration and pixel limits.

Order matters for hostile files (SPEC §4, SECURITY.md): size first, then only the image
parsers we accept are tried, the pixel count is checked from the header before anything is
decoded, the whole image is decoded, and only then is a file written, under a name we make.
If recording it in the database fails, the file is removed: nothing half-written stays.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import unicodedata
import warnings
from pathlib import Path

from django.conf import settings
from PIL import Image

from jobs.core import sql, storage
from jobs.core.errors import ServiceError
from jobs.core.models import Upload
from jobs.media import check, detect

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
    sniffed = detect.sniff(data[: detect.HEAD_BYTES])
    if sniffed.startswith(("video/", "audio/")):
        info = _probe(data, "video" if sniffed.startswith("video/") else "audio")
        fields = {
            "media": info.media,
            "content_type": info.content_type,
            "width": info.width,
            "height": info.height,
            "duration": info.duration,
        }
        extension = info.extension
    else:
        width, height, kind = _decode(data)
        fields = {
            "media": "image",
            "content_type": Image.MIME.get(kind, "application/octet-stream"),
            "width": width,
            "height": height,
        }
        extension = FORMATS[kind]
    name = storage.save_upload(data, extension)
    try:
        upload = Upload(
            session_key=session_key,
            file=name,
            original_name=display_name(original_name),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            **fields,
        )
        sql.insert_rows([upload])  # one per upload: plain SQL (issue Y)
        return upload
    except BaseException:
        storage.delete(name)
        raise


VIDEO_EXTENSIONS = ("mp4", "webm", "mov", "mkv", "m4v")
AUDIO_EXTENSIONS = ("wav", "flac", "mp3", "ogg", "oga", "opus", "m4a", "mp4", "aac")


def _probe(data: bytes, announced: str) -> detect.MediaInfo:
    """A video or a sound (`announced` by its first bytes): accepted containers only, within
    the limits, decoded to its end."""
    with tempfile.NamedTemporaryFile(prefix="comfyweb-upload-") as part:
        part.write(data)
        part.flush()
        path = Path(part.name)
        info = detect.describe(path)
        if info.media == "file":  # the header of one, and nothing PyAV can open
            raise ServiceError("invalid_upload", f"The {announced} cannot be read to its end.")
        accepted = VIDEO_EXTENSIONS if info.media == "video" else AUDIO_EXTENSIONS
        if info.media not in ("video", "audio") or info.extension not in accepted:
            raise ServiceError(
                "invalid_upload",
                "Only MP4, WebM, MOV and MKV videos and WAV, FLAC, MP3, OGG and M4A sounds are accepted.",
            )
        _check_limits(info)
        try:
            check.decode_whole(path, info.media)
        except check.Broken as broken:
            raise ServiceError(
                "invalid_upload", f"The {info.media} cannot be read to its end: {broken}."
            ) from None
    return info


def _check_limits(info: detect.MediaInfo) -> None:
    seconds = settings.COMFYWEB_MAX_UPLOAD_SECONDS
    if info.duration is None:
        raise ServiceError("invalid_upload", f"The {info.media} has no duration that can be read.")
    if info.duration > seconds:
        raise ServiceError(
            "upload_too_large",
            f"The {info.media} lasts {info.duration:.0f} s; at most {seconds:.0f} s are accepted "
            "(COMFYWEB_MAX_UPLOAD_SECONDS).",
            status=413,
        )
    pixels = settings.COMFYWEB_MAX_UPLOAD_PIXELS
    if info.width and info.height and info.width * info.height > pixels:
        raise ServiceError(
            "upload_too_large", f"The video has more than {pixels:,} pixels a frame.", status=413
        )


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
