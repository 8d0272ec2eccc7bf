"""What every simulated node shares: the Node base class, its context and the sampling loop.

A module of its own so that the core image nodes (nodes.py) and the Stable Diffusion
stand-ins (sd_nodes.py) both build on it without importing each other.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from PIL import Image

from simulator.files import Storage
from simulator.models import ModelSet

Progress = Callable[[int, int, Image.Image | None], Awaitable[None]]
Wait = Callable[[float], Awaitable[None]]

UPSCALE_METHODS = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def _f32(value: float) -> float:
    """``value`` rounded to float32, the precision of ComfyUI's tensors."""
    rounded: float = struct.unpack("f", struct.pack("f", value))[0]
    return rounded


# 1 - v/255 as the real float32 tensor holds it, times 255 and truncated by the saving node:
# one less than 255 - v for most odd v above 64 (ImageInvert, LoadImageMask's alpha; recorded
# in media/animated.png of trace 11 and media/mask-from-alpha.png of trace 12).
ONE_MINUS = [int(_f32(255.0 * _f32(1.0 - _f32(a / 255.0)))) for a in range(256)]


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass
class NodeContext:
    """What a node may use besides its inputs (hidden inputs, files, models, progress, time)."""

    storage: Storage
    node_id: str
    progress: Progress
    prompt: dict[str, Any] = field(default_factory=dict)
    extra_pnginfo: dict[str, Any] | None = None
    models: ModelSet = field(default_factory=ModelSet)
    # The server's --delay when the node started, and a sleep that /_sim/release cuts short:
    # nodes with OWN_DELAY spend the delay themselves (a sampler spreads it over its steps).
    delay: float = 0.0
    wait: Wait = _no_wait


@dataclass
class NodeResult:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None = None


class Node:
    """Base class. Subclasses set the class attributes and implement ``run`` (or ``run_async``)."""

    RETURN_TYPES: ClassVar[tuple[str, ...]] = ()
    OUTPUT_NODE: ClassVar[bool] = False
    # Inputs handed to ``validate`` (ComfyUI's VALIDATE_INPUTS): they skip range/list checks.
    VALIDATE_INPUTS: ClassVar[tuple[str, ...]] = ()
    IS_ASYNC: ClassVar[bool] = False
    # True: the executor does not sleep --delay before the node; the node uses ctx.delay.
    OWN_DELAY: ClassVar[bool] = False
    # V3 (comfy_api) nodes run through a wrapper that shows up in their tracebacks.
    V3: ClassVar[bool] = False
    # True: ``run`` goes to a worker thread (encoding and decoding media keeps HTTP answering).
    THREADED: ClassVar[bool] = False
    # Inputs holding weights this node runs on the GPU (a sampler's "model"): their files must
    # be resident before it runs, and a load is spent at its start (simulator.residency).
    USES_WEIGHTS: ClassVar[tuple[str, ...]] = ()
    SOURCE: ClassVar[tuple[str, int, str]] = ("/opt/ComfyUI/nodes.py", 1, "run")

    def validate(self, storage: Storage, **inputs: Any) -> bool | str:
        return True

    def is_changed(self, storage: Storage, inputs: dict[str, Any]) -> Any:
        return False

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        raise NotImplementedError

    async def run_async(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        raise NotImplementedError


async def sample_steps(
    ctx: NodeContext,
    steps: int,
    seconds_per_step: float,
    preview: Callable[[int], Image.Image | None],
    wait: Wait | None = None,
) -> None:
    """The loop of a sampler as trace 06 shows it: per step, the step's work, then one tick
    (progress_state, progress and a preview frame; the executor checks interrupts there)."""
    sleep = wait or _no_wait
    for step in range(steps):
        await sleep(seconds_per_step)
        await ctx.progress(step + 1, steps, preview(step))


def compute_vars(prefix: str, width: int, height: int) -> str:
    """folder_paths.compute_vars: %width%, %height% and the date fields of a filename prefix."""
    if "%" not in prefix:
        return prefix
    now = time.localtime()
    values = {
        "%width%": str(width),
        "%height%": str(height),
        "%year%": str(now.tm_year),
        "%month%": str(now.tm_mon).zfill(2),
        "%day%": str(now.tm_mday).zfill(2),
        "%hour%": str(now.tm_hour).zfill(2),
        "%minute%": str(now.tm_min).zfill(2),
        "%second%": str(now.tm_sec).zfill(2),
    }
    for key, value in values.items():
        prefix = prefix.replace(key, value)
    return prefix
