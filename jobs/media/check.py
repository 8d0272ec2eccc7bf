"""Decode a video or a sound whole before it is accepted: a truncated or corrupt upload fails
here, with a clear message, not on a GPU server minutes later."""

from __future__ import annotations

from pathlib import Path


class Broken(ValueError):
    """The file cannot be decoded to its end."""


def decode_whole(path: Path, media: str) -> int:
    """Decode every frame of the file's first video (or audio) stream; returns the count.

    Raises Broken when decoding fails or ends well before the frames the container
    declares (a file cut short keeps its header but loses its end)."""
    import av  # loaded on first use (jobs.media.detect._stream says why)

    try:
        with av.open(str(path)) as container:
            streams = container.streams.video if media == "video" else container.streams.audio
            if not streams:
                raise Broken(f"it has no {media} stream")
            stream = streams[0]
            declared = int(stream.frames or 0)
            declared_seconds = float(container.duration / av.time_base) if container.duration else 0.0
            decoded, seconds = 0, 0.0
            for frame in container.decode(stream):
                decoded += 1
                if isinstance(frame, av.AudioFrame) and frame.sample_rate:
                    seconds += frame.samples / frame.sample_rate
    except av.FFmpegError as error:
        raise Broken(str(error)) from None
    except (OSError, ValueError) as error:
        raise Broken(str(error)) from None
    if decoded == 0:
        raise Broken("it has no frame that decodes")
    if media == "video" and declared and decoded < declared * 0.9:
        raise Broken(f"it ends after {decoded} of its {declared} frames")
    if media == "audio" and declared_seconds and seconds < declared_seconds * 0.9:
        raise Broken(f"it ends after {seconds:.1f} of its {declared_seconds:.1f} seconds")
    return decoded
