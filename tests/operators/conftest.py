"""Operators' fixtures: staff and non-staff users, and a simulator in a background thread.

The simulator runs in its own thread's event loop, so that sync Django code under test (the
admin calls ComfyUI through async_to_sync) can reach it from a plain pytest test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import Client

from simulator.testing import running_simulator
from tests.browser.conftest import app, browser  # noqa: F401  (the browser tests' fixtures)
from tests.factories import make_server


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("olivia", "olivia@example.com", "pw-olivia-1")


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user("mallory", "mallory@example.com", "pw-mallory-1")


@pytest.fixture
def staff(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@contextmanager
def simulator_in_thread(name: str = "sim-op", models: list[str] | None = None) -> Iterator[str]:
    """A simulator holding `models` ("folder/file") in its own thread; yields its URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict = {}

    async def main() -> None:
        state["stop"] = asyncio.Event()
        async with running_simulator(name=name, models=models) as sim:
            state["url"] = sim.url
            ready.set()
            await state["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(15), "the simulator did not start"
    try:
        yield state["url"]
    finally:
        loop.call_soon_threadsafe(state["stop"].set)
        thread.join(15)
        loop.close()


@pytest.fixture
def simulator_url() -> Iterator[str]:
    with simulator_in_thread() as url:
        yield url


@pytest.fixture
def sim_server(db, simulator_url):
    return make_server("sim-op", url=simulator_url)


@pytest.fixture(autouse=True)
def _builtins_for_plain_db_tests(request):
    """A transactional test flushes the data-migrated built-in workflows; a plain db test that runs
    after one on the same xdist worker would miss `invert`. Put them back when they are gone."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or marker.kwargs.get("transaction") or (marker.args and marker.args[0]):
        return
    request.getfixturevalue("db")
    from jobs.core.builtin_workflows import install
    from jobs.core.models import Workflow

    if not Workflow.objects.filter(slug="invert").exists():
        install(Workflow)
