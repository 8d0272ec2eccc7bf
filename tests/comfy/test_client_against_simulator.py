"""ComfyClient + ComfySocket end to end against the ComfyUI simulator.

Uses the simulator's documented test API: ``async with running_simulator(delay=0.0)
as sim`` gives a running server at ``sim.url``.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import pytest
from PIL import Image

from jobs.comfy import ComfyClient, ComfySocket, Executing, ExecutionStart, ExecutionSuccess
from simulator.testing import running_simulator

pytestmark = pytest.mark.integration


def gradient_png() -> tuple[bytes, Image.Image]:
    image = Image.new("RGB", (8, 8))
    image.putdata([(x * 32, y * 32, 128) for y in range(8) for x in range(8)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), image


def pixels(image: Image.Image) -> list[tuple[int, ...]]:
    return [image.getpixel((x, y)) for y in range(image.height) for x in range(image.width)]


def invert_graph(image: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": "comfyweb/invert"},
        },
    }


async def test_upload_queue_watch_history_view_round_trip() -> None:
    png, original = gradient_png()
    client_id = f"tab-{uuid.uuid4()}"
    prompt_id = str(uuid.uuid4())

    async with running_simulator(delay=0.0) as sim, ComfyClient(sim.url) as comfy:
        uploaded = await comfy.upload_image(png, "gradient.png", overwrite=True)
        assert uploaded.type == "input"

        # Open the socket before queueing, so no frame of the job can be missed.
        async with ComfySocket(comfy.ws_url(client_id)) as sock:
            queued = await comfy.queue_prompt(
                invert_graph(uploaded.load_image_value),
                prompt_id=prompt_id,
                client_id=client_id,
            )
            assert (queued.prompt_id, queued.node_errors) == (prompt_id, {})

            seen: list[Any] = []
            async with asyncio.timeout(10):
                async for event in sock:
                    if event.prompt_id not in (None, prompt_id):
                        continue
                    seen.append(event)
                    if isinstance(event, Executing) and event.is_terminal:
                        break

        kinds = [type(event) for event in seen]
        assert ExecutionStart in kinds
        assert ExecutionSuccess in kinds[:-1]  # the outcome frame precedes the terminal one
        assert seen[-1] == Executing(prompt_id, None)

        entry = await comfy.get_history(prompt_id)
        assert entry is not None
        assert entry.outcome == "success"
        [output] = entry.images()
        assert output.node_id == "3"

        data = await comfy.view(output.filename, output.subfolder, output.type)

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    result = Image.open(io.BytesIO(data)).convert("RGB")
    assert result.size == original.size
    # ComfyUI computes 255 * (1 - v / 255) in float and truncates, so allow off-by-one.
    for got, source in zip(pixels(result), pixels(original), strict=True):
        assert all(abs(g - (255 - s)) <= 1 for g, s in zip(got, source, strict=True))
