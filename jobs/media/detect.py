"""Tell a result's or an upload's media from its bytes, never from its name.

ComfyUI reports an MP4 under `images` and a WEBP animation beside PNG stills; a name can lie
and a key says little. The bytes decide: puremagic names the container, then Pillow or PyAV
opens it to read its size, frames and duration. What nothing recognises is a plain download.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import puremagic
from PIL import Image, UnidentifiedImageError

# The media a result or an input can be; the page shows each its own way.
MEDIA = ("image", "animated", "video", "audio", "text", "3d", "file")

# Content types browsers know by these names (puremagic reports older aliases).
_CANONICAL = {"audio/wave": "audio/wav", "audio/x-wav": "audio/wav", "audio/x-flac": "audio/flac"}
_THREE_D = {
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".obj": "model/obj",
    ".stl": "model/stl",
    ".ply": "application/octet-stream",
    ".fbx": "application/octet-stream",
}
HEAD_BYTES = 8192


@dataclass(frozen=True)
class MediaInfo:
    """What a file is. `extension` has no dot; figures are None where they do not apply."""

    media: str
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None  # seconds, for video, audio and animations
    frames: int | None = None

    @property
    def playable(self) -> bool:
        return self.media in ("video", "audio")


def describe(source: Path | IO[bytes], name: str = "") -> MediaInfo:
    """The media of a file, at a path or open (a result still in memory, read from its
    start); `name` (what the server called it) only helps to name what the bytes leave open
    (a 3D model, a text), never to overrule them."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            return _describe(handle, name, str(source))
    return _describe(source, name, None)


def _describe(handle: IO[bytes], name: str, path: str | None) -> MediaInfo:
    handle.seek(0)
    head = handle.read(HEAD_BYTES)
    handle.seek(0)
    if not head:
        return MediaInfo("file", "application/octet-stream", "bin")
    mime, extension = _magic(head)
    if mime.startswith("image/"):
        return _picture(handle, mime, extension)
    if mime.startswith(("video/", "audio/")) or extension in ("mp4", "m4a", "mov", "webm", "mkv", "ogg"):
        return _stream(path or handle, mime, extension)  # FFmpeg reads a path itself, faster
    return _other(head, name)


def sniff(head: bytes) -> str:
    """The content type the first bytes announce ("" when nothing recognises them)."""
    return _magic(head)[0]


# The pictures ComfyUI makes and people upload most, told by their signature at once: every
# upload and every result was matched against puremagic's whole table, which cost more than
# the rest of an upload's checks (issue Y). The same content types as puremagic's (a test
# holds it); a JPEG is named .jpg, where puremagic names a JFIF one .jfif.
_PICTURES = ((b"\x89PNG\r\n\x1a\n", "image/png", "png"), (b"\xff\xd8\xff", "image/jpeg", "jpg"))


def _magic(head: bytes) -> tuple[str, str]:
    for signature, mime, extension in _PICTURES:
        if head.startswith(signature):
            return mime, extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return _table(head)


def _table(head: bytes) -> tuple[str, str]:
    """What puremagic's table of signatures makes of the first bytes."""
    try:
        matches = puremagic.magic_string(head)
    except puremagic.PureError:
        return "", ""
    for match in matches:
        if match.mime_type:
            return _CANONICAL.get(match.mime_type, match.mime_type), match.extension.lstrip(".").lower()
    return "", ""


def _picture(handle: IO[bytes], mime: str, extension: str) -> MediaInfo:
    try:
        with Image.open(handle) as image:  # the caller's file: Pillow leaves it open
            image.load()  # the first frame whole: a truncated file fails here, not in the page
            frames = getattr(image, "n_frames", 1)
            width, height = image.size
            kind = (image.format or extension).lower()
            duration = _animation_seconds(image) if frames > 1 else None
    except Image.DecompressionBombError:  # a huge result: a picture all the same, shown as a download
        return MediaInfo("file", mime, extension or "bin")
    except (UnidentifiedImageError, OSError, ValueError):
        return MediaInfo("file", mime, extension or "bin")
    extension = {"jpeg": "jpg"}.get(kind, kind)
    content_type = f"image/{kind}" if kind in ("png", "jpeg", "webp", "gif", "bmp", "tiff") else mime
    media = "animated" if frames > 1 else "image"
    return MediaInfo(media, content_type, extension, width, height, duration, frames if frames > 1 else None)


def _animation_seconds(image: Image.Image) -> float | None:
    total = 0.0
    try:
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()  # WEBP tells a frame's duration only once the frame is read
            total += float(image.info.get("duration") or 0)
    except (EOFError, OSError, ValueError):
        return None
    return total / 1000 if total else None


def _stream(source: str | IO[bytes], mime: str, extension: str) -> MediaInfo:
    """Video or audio, from its container: a video stream makes it a video (an MP4 of sound
    alone is audio). What PyAV cannot open is a download."""
    import av  # here, not at the top: FFmpeg's libraries cost a process ~27 MB once loaded

    try:
        with av.open(source, mode="r") as container:
            duration = float(container.duration / av.time_base) if container.duration else None
            if container.streams.video:
                stream = container.streams.video[0]
                frames = int(stream.frames) or None
                content_type = mime if mime.startswith("video/") else f"video/{extension or 'mp4'}"
                return MediaInfo(
                    "video", content_type, extension or "mp4", stream.width, stream.height, duration, frames
                )
            if container.streams.audio:
                content_type = mime if mime.startswith("audio/") else f"audio/{extension or 'mp4'}"
                return MediaInfo("audio", content_type, extension or "bin", duration=duration)
    except (av.FFmpegError, OSError, ValueError):
        pass
    return MediaInfo("file", mime or "application/octet-stream", extension or "bin")


def _other(head: bytes, name: str) -> MediaInfo:
    suffix = Path(name).suffix.lower()
    if head.startswith(b"glTF"):
        return MediaInfo("3d", "model/gltf-binary", "glb")
    if suffix in _THREE_D:
        return MediaInfo("3d", _THREE_D[suffix], suffix.lstrip("."))
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        guessed = mimetypes.guess_type(name)[0] if name else None
        safe = suffix.lstrip(".") if suffix[1:].isalnum() and len(suffix) <= 8 else "bin"
        return MediaInfo("file", guessed or "application/octet-stream", safe or "bin")
    if b"\0" in head:
        return MediaInfo("file", "application/octet-stream", "bin")
    return MediaInfo("text", "text/plain; charset=utf-8", "txt")
