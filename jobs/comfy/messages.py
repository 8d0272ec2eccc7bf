"""ComfyUI WebSocket frames → typed events (PROTOCOL.md §2, §3).

Every event has a ``prompt_id`` attribute (None when the frame carries none), so a
relay can drop frames of prompts it does not own: jobs without a client_id have
their progress broadcast to every socket (§3, a cross-talk source).

Parsing is lenient: an unknown type, or a known type whose data does not fit,
becomes ``Unknown`` rather than an exception, because a newer server adding a
field or a message must not kill the relay. Only a text frame that is not a JSON
object at all raises ProtocolError.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import jsontext
from .errors import ProtocolError

__all__ = [
    "Event",
    "Executed",
    "Executing",
    "ExecutionCached",
    "ExecutionError",
    "ExecutionInterrupted",
    "ExecutionStart",
    "ExecutionSuccess",
    "FeatureFlags",
    "NodeProgress",
    "Preview",
    "Progress",
    "ProgressState",
    "Status",
    "Unknown",
    "parse_binary",
    "parse_text",
]

# Binary frame types (comfy_execution / server.py BinaryEventTypes)
PREVIEW_IMAGE = 1
UNENCODED_PREVIEW_IMAGE = 2
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4
IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}


@dataclass(frozen=True)
class Status:
    """Queue-length broadcast. A hint only: it comes in pairs and may overtake the
    /prompt answer (§7.8). ``sid`` is set only in the on-connect frame."""

    queue_remaining: int
    sid: str | None = None

    @property
    def prompt_id(self) -> None:
        return None


@dataclass(frozen=True)
class ExecutionStart:
    prompt_id: str


@dataclass(frozen=True)
class ExecutionCached:
    prompt_id: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Executing:
    """A node starts, or (node None) the job is over.

    The frame sent on (re)connect to the submitter of the running job has neither
    prompt_id nor display_node (§2, trace 09). The terminal frame has node None
    *with* prompt_id; it is the one frame common to success, error and interrupt.
    """

    prompt_id: str | None
    node: str | None
    display_node: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.node is None and self.prompt_id is not None


@dataclass(frozen=True)
class Progress:
    prompt_id: str | None
    node: str | None
    value: int | float
    max: int | float


@dataclass(frozen=True)
class NodeProgress:
    value: int | float
    max: int | float
    state: str
    display_node_id: str | None = None
    # Newer releases may mark a node that is moving weights to VRAM (docs/comfyui-versions.md
    # §5: in ComfyUI's source, not confirmed in a release); None on 0.3.64.
    activity: str | None = None


@dataclass(frozen=True)
class ProgressState:
    """Snapshot of every non-pending node of the job (sent at node start, tick, end)."""

    prompt_id: str | None
    nodes: dict[str, NodeProgress] = field(default_factory=dict)


@dataclass(frozen=True)
class Executed:
    """An output node produced a UI result; also sent for cached output nodes (trace 02)."""

    prompt_id: str
    node: str
    display_node: str | None
    output: dict[str, Any]


@dataclass(frozen=True)
class ExecutionSuccess:
    prompt_id: str


@dataclass(frozen=True)
class ExecutionError:
    prompt_id: str
    node_id: str | None
    node_type: str | None
    exception_type: str
    exception_message: str
    traceback: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExecutionInterrupted:
    prompt_id: str
    node_id: str | None
    node_type: str | None


@dataclass(frozen=True)
class FeatureFlags:
    """The server's answer to our feature_flags frame."""

    data: dict[str, Any]

    @property
    def prompt_id(self) -> None:
        return None


@dataclass(frozen=True)
class Preview:
    """A binary preview image. Legacy type 1 frames carry no prompt_id or node_id:
    only the ``progress`` frame next to them says whose they are (§7.9). Type 4
    (sent after announcing ``supports_preview_metadata``) carries both."""

    prompt_id: str | None
    node_id: str | None
    image_type: str
    image: bytes = field(repr=False)


@dataclass(frozen=True)
class Unknown:
    """A frame this parser does not model (new types, malformed known ones,
    binary TEXT frames). ``data`` is the frame's data as received."""

    type: str
    data: Any

    @property
    def prompt_id(self) -> str | None:
        value = self.data.get("prompt_id") if isinstance(self.data, dict) else None
        return value if isinstance(value, str) else None


Event = (
    Status
    | ExecutionStart
    | ExecutionCached
    | Executing
    | Progress
    | ProgressState
    | Executed
    | ExecutionSuccess
    | ExecutionError
    | ExecutionInterrupted
    | FeatureFlags
    | Preview
    | Unknown
)


