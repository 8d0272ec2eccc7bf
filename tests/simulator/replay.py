"""Replays a recorded ComfyUI trace against the simulator and collects what it answers.

How a trace is replayed (see tests/fixtures/comfyui/README.md for the trace format):

- Setup, not compared: the input images the recorded server already had are uploaded
  (input-8x8.png under their names), and the last prompt the recorded server ran before
  the trace (the previous trace file on the same port) is run once, so the output cache
  holds what it held then (trace 03 expects node 10 cached, and so on).
- Events run in file order. Before each HTTP request, socket open or close, the replay
  waits until every open socket has received as many frames as the recorded socket had
  before that moment ("sync points"), so requests land at the same place in a job.
- TraceProbeSlow (the recording's test node) becomes SimSampler, with each step 5x
  shorter; the same substitution is applied to the recorded bodies before comparing.
- A socket that reconnects mid-run waits until the job reached the step it missed last
  (read from GET /_sim/state), because no socket can observe the frames that were lost.
- Uploads send the recorded file when the fixtures hold one of that size (traces/input-*,
  media/*: the media traces upload a PNG, an MP4 and a WAV); requests keep their headers
  (Range). Input files the recorded server had from earlier sessions are in PRELOADED_INPUTS.
- Output order: the real validate_prompt collects the outputs in a set, so a server runs
  independent output nodes in string-hash order (random per process); the simulator takes
  prompt order. A prompt whose recorded outputs list (its /history entry) is in another order
  is submitted with its output nodes moved to the front in that order (in_recorded_order).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
from PIL import Image

from tests.paths import FIXTURES
from tests.paths import traces_dir as fixture_traces_dir

STEP_SCALE = 0.2  # recorded TraceProbeSlow delay -> SimSampler seconds_per_step
SYNC_TIMEOUT = 5.0

# The order of the recording sessions: the traces of one port ran on one server, in order.
SESSIONS = {
    8188: [
        "01-invert-success.json",
        "02-cache-hit.json",
        "03-blur-scale-preview.json",
        "04-invalid-prompts.json",
        "05-execution-error.json",
        "06-progress-previews.json",
        "07-interrupt-delete.json",
    ],
    8189: ["08-two-clients.json", "09-reconnect.json", "10-routes.json"],
}

# Files the recorded server's input folder already held when a trace began, and the fixture
# whose bytes stand in for them (12 ran after 11 and another recording on the same folders).
PRELOADED_INPUTS: dict[str, dict[str, str]] = {
    "12-media-inputs.json": {"trace-media-in.png": "input-32x24.png", "trace-mm-in.png": "input-8x8.png"},
}

# Per-node --delay for prompts whose timing came from slow core nodes on the real CPU
# (07 J4: 1536x1536 blurs took ~2.5 s each; the interrupt arrived during node 3).
NODE_DELAY = {"a3deb2ae-5212-43ff-9aba-95690fe5b0a5": 0.15}


def traces_dir() -> Path:
    """The recorded traces in tests/fixtures; missing is an error, not a skip."""
    return fixture_traces_dir()


def load(name: str) -> dict[str, Any]:
    return json.loads((traces_dir() / name).read_text())


# --- TraceProbeSlow -> SimSampler -------------------------------------------------------------


def substitute(value: Any) -> Any:
    """Replace every TraceProbeSlow node (in requests and recorded bodies) by SimSampler."""
    if isinstance(value, dict):
        if value.get("class_type") == "TraceProbeSlow" and isinstance(value.get("inputs"), dict):
            old = value["inputs"]
            inputs = {
                "image": substitute(old.get("image")),
                "steps": old.get("steps", 4),
                "seconds_per_step": round(float(old.get("delay", 0.25)) * STEP_SCALE, 6),
                "preview": old.get("preview", True),
            }
            return {
                **{k: substitute(v) for k, v in value.items()},
                "class_type": "SimSampler",
                "inputs": inputs,
            }
        return {k: substitute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v) for v in value]
    if value == "TraceProbeSlow":
        return "SimSampler"
    return value


# --- what is compared -------------------------------------------------------------------------


def shape(value: Any) -> Any:
    """Keys (literally) and leaf types: enough to catch every structural difference."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def frame_signature(frame: dict[str, Any]) -> Any:
    """What must match for one WebSocket frame: its type, its data keys and the values that
    carry protocol meaning (nodes, queue lengths, progress, outcome fields)."""
    if frame.get("kind") == "binary":
        sig: dict[str, Any] = {"binary": frame["event_type"], "magic": frame.get("image_magic_hex")}
        if frame["event_type"] == 1:
            sig["format"] = frame.get("image_format")
        if frame["event_type"] == 4:
            metadata = frame["metadata"]
            sig["metadata"] = sorted(metadata)
            sig["node_id"] = metadata["node_id"]
            sig["image_type"] = metadata["image_type"]
        return sig
    msg = frame["msg"]
    kind, data = msg["type"], msg["data"]
    sig = {"type": kind, "keys": sorted(data)}
    if kind == "status":
        sig["queue_remaining"] = data["status"]["exec_info"]["queue_remaining"]
    elif kind == "execution_cached":
        sig["nodes"] = data["nodes"]
    elif kind in ("executing", "executed"):
        sig["node"] = data["node"]
        if kind == "executed":
            sig["output"] = shape(data["output"])
    elif kind == "progress":
        sig.update(value=data["value"], max=data["max"], node=data["node"])
    elif kind == "progress_state":
        sig["nodes"] = {
            node_id: [sorted(state), state["state"], state["value"], state["max"]]
            for node_id, state in data["nodes"].items()
        }
    elif kind in ("execution_error", "execution_interrupted"):
        sig.update(node_id=data["node_id"], node_type=data["node_type"], executed=sorted(data["executed"]))
        if kind == "execution_error":
            sig.update(
                exception_type=data["exception_type"],
                exception_message=data["exception_message"],
                traceback=len(data["traceback"]),
                current_inputs=sorted(data["current_inputs"]),
                current_outputs=sorted(data["current_outputs"]),
            )
    elif kind == "feature_flags":
        sig["data"] = data
    return sig


