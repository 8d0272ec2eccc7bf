"""Per-prompt node progress (progress_state) and preview frames, as comfy_execution/progress.py.

Value types matter for fidelity: a started node is (0.0, 1.0), a finished one copies max
into value, a node that only finishes from cache goes (0, 1) -> (1, 1) as ints (trace 02).
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

from PIL import Image, ImageOps


class ProgressRegistry:
    """Node states of the running prompt, in first-touched order."""

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        self.nodes: dict[str, dict[str, Any]] = {}

    def _entry(self, node_id: str) -> dict[str, Any]:
        return self.nodes.setdefault(node_id, {"state": "pending", "value": 0, "max": 1})

    def start(self, node_id: str) -> None:
        self._entry(node_id).update(state="running", value=0.0, max=1.0)

    def update(self, node_id: str, value: float, maximum: float) -> None:
        self._entry(node_id).update(state="running", value=value, max=maximum)

    def finish(self, node_id: str) -> None:
        entry = self._entry(node_id)
        entry.update(state="finished", value=entry["max"])

    def message(self) -> dict[str, Any]:
        """The progress_state data: every node that is not pending."""
        nodes = {
            node_id: {
                "value": s["value"],
                "max": s["max"],
                "state": s["state"],
                "node_id": node_id,
                "prompt_id": self.prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            for node_id, s in self.nodes.items()
            if s["state"] != "pending"
        }
        return {"prompt_id": self.prompt_id, "nodes": nodes}


def _encode_preview(image: Image.Image, max_size: int = 64) -> bytes:
    """server.py send_image: contain to max_size, JPEG quality 95."""
    image = ImageOps.contain(image.convert("RGB"), (max_size, max_size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def legacy_preview(image: Image.Image) -> bytes:
    """Payload of a type 1 frame (after the event type): format 1 = JPEG, then the image."""
    return struct.pack(">I", 1) + _encode_preview(image)


def metadata_preview(image: Image.Image, node_id: str, prompt_id: str) -> bytes:
    """Payload of a type 4 frame: metadata length, metadata JSON, image."""
    metadata = {
        "node_id": node_id,
        "prompt_id": prompt_id,
        "display_node_id": node_id,
        "parent_node_id": None,
        "real_node_id": node_id,
        "image_type": "image/jpeg",
    }
    encoded = json.dumps(metadata).encode("utf-8")
    return struct.pack(">I", len(encoded)) + encoded + _encode_preview(image)
