"""Errors raised by the ComfyUI client, socket and message parser.

The hierarchy, modelled on ``httpx/_exceptions.py``::

    ComfyError                  base; every error knows the server it came from
    ├── ComfyUnavailable        transport failure (connect, timeout, read) or a 5xx:
    │                           the server cannot be used right now, try another one
    ├── ComfyHTTPError          an unexpected 4xx (or 3xx: the client never follows
    │   │                       redirects, so a request cannot leave its server)
    │   ├── PromptRejected      POST /prompt answered 400; keeps ``error`` and
    │   │                       ``node_errors`` exactly as ComfyUI sent them
    │   └── NotFound            GET /view answered 404 (the file is not there)
    └── ProtocolError           an answer of the wrong shape (non-JSON where JSON
                                was expected, a JSON frame that is not an object)

The split follows what a caller does next: ``ComfyUnavailable`` means "fail over",
``PromptRejected`` means "tell the user what is wrong with the workflow", and the
rest are bugs or incompatible servers worth logging in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ComfyError",
    "ComfyHTTPError",
    "ComfyUnavailable",
    "NotFound",
    "PromptRejected",
    "ProtocolError",
    "summarize_node_errors",
]


class ComfyError(Exception):
    """Base class. ``server_url`` is the base URL of the server involved (None when
    the error came from parsing a frame out of context)."""

    def __init__(self, message: str, *, server_url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.server_url = server_url


class ComfyUnavailable(ComfyError):
    """The server cannot be used right now: no connection, a timeout, a dropped
    connection, or a 5xx answer. ``status`` is None for transport failures."""

    def __init__(
        self,
        message: str,
        *,
        server_url: str | None = None,
        status: int | None = None,
        body_text: str | None = None,
    ) -> None:
        super().__init__(message, server_url=server_url)
        self.status = status
        self.body_text = body_text


class ComfyHTTPError(ComfyError):
    """An unexpected non-2xx answer below 500. ``body`` is the parsed JSON body, or
    None when the body is empty or not JSON (ComfyUI often answers 400 with nothing)."""

    def __init__(
        self,
        message: str,
        *,
        server_url: str | None = None,
        status: int,
        body: Any = None,
        body_text: str = "",
    ) -> None:
        super().__init__(message, server_url=server_url)
        self.status = status
        self.body = body
        self.body_text = body_text


class PromptRejected(ComfyHTTPError):
    """POST /prompt answered 400: validation failed for every output (PROTOCOL.md §1).

    ``error`` is ComfyUI's ``{"type", "message", "details", "extra_info"}`` and
    ``node_errors`` its ``{node_id: {"errors": [...], "dependent_outputs", "class_type"}}``,
    both kept as sent so they can be shown or stored verbatim.
    """

    def __init__(
        self,
        message: str,
        *,
        server_url: str | None = None,
        status: int = 400,
        body: Any = None,
        body_text: str = "",
        error: Mapping[str, Any] | None = None,
        node_errors: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, server_url=server_url, status=status, body=body, body_text=body_text)
        self.error: dict[str, Any] = dict(error or {})
        self.node_errors: dict[str, Any] = dict(node_errors or {})

    @property
    def error_type(self) -> str | None:
        """ComfyUI's ``error.type``, e.g. ``prompt_outputs_failed_validation``."""
        value = self.error.get("type")
        return value if isinstance(value, str) else None

    def summary(self) -> str:
        """One line per problem, for a person.

        Per-node problems when there are any ("node 4 (CheckpointLoaderSimple): Value
        not in list: ckpt_name: 'x' not in []"); otherwise the top-level error
        ("Cannot execute because node X does not exist. (Node ID '#2')").
        """
        lines = summarize_node_errors(self.node_errors)
        if lines:
            return "\n".join(lines)
        return _describe(self.error) or self.message


class NotFound(ComfyHTTPError):
    """GET /view answered 404: the file is not on this server (empty body)."""


class TooLarge(ComfyError):
    """A file from the server is larger than the limit the caller set (``limit`` bytes)."""

    def __init__(self, message: str, *, server_url: str | None = None, limit: int = 0) -> None:
        super().__init__(message, server_url=server_url)
        self.limit = limit


class ProtocolError(ComfyError):
    """The server answered, but not in the shape this client understands."""


def summarize_node_errors(node_errors: Mapping[str, Any]) -> list[str]:
    """Readable lines for a ``node_errors`` mapping.

    Shared by PromptRejected and the partial-acceptance case, where a 200 answer
    carries the same mapping for the outputs that were dropped (PROTOCOL.md §1).
    Tolerates missing keys: this text is for people, it must never raise.
    """
    lines: list[str] = []
    for node_id, entry in node_errors.items():
        entry = entry if isinstance(entry, Mapping) else {}
        class_type = entry.get("class_type")
        label = f"node {node_id} ({class_type})" if class_type else f"node {node_id}"
        errors = entry.get("errors")
        if not isinstance(errors, list) or not errors:
            lines.append(f"{label}: invalid")
            continue
        for error in errors:
            text = _describe(error) if isinstance(error, Mapping) else str(error)
            lines.append(f"{label}: {text or 'invalid'}")
    return lines


def _describe(error: Mapping[str, Any]) -> str:
    """``message: details`` for node errors, ``message (details)`` style when details
    is a location such as "Node ID '#2'". Duplicate or empty parts are dropped."""
    message = str(error.get("message") or "").strip()
    details = str(error.get("details") or "").strip()
    if not details or details == message:
        return message
    if not message:
        return details
    if message.endswith((".", "!", "?")):
        return f"{message} ({details})"
    return f"{message}: {details}"