# --- the replay -------------------------------------------------------------------------------


@dataclass
class Socket:
    label: str
    ws: aiohttp.ClientWebSocketResponse
    frames: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.append({"kind": "text", "msg": json.loads(msg.data)})
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.frames.append(decode_binary(msg.data))


def decode_binary(data: bytes) -> dict[str, Any]:
    event_type = int.from_bytes(data[:4], "big")
    frame: dict[str, Any] = {"kind": "binary", "event_type": event_type, "len": len(data)}
    if event_type == 1:
        frame["image_format"] = int.from_bytes(data[4:8], "big")
        frame["image_magic_hex"] = data[8:12].hex()
    elif event_type == 4:
        length = int.from_bytes(data[4:8], "big")
        frame["metadata"] = json.loads(data[8 : 8 + length])
        frame["image_magic_hex"] = data[8 + length : 12 + length].hex()
    return frame


@dataclass
class HttpResult:
    event: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Replay:
    """Runs one trace against ``url`` and keeps every answer for comparison."""

    url: str
    trace: dict[str, Any]
    input_png: bytes
    http: list[HttpResult] = field(default_factory=list)
    sockets: dict[str, Socket] = field(default_factory=dict)
    closed: dict[str, Socket] = field(default_factory=dict)
    # Recorded output filename -> the simulator's (its counters start at 1; the real one's did not).
    filenames: dict[str, str] = field(default_factory=dict)

    def expected_frames(self, label: str) -> list[dict[str, Any]]:
        return [e for e in self.trace["events"] if e["dir"] == "ws" and e["client"] == label]

    async def run(self, session: aiohttp.ClientSession) -> None:
        for event in self.trace["events"]:
            kind = event["dir"]
            if kind == "ws-open":
                await self.sync(event["t"])
                await self.wait_for_missed_steps(session, event["client"])
                await self.open(session, event)
            elif kind == "ws-send":
                await self.sockets[event["client"]].ws.send_str(json.dumps(event["msg"]))
            elif kind == "ws-close-by-client":
                await self.sync(event["t"])
                sock = self.sockets.pop(event["client"])
                await sock.ws.close()
                if sock.reader is not None:
                    await sock.reader
                self.closed[sock.label] = sock
            elif kind == "http":
                await self.sync(event["t_sent"])
                await self.request(session, event)
        await self.sync(float("inf"))
        await asyncio.sleep(0.2)  # anything extra the simulator sends would arrive now
        for label in list(self.sockets):
            sock = self.sockets.pop(label)
            await sock.ws.close()
            if sock.reader is not None:
                await sock.reader
            self.closed[label] = sock

    async def sync(self, before: float) -> None:
        """Wait until every open socket got the frames the recorded one had before ``before``."""
        deadline = time.monotonic() + SYNC_TIMEOUT
        for label, sock in self.sockets.items():
            need = sum(1 for e in self.expected_frames(label) if e["t"] < before)
            while len(sock.frames) < need:
                if time.monotonic() > deadline:
                    got = [frame_signature(f).get("type", "binary") for f in sock.frames]
                    raise AssertionError(f"{label}: {len(sock.frames)} of {need} frames by t={before}: {got}")
                await asyncio.sleep(0.002)

    async def wait_for_missed_steps(self, session: aiohttp.ClientSession, label: str) -> None:
        """A mid-run reconnect: let the job reach the last step the recorded socket missed."""
        frames = self.expected_frames(label)
        if len(frames) < 2 or frames[1]["msg"]["type"] != "executing":
            return
        progress = next((f["msg"]["data"] for f in frames if f["msg"]["type"] == "progress"), None)
        if progress is None:
            return
        deadline = time.monotonic() + SYNC_TIMEOUT
        while time.monotonic() < deadline:
            async with session.get(f"{self.url}/_sim/state") as response:
                state = await response.json()
            if state["progress"] and state["progress"]["value"] >= progress["value"] - 1:
                return
            await asyncio.sleep(0.002)
        raise AssertionError(f"{label}: the job never reached step {progress['value'] - 1}")

    async def open(self, session: aiohttp.ClientSession, event: dict[str, Any]) -> None:
        path_and_query = event["url"].split("/", 3)[3]
        ws = await session.ws_connect(f"{self.url}/{path_and_query}")
        sock = Socket(event["client"], ws)
        sock.reader = asyncio.create_task(sock.read())
        self.sockets[sock.label] = sock

    async def request(self, session: aiohttp.ClientSession, event: dict[str, Any]) -> None:
        request = substitute(event.get("request")) or {}
        kwargs: dict[str, Any] = {}
        if "headers" in request:
            kwargs["headers"] = request["headers"]
        if "json" in request:
            kwargs["json"] = in_recorded_order(request["json"], self.trace)
            prompt_id = request["json"].get("prompt_id") if isinstance(request["json"], dict) else None
            if event["path"].endswith("/prompt") and event["method"] == "POST":
                await set_delay(session, self.url, NODE_DELAY.get(str(prompt_id), 0.0))
        elif "raw_body" in request:
            kwargs["data"] = request["raw_body"].encode()
        elif "multipart_files" in request or "multipart_fields" in request:
            form = aiohttp.FormData()
            for name, value in request.get("multipart_fields", {}).items():
                form.add_field(name, value)
            for name, spec in request.get("multipart_files", {}).items():
                data = self.input_png if spec["bytes"] == len(self.input_png) else upload_bytes(spec)
                form.add_field(name, data, filename=spec["filename"], content_type=spec["content_type"])
            kwargs["data"] = form
        url = f"{self.url}{self.rename(event['path'])}"
        wants_entry = event["method"] == "GET" and event["path"].startswith(("/history/", "/api/history/"))
        deadline = time.monotonic() + SYNC_TIMEOUT
        while True:
            async with session.request(event["method"], url, **kwargs) as response:
                result = HttpResult(event, response.status, dict(response.headers), await response.read())
            # A finished job's entry: poll, as a client would after losing its socket (09).
            if not (
                wants_entry and event.get("body") and result.body == b"{}" and time.monotonic() < deadline
            ):
                break
            await asyncio.sleep(0.01)
        self.http.append(result)
        if "body" in event and result.body[:1] in (b"{", b"["):
            learn_filenames(substitute(event["body"]), json.loads(result.body), self.filenames)

    def rename(self, path: str) -> str:
        if not path.split("?")[0].endswith("/view"):
            return path
        query = path.split("?", 1)[1]
        parts = []
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key == "filename":
                value = quote(self.filenames.get(unquote(value), unquote(value)))
            parts.append(f"{key}={value}")
        return path.split("?")[0] + "?" + "&".join(parts)


