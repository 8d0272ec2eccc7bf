"""VIDEO and AUDIO stand-ins, and the PyAV work behind them (encode, decode, remux).

Ported from ComfyUI 0.3.64 comfy_api/latest/_input_impl/video_types.py (VideoFromFile,
VideoFromComponents) and comfy_extras/nodes_audio.py (load, save_audio), so the files the
simulator writes are what a real server writes: MP4 with H.264 in yuv420p (what browsers
play), AAC audio cut to the video's length, FLAC audio, prompt metadata in the container.
No numpy: frames go through Pillow (VideoFrame.from_image / to_image) and samples through
float32 arrays, which is all PyAV needs without it.
"""

from __future__ import annotations

import io
import json
import math
from array import array
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import av
import av.container

from simulator.errors import with_frames
from simulator.image_batch import Images, batch_of, frames

_VIDEO_TYPES = "/opt/ComfyUI/comfy_api/latest/_input_impl/video_types.py"


@dataclass(frozen=True, eq=False)
class Audio:
    """AUDIO ({"waveform": [1, C, N] float tensor, "sample_rate": int}): one float32 array per
    channel, batch of one as LoadAudio and GetVideoComponents make it."""

    channels: tuple[array[float], ...]
    sample_rate: int

    @property
    def samples(self) -> int:
        return len(self.channels[0]) if self.channels else 0

    @property
    def layout(self) -> str:
        return "mono" if len(self.channels) == 1 else "stereo"

    def interleaved(self, limit: int | None = None) -> bytes:
        """Packed float32 samples (PyAV's "flt"), as waveform.movedim(...).reshape(1, -1) gives."""
        count = self.samples if limit is None else min(limit, self.samples)
        out = array("f", bytes(4 * count * len(self.channels)))
        for index, channel in enumerate(self.channels):
            out[index :: len(self.channels)] = channel[:count]
        return out.tobytes()

    def __str__(self) -> str:
        shape = [1, len(self.channels), self.samples]
        return f"{{'waveform': tensor(<{shape}>), 'sample_rate': {self.sample_rate}}}"


@dataclass(frozen=True)
class Components:
    """VideoComponents: the frames, the frame rate and the audio, if any."""

    images: Images
    frame_rate: Fraction
    audio: Audio | None = None


@dataclass(frozen=True, eq=False)
class VideoFromComponents:
    """VIDEO made by CreateVideo: encoded only when saved."""

    components: Components

    def __str__(self) -> str:
        return f"<comfy_api.latest._input_impl.video_types.VideoFromComponents object at 0x{id(self):012x}>"

    def get_dimensions(self) -> tuple[int, int]:
        first = frames(self.components.images)[0]
        return first.width, first.height

    def get_components(self) -> Components:
        return self.components

    def save_to(
        self, path: str, format: str = "auto", codec: str = "auto", metadata: dict[str, Any] | None = None
    ) -> None:
        if format not in ("auto", "mp4"):
            raise ValueError("Only MP4 format is supported for now")
        if codec not in ("auto", "h264"):
            raise ValueError("Only H264 codec is supported for now")
        encode_mp4(path, self.components, metadata)


@dataclass(frozen=True, eq=False)
class VideoFromFile:
    """VIDEO made by LoadVideo: the file, decoded on demand, remuxed as is when saved."""

    path: str

    def __str__(self) -> str:
        return f"<comfy_api.latest._input_impl.video_types.VideoFromFile object at 0x{id(self):012x}>"

    def get_dimensions(self) -> tuple[int, int]:
        with av.open(self.path, mode="r") as container:
            for stream in container.streams.video:
                return stream.width, stream.height
        error = ValueError(f"No video stream found in file '{self.path}'")
        raise with_frames(error, (_VIDEO_TYPES, 90, "get_dimensions"))

    def get_components(self) -> Components:
        with av.open(self.path, mode="r") as container:
            return _components(container)

    def save_to(
        self, path: str, format: str = "auto", codec: str = "auto", metadata: dict[str, Any] | None = None
    ) -> None:
        with av.open(self.path, mode="r") as container:
            container_format = container.format.name
            video = container.streams.video
            encoding = video[0].codec_context.name if video else None
            reuse = not (format != "auto" and format not in container_format.split(","))
            if codec != "auto" and encoding is not None and codec != encoding:
                reuse = False
            if not reuse:
                VideoFromComponents(_components(container)).save_to(path, format, codec, metadata)
                return
            _remux(container, path, metadata)


Video = VideoFromComponents | VideoFromFile


