"""Small real media files made in the test (PyAV and Pillow), for the detector and uploads."""

from __future__ import annotations

import io
import struct
import wave

import av
from PIL import Image


def frames(count: int = 4, size: tuple[int, int] = (32, 24)) -> list[Image.Image]:
    return [Image.new("RGB", size, ((60 * i) % 256, 120, 200 - 40 * i)) for i in range(count)]


def mp4(count: int = 8, fps: int = 8, size: tuple[int, int] = (32, 24), audio: bool = False) -> bytes:
    """H.264 yuv420p, as ComfyUI's SaveVideo writes it."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for image in frames(count, size):
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def animation(fmt: str = "WEBP", count: int = 4) -> bytes:
    images = frames(count)
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=125, loop=0)
    return buffer.getvalue()


def still(fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    frames(1)[0].save(buffer, fmt)
    return buffer.getvalue()


def wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\1" * int(seconds * rate))
    return buffer.getvalue()


def flac(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """FLAC, as ComfyUI's SaveAudio writes it."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=int(seconds * rate))
        frame.sample_rate = rate
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def glb() -> bytes:
    """The smallest binary glTF header: what SaveGLB files start with."""
    return b"glTF" + struct.pack("<II", 2, 20) + b"\0" * 8
