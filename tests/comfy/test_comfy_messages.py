"""WebSocket frames → typed events, checked against every frame of every trace."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from jobs.comfy import (
    Executed,
    Executing,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    FeatureFlags,
    NodeProgress,
    Preview,
    Progress,
    ProgressState,
    ProtocolError,
    Status,
    Unknown,
    parse_binary,
    parse_text,
)

EXPECTED_CLASS = {
    "status": Status,
    "execution_start": ExecutionStart,
    "execution_cached": ExecutionCached,
    "executing": Executing,
    "progress": Progress,
    "progress_state": ProgressState,
    "executed": Executed,
    "execution_success": ExecutionSuccess,
    "execution_error": ExecutionError,
    "execution_interrupted": ExecutionInterrupted,
    "feature_flags": FeatureFlags,
}


def binary_frame(event: dict[str, Any]) -> bytes:
    """Rebuild a binary frame from its description in a trace: ``head8_hex``, ``len``,
    decoded metadata, and the image magic; the rest of the image is padding."""
    head = bytes.fromhex(event["head8_hex"])
    if event["event_type"] == 4:
        metadata = json.dumps(event["metadata"]).encode()
        assert len(metadata) == event["metadata_len"]  # ComfyUI uses json.dumps defaults
        head += metadata
    magic = bytes.fromhex(event["image_magic_hex"])
    frame = head + magic + b"\0" * (event["len"] - len(head) - len(magic))
    assert len(frame) == event["len"]
    return frame


def ws_frames(traces: Any, name: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in traces.events(name) if e["dir"] == "ws" and e["kind"] == kind]


def first_msg(traces: Any, name: str, msg_type: str, **match: Any) -> dict[str, Any]:
    for event in ws_frames(traces, name, "text"):
        msg = event["msg"]
        if msg["type"] == msg_type and all(
            (event.get(k) if k == "client" else msg["data"].get(k, ...)) == v for k, v in match.items()
        ):
            return msg
    raise AssertionError(f"no {msg_type} {match} in {name}")


# -- every frame of every trace -------------------------------------------------------


def test_every_text_frame_parses_to_its_event(traces: Any, trace_name: str) -> None:
    frames = ws_frames(traces, trace_name, "text")
    assert frames
    for event in frames:
        msg = event["msg"]
        parsed = parse_text(msg)
        assert type(parsed) is EXPECTED_CLASS[msg["type"]], msg
        assert parse_text(json.dumps(msg)) == parsed
        assert parsed.prompt_id == msg["data"].get("prompt_id")


def test_every_binary_frame_parses_to_a_preview(traces: Any, trace_name: str) -> None:
    for event in ws_frames(traces, trace_name, "binary"):
        preview = parse_binary(binary_frame(event))
        assert isinstance(preview, Preview)
        assert preview.image.startswith(bytes.fromhex(event["image_magic_hex"]))
        if event["event_type"] == 1:
            assert (preview.prompt_id, preview.node_id) == (None, None)
            assert preview.image_type == "image/jpeg"
            assert len(preview.image) == event["len"] - 8
        else:
            assert preview.prompt_id == event["metadata"]["prompt_id"]
            assert preview.node_id == event["metadata"]["node_id"]
            assert preview.image_type == event["metadata"]["image_type"]
            assert len(preview.image) == event["image_len"]


# -- representative frames -----------------------------------------------------------------


def test_on_connect_status_echoes_the_client_id(traces: Any) -> None:
    status = parse_text(ws_frames(traces, "01-invert-success.json", "text")[0]["msg"])
    assert status == Status(queue_remaining=0, sid="trace-client-A-933c9342")
    assert status.prompt_id is None


def test_broadcast_status_has_no_sid(traces: Any) -> None:
    assert parse_text(ws_frames(traces, "01-invert-success.json", "text")[1]["msg"]) == Status(1)


def test_executing_a_node(traces: Any) -> None:
    msg = first_msg(traces, "01-invert-success.json", "executing", node="2")
    event = parse_text(msg)
    assert event == Executing("3036875e-a570-4c22-aa51-b4e65115b3ad", "2", "2")
    assert not event.is_terminal


def test_terminal_executing_has_the_prompt_id(traces: Any) -> None:
    event = parse_text(first_msg(traces, "01-invert-success.json", "executing", node=None))
    assert isinstance(event, Executing)
    assert event.is_terminal
    assert event.prompt_id == "3036875e-a570-4c22-aa51-b4e65115b3ad"


def test_executing_on_reconnect_has_no_prompt_id(traces: Any) -> None:
    """Trace 09: the frame a reconnecting submitter gets names only the node."""
    msg = first_msg(traces, "09-reconnect.json", "executing", client="A-second")
    event = parse_text(msg)
    assert event == Executing(prompt_id=None, node="2", display_node=None)
    assert not event.is_terminal


def test_execution_cached_lists_nodes(traces: Any) -> None:
    event = parse_text(first_msg(traces, "05-execution-error.json", "execution_cached"))
    assert isinstance(event, ExecutionCached)
    assert event.nodes == ("1", "2")


def test_progress_state_maps_nodes(traces: Any) -> None:
    msg = first_msg(traces, "01-invert-success.json", "progress_state")
    event = parse_text(msg)
    assert isinstance(event, ProgressState)
    assert event.nodes == {"1": NodeProgress(0.0, 1.0, "running", "1")}


def test_progress(traces: Any) -> None:
    msg = first_msg(traces, "06-progress-previews.json", "progress", client="A-noflags")
    assert parse_text(msg) == Progress("5d30719b-bc46-435f-b036-56e9a9cdfee8", "2", 1, 3)


def test_executed_keeps_the_output(traces: Any) -> None:
    event = parse_text(first_msg(traces, "01-invert-success.json", "executed"))
    assert isinstance(event, Executed)
    assert (event.node, event.display_node) == ("3", "3")
    assert event.output == {
        "images": [{"filename": "invert_00003_.png", "subfolder": "trace", "type": "output"}]
    }


def test_execution_error(traces: Any) -> None:
    event = parse_text(first_msg(traces, "05-execution-error.json", "execution_error"))
    assert isinstance(event, ExecutionError)
    assert (event.prompt_id, event.node_id, event.node_type) == (
        "6bf7166e-890f-4b82-8131-3bd87b8da0b2",
        "3",
        "ImageToMask",
    )
    assert event.exception_type == "IndexError"
    assert event.exception_message.startswith("index 3 is out of bounds")
    assert len(event.traceback) == 5
    assert "image_to_mask" in event.traceback[-1]


def test_execution_interrupted(traces: Any) -> None:
    msg = first_msg(traces, "07-interrupt-delete.json", "execution_interrupted", node_id="4")
    assert parse_text(msg) == ExecutionInterrupted("a3deb2ae-5212-43ff-9aba-95690fe5b0a5", "4", "ImageBlur")


def test_execution_start_and_success(traces: Any) -> None:
    pid = "3036875e-a570-4c22-aa51-b4e65115b3ad"
    start = first_msg(traces, "01-invert-success.json", "execution_start")
    success = first_msg(traces, "01-invert-success.json", "execution_success")
    assert parse_text(start) == ExecutionStart(pid)
    assert parse_text(success) == ExecutionSuccess(pid)


def test_feature_flags_answer(traces: Any) -> None:
    event = parse_text(first_msg(traces, "06-progress-previews.json", "feature_flags"))
    assert event == FeatureFlags({"supports_preview_metadata": True, "max_upload_size": 104857600})
    assert event.prompt_id is None


def test_png_preview_type_1() -> None:
    frame = struct.pack(">II", 1, 2) + b"\x89PNG\r\n\x1a\n..."
    assert parse_binary(frame) == Preview(None, None, "image/png", b"\x89PNG\r\n\x1a\n...")


def test_preview_with_metadata_type_4() -> None:
    metadata = json.dumps({"node_id": "7", "prompt_id": "p-1", "image_type": "image/png"})
    frame = struct.pack(">II", 4, len(metadata)) + metadata.encode() + b"IMG"
    assert parse_binary(frame) == Preview("p-1", "7", "image/png", b"IMG")


# -- leniency ------------------------------------------------------------------------------


def test_unknown_type_is_not_an_error() -> None:
    event = parse_text({"type": "crystools.monitor", "data": {"cpu": 3, "prompt_id": "p"}})
    assert event == Unknown("crystools.monitor", {"cpu": 3, "prompt_id": "p"})
    assert event.prompt_id == "p"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "progress", "data": {"prompt_id": "p", "node": "2"}},
        {"type": "status", "data": {}},
        {"type": "execution_start", "data": {"prompt_id": None}},
        {"type": "executed", "data": "not an object"},
        {"data": {}},
    ],
)
def test_malformed_known_frames_become_unknown(frame: dict[str, Any]) -> None:
    assert isinstance(parse_text(frame), Unknown)


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"status"', "null"])
def test_text_that_is_not_a_json_object_is_a_protocol_error(raw: str) -> None:
    with pytest.raises(ProtocolError):
        parse_text(raw)


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (b"\0\0", "binary"),
        (struct.pack(">I", 3) + b"\0\0\0\x012hello", "binary:3"),
        (struct.pack(">I", 1) + b"\0", "binary:1"),
        (struct.pack(">II", 4, 999) + b"{}", "binary:4"),
        (struct.pack(">II", 4, 2) + b"[]", "binary:4"),
    ],
)
def test_odd_binary_frames_become_unknown(frame: bytes, kind: str) -> None:
    event = parse_binary(frame)
    assert isinstance(event, Unknown)
    assert event.type == kind
    assert event.prompt_id is None
