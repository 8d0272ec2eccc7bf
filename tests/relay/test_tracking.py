"""Progress and outcome folded from the frames of a real ComfyUI trace."""

import json
import uuid

from jobs.comfy import parse_text
from jobs.relay.tracking import Tracked
from tests.paths import traces_dir

TRACES = traces_dir()


def frames(trace: str, prompt_id: str):
    data = json.loads((TRACES / trace).read_text())
    for event in data["events"]:
        if event.get("dir") == "ws" and "msg" in event:
            parsed = parse_text(event["msg"])
            if parsed.prompt_id == prompt_id:
                yield parsed


def test_invert_success_trace_reaches_full_progress_then_terminal():
    pid = "3036875e-a570-4c22-aa51-b4e65115b3ad"
    tracked = Tracked(uuid.UUID(pid), uuid.uuid4(), 1, nodes_total=3)
    changes = [tracked.apply(f) for f in frames("01-invert-success.json", pid)]
    assert changes[0] == "start"
    assert changes[-1] == "terminal"
    assert tracked.outcome == "success"
    value, maximum, _ = tracked.progress()
    assert (value, maximum) == (3, 3)


def test_fully_cached_job_counts_nothing_left_to_run():
    data = json.loads((TRACES / "02-cache-hit.json").read_text())
    cached = next(
        e["msg"]["data"]
        for e in data["events"]
        if e.get("dir") == "ws"
        and e.get("msg", {}).get("type") == "execution_cached"
        and len(e["msg"]["data"]["nodes"]) == 3
    )
    pid = cached["prompt_id"]
    tracked = Tracked(uuid.UUID(pid), uuid.uuid4(), 1, nodes_total=3)
    for frame in frames("02-cache-hit.json", pid):
        tracked.apply(frame)
    assert tracked.outcome == "success" and tracked.terminal


def test_execution_error_is_readable():
    data = json.loads((TRACES / "05-execution-error.json").read_text())
    error = next(
        e["msg"]["data"]
        for e in data["events"]
        if e.get("dir") == "ws" and e.get("msg", {}).get("type") == "execution_error"
    )
    pid = error["prompt_id"]
    tracked = Tracked(uuid.UUID(pid), uuid.uuid4(), 1, nodes_total=5)
    for frame in frames("05-execution-error.json", pid):
        tracked.apply(frame)
    assert tracked.outcome == "error"
    assert tracked.error["node"] == error["node_id"]
    assert error["exception_type"] in tracked.error["message"]
