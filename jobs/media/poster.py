"""A still of a video or an animation: the first frame, for thumbnails and posters."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from jobs.media.detect import MediaInfo


def first_frame(path: Path, info: MediaInfo) -> Image.Image | None:
    """The first frame as an RGB image, or None when the file has no picture."""
    if info.media in ("image", "animated"):
        try:
            with Image.open(path) as image:
                image.seek(0)
                return image.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError, EOFError):
            return None
    if info.media != "video":
        return None
    import av  # loaded on first use (jobs.media.detect._stream says why)

    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return frame.to_image().convert("RGB")
    except (av.FFmpegError, OSError, ValueError):
        return None
    return None