def parse_text(raw: str | bytes | dict[str, Any]) -> Event:
    """Parse one text frame, already decoded or not."""
    if isinstance(raw, dict):
        frame: Any = raw
    else:
        try:
            frame = jsontext.loads(raw)
        except ValueError as exc:
            raise ProtocolError(f"text frame is not JSON: {raw[:200]!r}") from exc
    if not isinstance(frame, dict):
        raise ProtocolError(f"text frame is not a JSON object: {str(frame)[:200]!r}")
    kind = frame.get("type")
    data = frame.get("data")
    if not isinstance(kind, str) or kind not in _TEXT_PARSERS or not isinstance(data, dict):
        return Unknown(type=str(kind), data=data)
    try:
        return _TEXT_PARSERS[kind](data)
    except (KeyError, TypeError, ValueError):
        return Unknown(type=kind, data=data)


def parse_binary(data: bytes) -> Event:
    """Parse one binary frame: a big-endian uint32 event type, then its payload."""
    if len(data) < 4:
        return Unknown(type="binary", data=bytes(data))
    (event_type,) = struct.unpack(">I", data[:4])
    try:
        if event_type == PREVIEW_IMAGE and len(data) >= 8:
            (image_format,) = struct.unpack(">I", data[4:8])
            return Preview(
                prompt_id=None,
                node_id=None,
                image_type=IMAGE_FORMATS.get(image_format, "application/octet-stream"),
                image=bytes(data[8:]),
            )
        if event_type == PREVIEW_IMAGE_WITH_METADATA and len(data) >= 8:
            (length,) = struct.unpack(">I", data[4:8])
            if len(data) < 8 + length:
                raise ValueError("metadata longer than the frame")
            metadata = jsontext.loads(data[8 : 8 + length])
            if not isinstance(metadata, dict):
                raise ValueError("metadata is not an object")
            return Preview(
                prompt_id=_opt_str(metadata.get("prompt_id")),
                node_id=_opt_str(metadata.get("node_id")),
                image_type=str(metadata.get("image_type") or "image/jpeg"),
                image=bytes(data[8 + length :]),
            )
    except ValueError:
        pass
    return Unknown(type=f"binary:{event_type}", data=bytes(data[4:]))


def _id(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        raise TypeError(f"expected an id, got {value!r}")
    return str(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _num(value: Any) -> int | float:
    # The int | float test first: only then does mypy narrow value from Any to a number.
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return value


def _status(data: dict[str, Any]) -> Status:
    remaining = data["status"]["exec_info"]["queue_remaining"]
    return Status(queue_remaining=int(_num(remaining)), sid=_opt_str(data.get("sid")))


def _progress_state(data: dict[str, Any]) -> ProgressState:
    nodes = {
        str(node_id): NodeProgress(
            value=_num(node["value"]),
            max=_num(node["max"]),
            state=str(node["state"]),
            display_node_id=_opt_str(node.get("display_node_id")),
            activity=_opt_str(node.get("activity")),
        )
        for node_id, node in data["nodes"].items()
    }
    return ProgressState(prompt_id=_opt_str(data.get("prompt_id")), nodes=nodes)


def _executed(data: dict[str, Any]) -> Executed:
    output = data.get("output")
    return Executed(
        prompt_id=_id(data["prompt_id"]),
        node=_id(data["node"]),
        display_node=_opt_str(data.get("display_node")),
        output=output if isinstance(output, dict) else {},
    )


def _execution_error(data: dict[str, Any]) -> ExecutionError:
    return ExecutionError(
        prompt_id=_id(data["prompt_id"]),
        node_id=_opt_str(data.get("node_id")),
        node_type=_opt_str(data.get("node_type")),
        exception_type=str(data.get("exception_type") or ""),
        exception_message=str(data.get("exception_message") or ""),
        traceback=tuple(str(line) for line in data.get("traceback") or ()),
    )


_TEXT_PARSERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "status": _status,
    "execution_start": lambda d: ExecutionStart(prompt_id=_id(d["prompt_id"])),
    "execution_cached": lambda d: ExecutionCached(
        prompt_id=_id(d["prompt_id"]), nodes=tuple(str(n) for n in d.get("nodes") or ())
    ),
    "executing": lambda d: Executing(
        prompt_id=_opt_str(d.get("prompt_id")),
        node=_opt_str(d.get("node")),
        display_node=_opt_str(d.get("display_node")),
    ),
    "progress": lambda d: Progress(
        prompt_id=_opt_str(d.get("prompt_id")),
        node=_opt_str(d.get("node")),
        value=_num(d["value"]),
        max=_num(d["max"]),
    ),
    "progress_state": _progress_state,
    "executed": _executed,
    "execution_success": lambda d: ExecutionSuccess(prompt_id=_id(d["prompt_id"])),
    "execution_error": _execution_error,
    "execution_interrupted": lambda d: ExecutionInterrupted(
        prompt_id=_id(d["prompt_id"]),
        node_id=_opt_str(d.get("node_id")),
        node_type=_opt_str(d.get("node_type")),
    ),
    "feature_flags": lambda d: FeatureFlags(data=d),
}