def recorded_outputs(trace: dict[str, Any]) -> dict[str, list[str]]:
    """prompt id -> the outputs list the real server executed, from the trace's /history bodies."""
    found: dict[str, list[str]] = {}
    for event in trace["events"]:
        body = event.get("body") if event["dir"] == "http" else None
        if isinstance(body, dict) and event["path"].split("?")[0].rsplit("/", 2)[-2:-1] == ["history"]:
            for prompt_id, entry in body.items():
                if isinstance(entry, dict) and isinstance(entry.get("prompt"), list):
                    found[prompt_id] = entry["prompt"][4]
    return found


def in_recorded_order(body: Any, trace: dict[str, Any]) -> Any:
    """The /prompt body with its output nodes first, in the order the real server ran them."""
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), dict):
        return body
    order = recorded_outputs(trace).get(str(body.get("prompt_id")))
    prompt = body["prompt"]
    if not order or [n for n in prompt if n in order] == order:
        return body
    reordered = {n: prompt[n] for n in order if n in prompt}
    reordered.update({n: v for n, v in prompt.items() if n not in reordered})
    return {**body, "prompt": reordered}


def learn_filenames(recorded: Any, ours: Any, mapping: dict[str, str]) -> None:
    """Walk two bodies of the same shape and pair up their "filename" values."""
    if isinstance(recorded, dict) and isinstance(ours, dict):
        if isinstance(recorded.get("filename"), str) and isinstance(ours.get("filename"), str):
            mapping[recorded["filename"]] = ours["filename"]
        for key, value in recorded.items():
            if key in ours:
                learn_filenames(value, ours[key], mapping)
    elif isinstance(recorded, list) and isinstance(ours, list):
        for a, b in zip(recorded, ours, strict=False):
            learn_filenames(a, b, mapping)


