"""What the relay knows of one prompt in flight, folded from its ComfyUI frames.

Plain state with no I/O, so the rules are tested directly: progress is nodes finished out of
nodes to run, plus the running node's steps; the outcome is the success, error or interrupt
frame before the terminal `executing` with `node: null` (PROTOCOL.md §3).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from jobs.comfy import HistoryEntry
from jobs.comfy import messages as m
from jobs.pool.inventory import KNOWN_MODEL_INPUTS


@dataclass
class Tracked:
    job_id: uuid.UUID
    tab_id: uuid.UUID
    attempt: int
    nodes_total: int
    cached: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    current: str | None = None
    step: tuple[float, float] | None = None  # (value, max) of the running node's steps
    started: bool = False
    outcome: str | None = None  # "success" | "error" | "interrupted"
    error: dict[str, Any] | None = None
    terminal: bool = False
    titles: dict[str, str] = field(default_factory=dict)  # node id → title, for the page
    terminal_at: float | None = None
    last_frame_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None  # its first frame of execution: run time, for warmth
    files: tuple[str, ...] = ()  # the model files it needs
    loaders: frozenset[str] = frozenset()  # its loader nodes: running one is loading a model
    activity: str | None = None  # the running node's `activity` in progress_state (newer servers)
    raw: bool = False  # a ComfyUI client's graph: its frames are mirrored (jobs.relay.mirror)
    # Each output node's result from its `executed` frame (sent for cached nodes too, the same
    # as /history's `outputs`), kept only while every frame of the prompt reaches the relay:
    # None from the start when it did not watch the prompt begin, or once its socket dropped.
    outputs: dict[str, dict[str, Any]] | None = None
    output_nodes: frozenset[str] = frozenset()  # its graph's output nodes: each must report
    reported: set[str] = field(default_factory=set)  # nodes that sent `executed`

    @property
    def prompt_id(self) -> str:
        return str(self.job_id)

    @property
    def loading(self) -> bool:
        """A loader node runs: the server is loading a model (a warm one is cached or takes
        milliseconds, so this shows only while a load takes time)."""
        if self.activity == "loading":
            return True
        return self.current in self.loaders and self.current not in self.finished

    @property
    def run_seconds(self) -> float | None:
        if self.started_at is None or self.terminal_at is None:
            return None
        return self.terminal_at - self.started_at

    def told_whole(self) -> HistoryEntry | None:
        """The prompt's /history entry as its frames told it, when they told all of it: a
        success, its socket open throughout, and an `executed` from each output node (a frame
        lost while the socket stayed open shows as one that did not report). Then completing
        it needs no GET /history (issue Y); otherwise None, and /history decides."""
        if self.outcome != "success" or self.outputs is None or not self.output_nodes <= self.reported:
            return None
        return HistoryEntry(self.prompt_id, dict(self.outputs), "success", True, [])

    def title(self, node: str | None) -> str | None:
        return self.titles.get(node) if node is not None else None

    def progress(self) -> tuple[float, float, str | None]:
        """(value, max, node): finished nodes of those to run, plus the running node's fraction."""
        to_run = max(self.nodes_total - len(self.cached), 1)
        done = len(self.finished - self.cached)
        fraction = 0.0
        if self.step and self.step[1] > 0 and self.current not in self.finished:
            fraction = min(self.step[0] / self.step[1], 1.0)
        return round(min(done + fraction, to_run), 3), float(to_run), self.current

    def apply(self, event: m.Event) -> str | None:
        """Fold one frame of this prompt in; returns what changed: "start", "progress",
        "terminal" or None."""
        self.last_frame_at = time.monotonic()
        if isinstance(event, m.ExecutionStart):
            first, self.started = not self.started, True
            self.started_at = self.started_at or self.last_frame_at
            return "start" if first else None
        if isinstance(event, m.ExecutionCached):
            self.cached.update(event.nodes)
            self.finished.update(event.nodes)
            return "progress"
        if isinstance(event, m.Executing):
            if event.is_terminal:
                self.terminal, self.terminal_at = True, time.monotonic()
                return "terminal"
            if event.node is not None:
                if self.current is not None and self.current != event.node:
                    self.finished.add(self.current)
                self.current, self.step = event.node, None
                first, self.started = not self.started, True
                if self.started_at is None:
                    self.started_at = self.last_frame_at
                return "start" if first else "progress"
            return None
        if isinstance(event, m.ProgressState):
            self.activity = next((s.activity for s in event.nodes.values() if s.state == "running"), None)
            for node_id, state in event.nodes.items():
                if state.state == "finished":
                    self.finished.add(node_id)
                elif state.state == "running" and state.max and state.max > 1:
                    self.current, self.step = node_id, (state.value, state.max)
            return "progress"
        if isinstance(event, m.Progress):
            if event.node is not None:
                self.current = event.node
            self.step = (float(event.value), float(event.max))
            return "progress"
        if isinstance(event, m.Executed):
            self.reported.add(event.node)
            if self.outputs is not None and event.output:
                self.outputs[event.node] = event.output
            return None
        if isinstance(event, m.Unknown) and event.type == "executed":
            self.outputs = None  # a result it could not read: /history tells
            return None
        if isinstance(event, m.ExecutionSuccess):
            self.outcome = "success"
        elif isinstance(event, m.ExecutionError):
            self.outcome = "error"
            self.error = execution_error(event)
        elif isinstance(event, m.ExecutionInterrupted):
            self.outcome = "interrupted"
        return None


def execution_error(event: m.ExecutionError) -> dict[str, Any]:
    """The JOB `error` for a node that failed while running: node, exception type and message."""
    node_type = f" ({event.node_type})" if event.node_type else ""
    return {
        "code": "execution_error",
        "message": f"Node {event.node_id}{node_type} failed: {event.exception_type}: "
        f"{event.exception_message}".strip(),
        "node": event.node_id,
    }


def node_titles(graph: dict[str, Any]) -> dict[str, str]:
    """Each node's title as the editor showed it (`_meta.title`), else its class."""
    titles = {}
    for node_id, node in graph.items():
        if isinstance(node, dict):
            meta = node.get("_meta")
            if not isinstance(meta, dict):
                meta = {}
            titles[str(node_id)] = str(meta.get("title") or node.get("class_type") or node_id)
    return titles


def loader_nodes(graph: dict[str, Any]) -> frozenset[str]:
    """The nodes that load a model file (jobs.pool.inventory.KNOWN_MODEL_INPUTS)."""
    return frozenset(
        str(node_id)
        for node_id, node in graph.items()
        if isinstance(node, dict) and node.get("class_type") in KNOWN_MODEL_INPUTS
    )
