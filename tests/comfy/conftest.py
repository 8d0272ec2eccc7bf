"""Fixtures for the ComfyUI client tests.

The recorded traces of a real ComfyUI 0.3.64 (tests/fixtures/comfyui/, docs/comfyui-protocol.md) are
the source of truth for wire shapes (found through tests.paths). Everything is offered
as fixtures (and a ``trace_name`` parametrization) so no test imports this file.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.comfy import ComfyClient
from tests.paths import traces_dir

BASE_URL = "http://comfy-1.test:8188"

Handler = Callable[[httpx.Request], httpx.Response]


def _require_traces() -> Path:
    return traces_dir()


class Traces:
    """Read access to the trace files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @cache  # noqa: B019 - one instance per session, the cache is the point
    def load(self, name: str) -> dict[str, Any]:
        return json.loads((self.directory / name).read_text())

    def events(self, name: str) -> list[dict[str, Any]]:
        return self.load(name)["events"]

    def http(self, name: str, method: str, path: str, label: str | None = None) -> dict[str, Any]:
        """The first recorded exchange with this method and path (a trailing ``*``
        matches a prefix) and, if given, this label."""

        def matches(event: dict[str, Any]) -> bool:
            if event["dir"] != "http" or event["method"] != method:
                return False
            if label is not None and event.get("label") != label:
                return False
            if path.endswith("*"):
                return event["path"].startswith(path[:-1])
            return event["path"] == path

        found = [event for event in self.events(name) if matches(event)]
        assert found, f"no {method} {path} ({label}) in {name}"
        return found[0]

    def body(self, name: str, method: str, path: str, label: str | None = None) -> Any:
        return self.http(name, method, path, label)["body"]

    @staticmethod
    def replay(event: dict[str, Any]) -> httpx.Response:
        """The recorded answer as httpx would have received it."""
        headers = {k: v for k, v in event["headers"].items() if k != "content-length"}
        if "body" in event:
            return httpx.Response(event["status"], headers=headers, json=event["body"])
        return httpx.Response(event["status"], headers=headers, text=event.get("body_text", ""))


class Recorder:
    """A MockTransport handler that remembers every request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``trace_name`` runs a test once per trace file."""
    if "trace_name" in metafunc.fixturenames:
        names = sorted(p.name for p in traces_dir().glob("*.json"))
        metafunc.parametrize("trace_name", names)


@pytest.fixture(scope="session")
def traces() -> Traces:
    return Traces(_require_traces())


@pytest.fixture
def input_png(traces: Traces) -> bytes:
    """The 82-byte 8x8 gradient PNG uploaded in the traces."""
    return (traces.directory / "input-8x8.png").read_bytes()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[Handler], tuple[ComfyClient, Recorder]]]:
    """``client, recorder = make_client(handler)``: a ComfyClient over MockTransport."""
    clients: list[ComfyClient] = []

    def factory(handler: Handler) -> tuple[ComfyClient, Recorder]:
        recorder = Recorder(handler)
        client = ComfyClient(BASE_URL, transport=httpx.MockTransport(recorder))
        clients.append(client)
        return client, recorder

    yield factory
    for client in clients:
        await client.aclose()
