"""How node failures look on the wire (execution_error), imitating ComfyUI's formatting.

The traces trim tracebacks to their "File ..., line N, in fn" headers, so the simulator
builds the same kind of list from the frames the real executor would have shown.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

_ELIDED = "    <source line elided by recorder>\n"

# The executor frames above every node function in ComfyUI 0.3.64 (trace 05).
_EXECUTOR_FRAMES = [
    ("/opt/ComfyUI/execution.py", 496, "execute"),
    ("/opt/ComfyUI/execution.py", 315, "get_output_data"),
    ("/opt/ComfyUI/execution.py", 289, "_async_map_node_over_list"),
    ("/opt/ComfyUI/execution.py", 277, "process_inputs"),
]


class InterruptProcessing(Exception):
    """comfy.model_management.InterruptProcessingException."""


def frame(path: str, line: int, function: str) -> str:
    return f'  File "{path}", line {line}, in {function}\n{_ELIDED}'


# Every V3 node function is called through make_locked_method_func and EXECUTE_NORMALIZED
# (recorded: tests/fixtures/comfyui/object_info/0.3.64.missing-models.json).
_V3_WRAPPERS = [
    ("/opt/ComfyUI/comfy_api/internal/__init__.py", 149, "wrapped_func"),
    ("/opt/ComfyUI/comfy_api/latest/_io.py", 1270, "EXECUTE_NORMALIZED"),
]

Frame = tuple[str, int, str]


def node_traceback(source: Frame, v3: bool = False, inner: tuple[Frame, ...] = ()) -> list[str]:
    """Traceback of an exception raised inside a node function at ``source`` (or in the
    ComfyUI helpers ``inner`` that the function called)."""
    wrapper = _V3_WRAPPERS if v3 else []
    return [frame(*f) for f in [*_EXECUTOR_FRAMES, *wrapper, source, *inner]]


def with_frames(ex: BaseException, *frames: Frame) -> BaseException:
    """Mark an exception as raised in ComfyUI helper code (e.g. folder_paths), below the node."""
    ex.__dict__["sim_frames"] = frames
    return ex


def inner_frames(ex: BaseException) -> tuple[Frame, ...]:
    frames: tuple[Frame, ...] = ex.__dict__.get("sim_frames", ())
    return frames


def exception_type_name(ex: BaseException) -> str:
    """full_type_name(): builtins are bare, others are module-qualified."""
    module = type(ex).__module__
    name = type(ex).__qualname__
    return name if module in (None, "builtins") else f"{module}.{name}"


def format_value(value: Any) -> Any:
    """execution.py format_value: scalars as is, everything else through str()."""
    if value is None or isinstance(value, int | float | bool | str):
        return value
    if isinstance(value, Image.Image):
        return tensor_repr(value)
    return str(value)


def tensor_repr(image: Image.Image | list[Image.Image]) -> str:
    """str() of the torch tensor ComfyUI would hold: [B, H, W, C] (IMAGE) or [B, H, W] (MASK);
    a single image is a batch of one."""
    images = image if isinstance(image, list) else [image]
    channels = len(images[0].getbands())
    batch = [_rows(frame, channels) for frame in images]
    width, height = images[0].size
    numel = len(images) * width * height * channels
    return "tensor(" + _fmt(batch, 0, 4 if channels > 1 else 3, numel > 1000) + ")"


def _rows(image: Image.Image, channels: int) -> list[Any]:
    data = list(image.get_flattened_data() if hasattr(image, "get_flattened_data") else image.getdata())
    width, height = image.size
    if channels == 1:
        return [[data[y * width + x] / 255 for x in range(width)] for y in range(height)]
    return [[[c / 255 for c in data[y * width + x]] for x in range(width)] for y in range(height)]


def _fmt(values: list[Any], depth: int, ndim: int, summarize: bool) -> str:
    if summarize and len(values) > 6:
        shown: list[Any] = [*values[:3], ..., *values[-3:]]
    else:
        shown = list(values)
    if depth == ndim - 1:
        parts = [" ..." if v is ... else f"{v:.4f}" for v in shown]
        return "[" + ", ".join(parts) + "]"
    separator = "," + "\n" * (ndim - depth - 1) + " " * (7 + depth + 1)
    parts = ["..." if v is ... else _fmt(v, depth + 1, ndim, summarize) for v in shown]
    return "[" + separator.join(parts) + "]"
