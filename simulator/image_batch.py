"""IMAGE and MASK batches: one Pillow image per frame.

A real IMAGE is a [B, H, W, C] tensor. The simulator keeps a batch of one as a plain Pillow
image (so every single-image path stays exactly as it was) and a longer batch as an
ImageBatch. Nodes that work per image go through ``frames`` / ``map_frames``; nodes that
make batches (RepeatImageBatch, EmptyImage, LoadImage of an animation, video decoding) build
them with ``batch_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from simulator.errors import tensor_repr


@dataclass(frozen=True, eq=False)
class ImageBatch:
    """Two or more frames of the same size (IMAGE: RGB/RGBA, MASK: "L")."""

    frames: tuple[Image.Image, ...]

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size

    @property
    def width(self) -> int:
        return self.frames[0].width

    @property
    def height(self) -> int:
        return self.frames[0].height

    def __len__(self) -> int:
        return len(self.frames)

    def __str__(self) -> str:
        # What str() of the [B, H, W, C] tensor shows in execution_error current_inputs.
        return tensor_repr(list(self.frames))


Images = Image.Image | ImageBatch


def frames(value: Any) -> list[Image.Image]:
    """The frames of an IMAGE or MASK value, single image or batch."""
    if isinstance(value, ImageBatch):
        return list(value.frames)
    return [value]


def batch_of(images: Sequence[Image.Image]) -> Images:
    """A batch of these frames; one frame stays a plain image."""
    if not images:
        raise ValueError("an IMAGE batch needs at least one frame")
    if len(images) == 1:
        return images[0]
    return ImageBatch(tuple(images))


def map_frames(value: Any, function: Callable[[Image.Image], Image.Image]) -> Images:
    """Apply a per-image operation to every frame, keeping the batch shape."""
    if isinstance(value, ImageBatch):
        return ImageBatch(tuple(function(frame) for frame in value.frames))
    return function(value)


def first(value: Any) -> Image.Image:
    """The first frame (for stand-ins that only model one image, such as VAEEncode)."""
    return frames(value)[0]


def pixel_count(value: Any) -> int:
    """All pixels of an IMAGE value, 0 for anything else (the executor's thread threshold)."""
    if isinstance(value, Image.Image):
        return value.width * value.height
    if isinstance(value, ImageBatch):
        return sum(frame.width * frame.height for frame in value.frames)
    return 0
