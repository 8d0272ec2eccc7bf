"""Results of ComfyClient calls, as small frozen dataclasses.

Each ``from_json`` takes the decoded body and raises KeyError, TypeError or
ValueError when the shape is wrong; the client turns those into ProtocolError
with the server's URL attached. Shapes are those of PROTOCOL.md §1 and the traces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import summarize_node_errors

__all__ = [
    "HistoryEntry",
    "Outcome",
    "OutputImage",
    "QueueState",
    "QueuedPrompt",
    "UploadedImage",
]

Outcome = Literal["success", "error", "interrupted"]


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what}: expected a string, got {type(value).__name__}")
    return value


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{what}: expected an object, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class UploadedImage:
    """What POST /upload/image stored. ``name`` may differ from the name sent: on a
    collision with different bytes the server picks "stem (1).ext" (trace 01)."""

    name: str
    subfolder: str
    type: str

    @property
    def load_image_value(self) -> str:
        """The value ``LoadImage.inputs.image`` takes: "subfolder/name" or "name"."""
        return f"{self.subfolder}/{self.name}" if self.subfolder else self.name

    @classmethod
    def from_json(cls, body: Any) -> UploadedImage:
        body = _dict(body, "upload")
        return cls(
            name=_str(body["name"], "name"),
            subfolder=_str(body.get("subfolder") or "", "subfolder"),
            type=_str(body.get("type") or "input", "type"),
        )


@dataclass(frozen=True)
class QueuedPrompt:
    """A 200 from POST /prompt.

    Partial-acceptance trap (PROTOCOL.md §1, trace 04): when at least one output
    node validates, ComfyUI answers 200, silently drops the outputs that failed
    and reports them here in ``node_errors``. Only the valid outputs will run, so
    a caller that needs every output must check ``partially_rejected``.
    """

    prompt_id: str
    number: int | float
    node_errors: dict[str, Any] = field(default_factory=dict)

    @property
    def partially_rejected(self) -> bool:
        return bool(self.node_errors)

    def summary(self) -> str:
        """Readable lines for the dropped outputs ("" when everything was accepted)."""
        return "\n".join(summarize_node_errors(self.node_errors))

    @classmethod
    def from_json(cls, body: Any) -> QueuedPrompt:
        body = _dict(body, "prompt answer")
        number = body["number"]
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise TypeError("number: expected a number")
        return cls(
            prompt_id=str(body["prompt_id"]),
            number=number,
            node_errors=_dict(body.get("node_errors") or {}, "node_errors"),
        )


@dataclass(frozen=True)
class OutputImage:
    """One file an output node wrote; pass its fields to ``ComfyClient.view``."""

    node_id: str
    filename: str
    subfolder: str
    type: str


@dataclass(frozen=True)
class OutputItem:
    """One result of an output node, whatever key the server reported it under.

    A file (`filename` set: pass `filename`, `subfolder`, `type` to ``ComfyClient.view``) or a
    text (`text` set, from PreviewAny and the "show text" nodes). `index` runs across all the
    keys of the node, so that an `images` and a `gifs` entry of one node never share a slot.
    `animated` is the node's `animated` flag for that file (SaveVideo and SaveAnimatedWEBP
    report their files under `images` with `"animated": [true]`).
    """

    node_id: str
    index: int
    key: str
    filename: str = ""
    subfolder: str = ""
    type: str = "output"
    text: str | None = None
    animated: bool = False


# Keys of an output node that carry text rather than files.
TEXT_KEYS = ("text",)
# Keys that describe the files of other keys.
FLAG_KEYS = ("animated",)


@dataclass(frozen=True)
class HistoryEntry:
    """One finished job from GET /history. It exists only once the job is over
    (success, error or interrupt); a queued or running job has no entry."""

    prompt_id: str
    outputs: dict[str, dict[str, Any]]
    status_str: str | None
    completed: bool
    messages: list[tuple[str, dict[str, Any]]]
    number: int | float | None = None
    client_id: str | None = None

    @property
    def outcome(self) -> Outcome | None:
        """How the job ended.

        An interrupted job has ``status_str == "error"`` and ``completed == False``,
        exactly like a failed one (trace 07); only its ``execution_interrupted``
        message tells them apart, so the messages are checked first.
        """
        kinds = {kind for kind, _ in self.messages}
        if "execution_interrupted" in kinds:
            return "interrupted"
        if "execution_error" in kinds:
            return "error"
        if self.status_str == "success":
            return "success"
        if self.status_str == "error":
            return "error"
        return None

    @property
    def error_message(self) -> dict[str, Any] | None:
        """The ``execution_error`` data (node_id, node_type, exception_type,
        exception_message, traceback, ...), or None if the job did not fail."""
        for kind, data in self.messages:
            if kind == "execution_error":
                return data
        return None

    def images(self) -> list[OutputImage]:
        """Every file of every output node, in the server's order. A failed job
        keeps the outputs of the nodes that did finish (trace 05)."""
        found: list[OutputImage] = []
        for node_id, output in self.outputs.items():
            items = output.get("images") if isinstance(output, Mapping) else None
            for item in items if isinstance(items, list) else []:
                if isinstance(item, Mapping) and isinstance(item.get("filename"), str):
                    found.append(
                        OutputImage(
                            node_id=node_id,
                            filename=item["filename"],
                            subfolder=str(item.get("subfolder") or ""),
                            type=str(item.get("type") or "output"),
                        )
                    )
        return found

    def results(self) -> list[OutputItem]:
        """Every result of every output node, in the server's order: files under any key
        (`images`, `gifs`, `audio`, `video`, `3d`, unknown ones whose items carry a
        `filename`) and texts. A failed job keeps the outputs of the nodes that did finish."""
        found: list[OutputItem] = []
        for node_id, output in self.outputs.items():
            if not isinstance(output, Mapping):
                continue
            index = 0
            for key, items in output.items():
                if key in FLAG_KEYS or not isinstance(items, list):
                    continue
                flags = output.get("animated")
                for position, item in enumerate(items):
                    result = _result(str(node_id), index, str(key), item, flags, position)
                    if result is not None:
                        found.append(result)
                        index += 1
        return found

    @classmethod
    def from_json(cls, prompt_id: str, body: Any) -> HistoryEntry:
        body = _dict(body, f"history entry {prompt_id}")
        status = _dict(body.get("status") or {}, "status")
        messages: list[tuple[str, dict[str, Any]]] = []
        for item in status.get("messages") or []:
            kind, data = item  # [event, data] pairs; a wrong length raises ValueError
            messages.append((_str(kind, "message type"), _dict(data, "message data")))
        prompt = body.get("prompt")
        number: int | float | None = None
        client_id: str | None = None
        # prompt = [number, prompt_id, prompt, extra_data, outputs_to_execute]
        if isinstance(prompt, list) and len(prompt) >= 4:
            if isinstance(prompt[0], int | float):
                number = prompt[0]
            if isinstance(prompt[3], dict) and isinstance(prompt[3].get("client_id"), str):
                client_id = prompt[3]["client_id"]
        status_str = status.get("status_str")
        return cls(
            prompt_id=prompt_id,
            outputs=_dict(body.get("outputs") or {}, "outputs"),
            status_str=status_str if isinstance(status_str, str) else None,
            completed=bool(status.get("completed", False)),
            messages=messages,
            number=number,
            client_id=client_id,
        )


def _result(node_id: str, index: int, key: str, item: Any, flags: Any, position: int) -> OutputItem | None:
    if key in TEXT_KEYS:
        if isinstance(item, str):
            return OutputItem(node_id, index, key, text=item)
        return None
    if not (isinstance(item, Mapping) and isinstance(item.get("filename"), str) and item["filename"]):
        return None
    animated = (
        key == "images" and isinstance(flags, list) and position < len(flags) and flags[position] is True
    )
    return OutputItem(
        node_id,
        index,
        key,
        filename=item["filename"],
        subfolder=str(item.get("subfolder") or ""),
        type=str(item.get("type") or "output"),
        animated=animated,
    )


@dataclass(frozen=True)
class QueueState:
    """GET /queue reduced to prompt ids. ``pending`` is sorted by number, i.e. in the
    order the server will run them (it sends its heap unsorted, PROTOCOL.md §1)."""

    running: list[str]
    pending: list[str]
    # Every id, for membership tests: the relay asks about each of its prompts in turn, and a
    # scan of a list of hundreds for each would be quadratic.
    ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", frozenset(self.running) | frozenset(self.pending))

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.ids

    @classmethod
    def from_json(cls, body: Any) -> QueueState:
        body = _dict(body, "queue")

        def items(key: str) -> list[tuple[Any, str]]:
            value = body.get(key) or []
            if not isinstance(value, list):
                raise TypeError(f"{key}: expected a list")
            # item = [number, prompt_id, prompt, extra_data, outputs_to_execute]
            return [(item[0], str(item[1])) for item in value]

        pending = sorted(items("queue_pending"), key=lambda item: item[0])
        return cls(
            running=[prompt_id for _, prompt_id in items("queue_running")],
            pending=[prompt_id for _, prompt_id in pending],
        )