def encode_mp4(path: str, components: Components, metadata: dict[str, Any] | None) -> None:
    """VideoFromComponents.save_to: H.264 yuv420p at the rate rounded to 1/1000, AAC audio."""
    images = frames(components.images)
    with av.open(path, mode="w", options={"movflags": "use_metadata_tags"}) as output:
        for key, value in (metadata or {}).items():
            output.metadata[key] = json.dumps(value)
        frame_rate = Fraction(round(components.frame_rate * 1000), 1000)
        video_stream = output.add_stream("h264", rate=frame_rate)
        video_stream.width = images[0].width
        video_stream.height = images[0].height
        video_stream.pix_fmt = "yuv420p"
        audio = components.audio
        audio_stream = output.add_stream("aac", rate=audio.sample_rate) if audio else None
        for image in images:
            frame = av.VideoFrame.from_image(image.convert("RGB")).reformat(format="yuv420p")
            output.mux(video_stream.encode(frame))
        output.mux(video_stream.encode(None))
        if audio is not None and audio_stream is not None:
            limit = math.ceil((audio.sample_rate / frame_rate) * len(images))
            output.mux(audio_stream.encode(_audio_frame(audio, limit)))
            output.mux(audio_stream.encode(None))


def _remux(container: av.container.InputContainer, path: str, metadata: dict[str, Any] | None) -> None:
    """VideoFromFile.save_to with auto format and codec: the streams copied packet by packet."""
    with av.open(path, mode="w", options={"movflags": "use_metadata_tags"}) as output:
        for key, value in container.metadata.items():
            if metadata is None or key not in metadata:
                output.metadata[key] = value
        for key, value in (metadata or {}).items():
            output.metadata[key] = value if isinstance(value, str) else json.dumps(value)
        streams = {}
        for stream in container.streams:
            if stream.type in ("video", "audio", "subtitle"):
                streams[stream] = output.add_stream_from_template(template=stream, opaque=True)
        for packet in container.demux():
            if packet.stream in streams and packet.dts is not None:
                packet.stream = streams[packet.stream]
                output.mux(packet)


def _components(container: av.container.InputContainer) -> Components:
    """get_components_internal: every frame as RGB, the average rate, the first audio stream."""
    images = [frame.to_image() for frame in container.decode(video=0)]
    if not images:
        raise ValueError("the video has no frames")  # the real one makes an empty tensor and fails later
    stream = container.streams.video[0]
    frame_rate = Fraction(stream.average_rate) if stream.average_rate else Fraction(1)
    audio = None
    if container.streams.audio:
        container.seek(0)
        audio = _decode_audio(container, container.streams.audio[0])
    return Components(batch_of(images), frame_rate, audio)


def decode_audio(path: str) -> Audio:
    """nodes_audio.load: the first audio stream as float samples per channel."""
    with av.open(path) as container:
        if not container.streams.audio:
            raise ValueError("No audio stream found in the file.")
        audio = _decode_audio(container, container.streams.audio[0])
    if audio is None:
        raise ValueError("No audio frames decoded.")
    return audio


def _decode_audio(container: av.container.InputContainer, stream: av.AudioStream) -> Audio | None:
    count = stream.codec_context.channels
    layout = "mono" if count == 1 else "stereo"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=stream.codec_context.sample_rate)
    channels = tuple(array("f") for _ in range(min(count, 2)))
    for frame in container.decode(stream):
        for planar in resampler.resample(frame):
            for channel, plane in zip(channels, planar.planes, strict=False):
                channel.frombytes(bytes(plane)[: 4 * planar.samples])
    if not channels or not channels[0]:
        return None
    return Audio(channels, int(stream.codec_context.sample_rate or 1))


def encode_audio(audio: Audio, fmt: str, metadata: dict[str, str]) -> bytes:
    """save_audio for one waveform of the batch: the container bytes (FLAC for SaveAudio)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as output:
        for key, value in metadata.items():
            output.metadata[key] = value
        codec = {"flac": "flac", "mp3": "libmp3lame", "opus": "libopus"}[fmt]
        stream = cast(av.AudioStream, output.add_stream(codec, rate=audio.sample_rate))
        stream.layout = audio.layout
        output.mux(stream.encode(_audio_frame(audio)))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def _audio_frame(audio: Audio, limit: int | None = None) -> av.AudioFrame:
    data = audio.interleaved(limit)
    frame = av.AudioFrame(format="flt", layout=audio.layout, samples=len(data) // (4 * len(audio.channels)))
    frame.planes[0].update(data)
    frame.sample_rate = audio.sample_rate
    frame.pts = 0
    return frame
