"""One ComfyWeb with its ComfyUI-compatible listener and two simulators, per test module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.management.simulators import free_port
from tests.live import LiveApp, live_app
from tests.paths import REPO

INVERT = json.loads((REPO / "tests/fixtures/comfyui/workflows/core-invert.api.json").read_text())


class Endpoint:
    def __init__(self, app: LiveApp, port: int) -> None:
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}"


def start(tmp: Path, **kwargs) -> Iterator[Endpoint]:
    port = free_port()
    env = {"COMFYWEB_COMFYUI_PORT": str(port), "COMFYWEB_COMFYUI_ANONYMOUS": "1", **kwargs.pop("env", {})}
    with live_app(tmp, env=env, **kwargs) as app:
        yield Endpoint(app, port)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[Endpoint]:
    yield from start(tmp_path_factory.mktemp("comfyapi"), simulators=2, sim_delay=0.15)
