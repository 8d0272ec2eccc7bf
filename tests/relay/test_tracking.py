"""Progress and outcome folded from the frames of a real ComfyUI trace."""

import json
import uuid

from jobs.comfy import messages as m
from jobs.comfy import parse_text
from jobs.relay.tracking import Tracked
from tests.paths import OBJECT_INFO, traces_dir

TRACES = traces_dir()
OUTPUT_CLASSES = frozenset(
    name
    for name, entry in json.loads((OBJECT_INFO / "0.3.64.object_info.json").read_text()).items()
    if entry.get("output_node")
)


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


def _execution_error() -> dict:
    """The `execution_error` frame's data in the failing trace."""
    data = json.loads((TRACES / "05-execution-error.json").read_text())
    return next(
        e["msg"]["data"]
        for e in data["events"]
        if e.get("dir") == "ws" and e.get("msg", {}).get("type") == "execution_error"
    )


def test_execution_error_is_readable():
    error = _execution_error()
    pid = error["prompt_id"]
    tracked = Tracked(uuid.UUID(pid), uuid.uuid4(), 1, nodes_total=5)
    for frame in frames("05-execution-error.json", pid):
        tracked.apply(frame)
    assert tracked.outcome == "error"
    assert tracked.error["node"] == error["node_id"]
    assert error["exception_type"] in tracked.error["message"]


def _whole_successes():
    """(trace, prompt id, its output nodes, frames its submitter's socket got, its /history
    outputs) for every successful prompt in the traces that was submitted with a client id
    whose socket stayed open from the POST to the prompt's end: what the relay sees for its
    own prompts. (/history lists the outputs in another order than the frames: a set's.)"""
    for path in sorted(TRACES.glob("*.json")):
        events = json.loads(path.read_text())["events"]
        sockets = {}  # client id → the trace's client letter
        for event in events:
            if event.get("dir") == "ws-open":
                sockets[event["url"].split("clientId=")[-1]] = event["client"]
        histories = {}
        for event in events:
            if event.get("dir") == "http" and event.get("path", "").startswith("/history/"):
                histories.update(event.get("body") or {})
        for at, post in enumerate(events):
            request = post.get("request") or {}
            if (
                post.get("path") != "/prompt"
                or post.get("method") != "POST"
                or str(post.get("status")) != "200"
            ):
                continue
            pid, client = post["body"]["prompt_id"], sockets.get(request.get("json", {}).get("client_id"))
            entry = histories.get(pid)
            if client is None or entry is None or entry["status"]["status_str"] != "success":
                continue
            seen, whole = [], True
            for event in events[at:]:
                if event.get("client") == client and event.get("dir", "").startswith("ws-"):
                    whole = False  # its socket closed or opened again meanwhile
                if event.get("dir") == "ws" and event.get("client") == client and "msg" in event:
                    parsed = parse_text(event["msg"])
                    if parsed.prompt_id == pid:
                        seen.append(parsed)
                        if getattr(parsed, "is_terminal", False):
                            break
            graph = request["json"]["prompt"]
            nodes = frozenset(n for n, node in graph.items() if node["class_type"] in OUTPUT_CLASSES)
            if whole:
                yield path.name, pid, nodes, seen, entry["outputs"]


def test_a_success_seen_whole_tells_what_history_says():
    found = list(_whole_successes())
    assert {name for name, *_ in found} >= {
        "01-invert-success.json",
        "02-cache-hit.json",
        "11-media-outputs.json",
    }
    for name, pid, nodes, seen, outputs in found:
        assert nodes, (name, pid)
        tracked = Tracked(uuid.UUID(pid), uuid.uuid4(), 1, nodes_total=3, outputs={}, output_nodes=nodes)
        for frame in seen:
            tracked.apply(frame)
        entry = tracked.told_whole()
        assert entry is not None, (name, pid)
        assert entry.outputs == outputs, (name, pid)


def test_frames_tell_nothing_when_they_were_not_all_seen_or_the_prompt_failed():
    _, pid, nodes, seen, _ = next(_whole_successes())
    job = uuid.UUID(pid)
    unwatched = Tracked(job, uuid.uuid4(), 1, nodes_total=3)  # reconciled: outputs None
    garbled = Tracked(job, uuid.uuid4(), 1, nodes_total=3, outputs={}, output_nodes=nodes)
    garbled.apply(m.Unknown(type="executed", data={"prompt_id": pid, "node": 3}))
    # A frame lost while the socket stayed open (the simulator's stall_ws): an output node's.
    lost = Tracked(job, uuid.uuid4(), 1, nodes_total=3, outputs={}, output_nodes=nodes)
    for tracked in (unwatched, garbled, lost):
        for frame in seen:
            if tracked is not lost or not isinstance(frame, m.Executed):
                tracked.apply(frame)
        assert tracked.outcome == "success" and tracked.told_whole() is None
    failed_pid = _execution_error()["prompt_id"]
    failed = Tracked(uuid.UUID(failed_pid), uuid.uuid4(), 1, nodes_total=5, outputs={})
    for frame in frames("05-execution-error.json", failed_pid):
        failed.apply(frame)
    assert failed.outcome == "error" and failed.told_whole() is None