async def set_delay(session: aiohttp.ClientSession, url: str, delay: float) -> None:
    async with session.post(f"{url}/_sim/faults", json={"delay": delay}) as response:
        response.raise_for_status()


def upload_bytes(spec: dict[str, Any]) -> bytes:
    """The recorded upload's bytes: a fixture file of that size, filler bytes for a file of no
    known kind, else another small PNG."""
    for path in [*sorted(traces_dir().glob("input-*")), *sorted((FIXTURES / "comfyui" / "media").glob("*"))]:
        if path.stat().st_size == spec["bytes"]:
            return path.read_bytes()
    if spec["content_type"] == "application/octet-stream":
        return b"x" * spec["bytes"]
    return other_png()


def other_png() -> bytes:
    """Different bytes for the uploads the trace made with another image."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- setup ------------------------------------------------------------------------------------


def previous_prompts(name: str, count: int = 2) -> list[dict[str, Any]]:
    """The last accepted POST /prompt bodies of the trace recorded before ``name`` on its port
    (two, so the last one itself finds the cache as it was; trace 10 shows its history)."""
    for session in SESSIONS.values():
        if name not in session or session.index(name) == 0:
            continue
        bodies = []
        for event in load(session[session.index(name) - 1])["events"]:
            body = event.get("request", {}).get("json") if event["dir"] == "http" else None
            if isinstance(body, dict) and event["path"].endswith("/prompt") and event["status"] == 200:
                # Its client is not connected, so its frames are dropped (trace 08).
                bodies.append(substitute(body))
        return bodies[-count:]
    return []


def input_names(trace: dict[str, Any], warm: list[dict[str, Any]]) -> set[str]:
    """LoadImage files the recorded server had (minus the one meant to be missing)."""
    names: set[str] = set()
    bodies = [
        e.get("request", {}).get("json") for e in trace["events"] if e["dir"] == "http" and e.get("request")
    ]
    for body in [*bodies, *warm]:
        if isinstance(body, dict) and isinstance(body.get("prompt"), dict):
            for node in body["prompt"].values():
                if isinstance(node, dict) and node.get("class_type") == "LoadImage":
                    names.add(node.get("inputs", {}).get("image", ""))
    return {n for n in names if n and "does-not-exist" not in n}


async def prepare(session: aiohttp.ClientSession, url: str, name: str, input_png: bytes) -> None:
    trace = load(name)
    warm = previous_prompts(name)
    uploads = {image: input_png for image in input_names(trace, warm)}
    for image, fixture in PRELOADED_INPUTS.get(name, {}).items():
        uploads[image] = (traces_dir() / fixture).read_bytes()
    for image, data in sorted(uploads.items()):
        form = aiohttp.FormData()
        form.add_field("overwrite", "true")
        form.add_field("image", data, filename=image, content_type="image/png")
        async with session.post(f"{url}/upload/image", data=form) as response:
            assert response.status == 200
    for body in warm:
        async with session.post(f"{url}/prompt", json=body) as response:
            assert response.status == 200, await response.text()
        deadline = time.monotonic() + SYNC_TIMEOUT
        while True:
            async with session.get(f"{url}/history/{body['prompt_id']}") as response:
                if await response.json():
                    break
            assert time.monotonic() < deadline, "warm-up prompt did not finish"
            await asyncio.sleep(0.01)
