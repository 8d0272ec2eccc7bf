"""The media nodes run for real: the files they write are what a real 0.3.64 server writes.

The recorded answers are traces 11 and 12 (tests/fixtures/comfyui/traces, replayed frame for
frame in test_trace_replay.py) and the files a real server wrote (tests/fixtures/comfyui/media).
Here: the files themselves, checked with Pillow and PyAV, and the pixels against the recording.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from typing import Any

import aiohttp
import av
from PIL import Image, ImageChops, ImageSequence

from simulator.testing import running_simulator
from tests.paths import FIXTURES, TRACES
from tests.simulator import replay
from tests.simulator.test_models import Client, session, texts

__all__ = ["session"]  # the fixture, shared with test_models

MEDIA = FIXTURES / "comfyui" / "media"


def recorded_prompt(trace: str, label: str) -> dict[str, Any]:
    """The graph a trace posted under ``label``, its outputs in the order the real server ran
    them (replay.in_recorded_order: the real order is string-hash order)."""
    recorded = replay.load(trace)
    for event in recorded["events"]:
        if event["dir"] == "http" and event.get("label") == label:
            prompt: dict[str, Any] = replay.in_recorded_order(event["request"]["json"], recorded)["prompt"]
            return prompt
    raise KeyError(label)


def executed(frames: list[Any]) -> dict[str, Any]:
    return {data["node"]: data["output"] for data in texts(frames, "executed")}


async def view(client: Client, ref: dict[str, str]) -> tuple[str, bytes]:
    async with client.session.get(f"{client.sim.url}/view", params=ref) as response:
        assert response.status == 200
        return response.content_type, await response.read()


def wav(seconds: float = 0.25, rate: int = 16000, channels: int = 2) -> bytes:
    """A 440 Hz tone as 16-bit PCM."""
    count = int(seconds * rate)
    samples = [int(12000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(count)]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) * channels for s in samples))
    return buffer.getvalue()


def frames_of(data: bytes) -> list[Image.Image]:
    with Image.open(io.BytesIO(data)) as image:
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]


async def test_four_different_frames_make_animated_webp_png_and_an_h264_mp4(
    session: aiohttp.ClientSession,
) -> None:
    prompt = recorded_prompt("11-media-outputs.json", "media outputs, four different frames")
    async with running_simulator() as sim:
        client = Client(sim, session)
        await client.upload("trace-media-in.png", (TRACES / "input-32x24.png").read_bytes())
        frames, entry = await client.run(prompt)
        outputs = executed(frames)
        assert outputs == entry["outputs"]
        assert outputs["3"] == {
            "images": [{"filename": "frames4_00002_.webp", "subfolder": "anim", "type": "output"}],
            "animated": [True],
        }
        assert outputs["4"] == {
            "images": [{"filename": "frames4_00001_.png", "subfolder": "anim", "type": "output"}],
            "animated": [True],
        }
        assert outputs["6"] == {
            "images": [{"filename": "frames4_00001_.mp4", "subfolder": "video", "type": "output"}],
            "animated": [True],
        }
        webp_type, webp = await view(client, outputs["3"]["images"][0])
        png_type, png = await view(client, outputs["4"]["images"][0])
        mp4_type, mp4 = await view(client, outputs["6"]["images"][0])
    assert (webp_type, png_type, mp4_type) == ("image/webp", "image/png", "video/mp4")

    with Image.open(io.BytesIO(webp)) as image:
        assert image.format == "WEBP" and image.is_animated and image.n_frames == 4
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.is_animated and image.n_frames == 4
        assert image.info["duration"] == 125  # int(1000 / fps)
    # APNG is lossless: the very frames the real server wrote.
    for ours, real in zip(frames_of(png), frames_of((MEDIA / "animated.png").read_bytes()), strict=True):
        assert ImageChops.difference(ours, real).getbbox() is None

    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height, stream.frames) == (32, 24, 4)
        assert stream.average_rate == 8
        assert container.duration == 500000  # 4 frames at 8 fps, in microseconds
        assert "prompt" in container.metadata
        assert not container.streams.audio


async def test_identical_frames_are_merged_but_still_reported_animated(
    session: aiohttp.ClientSession,
) -> None:
    prompt = recorded_prompt("11-media-outputs.json", "media outputs")
    async with running_simulator() as sim:
        client = Client(sim, session)
        await client.upload("trace-media-in.png", (TRACES / "input-32x24.png").read_bytes())
        frames, _entry = await client.run(prompt)
        outputs = executed(frames)
        _, webp = await view(client, outputs["3"]["images"][0])
        _, png = await view(client, outputs["4"]["images"][0])
        _, mp4 = await view(client, outputs["6"]["images"][0])
    # SaveAnimatedPNG and SaveAnimatedWEBP share the "ComfyUI" counter, as recorded.
    assert [outputs[n]["images"][0]["filename"] for n in ("4", "3", "6")] == [
        "ComfyUI_00001_.png",
        "ComfyUI_00002_.webp",
        "ComfyUI_00001_.mp4",
    ]
    assert outputs["8"] == {"text": ["a caption for the clip"]}
    # Pillow merges the four identical frames into one, as it did on the real server.
    assert len(frames_of(webp)) == len(frames_of((MEDIA / "repeat-identical.webp").read_bytes())) == 1
    assert len(frames_of(png)) == 1
    with av.open(io.BytesIO(mp4)) as container:
        assert container.streams.video[0].frames == 4


async def test_a_batch_saves_one_file_per_image_with_counters(session: aiohttp.ClientSession) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 255}},
        "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 3}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "b%batch_num%"}},
    }
    async with running_simulator() as sim:
        client = Client(sim, session)
        frames, _ = await client.run(prompt)
        images = executed(frames)["4"]["images"]
        assert [i["filename"] for i in images] == ["b0_00001_.png", "b1_00002_.png", "b2_00003_.png"]
        picture = await client.image(images[2])
    assert picture.getpixel((0, 0)) == (255, 255, 0)  # blue inverted


async def test_uploaded_mp4_loads_into_frames_fps_and_a_stream_copy(session: aiohttp.ClientSession) -> None:
    recorded_mp4 = (MEDIA / "h264.mp4").read_bytes()  # a real server's SaveVideo output
    prompt = recorded_prompt("12-media-inputs.json", "video input")
    async with running_simulator() as sim:
        client = Client(sim, session)
        await client.upload("trace-clip.mp4", recorded_mp4)
        _, info = await client.get("/object_info/LoadVideo")
        assert info["LoadVideo"]["input"]["required"]["file"][1]["options"] == ["trace-clip.mp4"]
        frames, entry = await client.run(prompt)
        outputs = executed(frames)
        _, webp = await view(client, outputs["4"]["images"][0])
        _, copied = await view(client, outputs["2"]["images"][0])
    assert outputs["6"] == {"text": ["8.0"]}
    assert outputs["2"]["images"] == [
        {"filename": "from-load_00001_.mp4", "subfolder": "video", "type": "output"}
    ]
    assert [i["filename"] for i in outputs["5"]["images"]] == [
        f"{outputs['5']['images'][0]['filename'][:-11]}_{n:05}_.png" for n in range(1, 5)
    ]
    assert entry["outputs"] == outputs
    assert len(frames_of(webp)) == 4
    with av.open(io.BytesIO(copied)) as ours, av.open(io.BytesIO(recorded_mp4)) as real:
        # auto/auto copies the packets: the same H.264 stream, not an encode of it.
        ours_packets = [bytes(p) for p in ours.demux(video=0) if p.size]
        real_packets = [bytes(p) for p in real.demux(video=0) if p.size]
        assert ours_packets == real_packets


async def test_wav_loads_and_saves_as_flac_under_audio_and_into_an_mp4(
    session: aiohttp.ClientSession,
) -> None:
    prompt = {
        "1": {"class_type": "LoadAudio", "inputs": {"audio": "tone.wav"}},
        "2": {"class_type": "SaveAudio", "inputs": {"audio": ["1", 0], "filename_prefix": "audio/ComfyUI"}},
        "3": {"class_type": "PreviewAudio", "inputs": {"audio": ["1", 0]}},
        "4": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 2, "color": 0}},
        "5": {"class_type": "CreateVideo", "inputs": {"images": ["4", 0], "fps": 8.0, "audio": ["1", 0]}},
        "6": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["5", 0], "filename_prefix": "video/a", "format": "mp4", "codec": "h264"},
        },
    }
    async with running_simulator() as sim:
        client = Client(sim, session)
        await client.upload("tone.wav", wav())
        _, info = await client.get("/object_info/LoadAudio")
        assert info["LoadAudio"]["input"]["required"]["audio"] == [["tone.wav"], {"audio_upload": True}]
        frames, _ = await client.run(prompt)
        outputs = executed(frames)
        flac_type, flac = await view(client, outputs["2"]["audio"][0])
        preview_type, _ = await view(client, outputs["3"]["audio"][0])
        _, mp4 = await view(client, outputs["6"]["images"][0])
    assert outputs["2"] == {
        "audio": [{"filename": "ComfyUI_00001_.flac", "subfolder": "audio", "type": "output"}]
    }
    [preview] = outputs["3"]["audio"]
    assert preview["type"] == "temp" and preview["filename"].startswith("ComfyUI_temp_")
    assert flac_type == preview_type == "audio/flac"
    assert flac[:4] == b"fLaC"
    with av.open(io.BytesIO(flac)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.sample_rate, stream.channels) == ("flac", 16000, 2)
        assert sum(frame.samples for frame in container.decode(stream)) == 4000
    with av.open(io.BytesIO(mp4)) as container:
        assert [s.codec_context.name for s in container.streams] == ["h264", "aac"]
        assert container.streams.video[0].frames == 2


async def test_preview_any_and_the_primitives(session: aiohttp.ClientSession) -> None:
    prompt = {
        "1": {"class_type": "PrimitiveFloat", "inputs": {"value": 2.5}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        "3": {"class_type": "PrimitiveBoolean", "inputs": {"value": True}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
        "5": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "two\nlines"}},
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},
        "7": {"class_type": "PrimitiveInt", "inputs": {"value": -7}},
        "8": {"class_type": "PreviewAny", "inputs": {"source": ["7", 0]}},
    }
    async with running_simulator() as sim:
        frames, _ = await Client(sim, session).run(prompt)
    outputs = executed(frames)
    assert [outputs[n]["text"] for n in ("2", "4", "6", "8")] == [["2.5"], ["True"], ["two\nlines"], ["-7"]]


async def test_load_image_mask_alpha_gives_the_recorded_picture(session: aiohttp.ClientSession) -> None:
    prompt = recorded_prompt("12-media-inputs.json", "mask input")
    async with running_simulator() as sim:
        client = Client(sim, session)
        await client.upload("trace-mask-in.png", (TRACES / "input-32x24-rgba.png").read_bytes())
        frames, _ = await client.run(prompt)
        picture = await client.image(executed(frames)["3"]["images"][0])
    real = Image.open(MEDIA / "mask-from-alpha.png").convert("RGB")
    assert ImageChops.difference(picture, real).getbbox() is None
