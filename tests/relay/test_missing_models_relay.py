"""A server whose inventory was stale: the job moves to a server with the model, and no attempt
is spent. Both ways a real 0.3.64 says "no such model" (a classic loader's 400, a V3 loader's
FileNotFoundError at run time), with a real relay and two simulators."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async

from jobs.core import servers, service
from jobs.core.builtin_workflows import txt2img_graph
from jobs.core.models import Attempt, Job, Server, Tab, Workflow
from simulator.testing import running_simulator
from tests.factories import make_server, make_session, make_upload
from tests.relay.test_relay_with_simulator import finished, run_relay, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
db = database_sync_to_async

CKPT = "v1-5-pruned-emaonly-fp16.safetensors"
UPSCALER = "4x-UltraSharp.pth"


def txt2img() -> dict:
    return txt2img_graph(CKPT, 64, "t")


def upscale() -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": UPSCALER}},
        "3": {
            "class_type": "ImageUpscaleWithModel",
            "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
        },
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "u"}},
    }


def _setup(slug: str, graph: dict, params: list) -> None:
    Workflow.objects.create(slug=slug, name=slug, graph=graph, params=params)


def _lock_tab_to(tab: uuid.UUID, session: str, server_name: str) -> None:
    """The tab is already locked to the stale server (its earlier work kept it there)."""
    server = Server.objects.get(name=server_name)
    Tab.objects.update_or_create(id=tab, defaults={"session_key": session, "server": server})


def _online(name: str):
    """Trusted online by the running relay: until then a locked tab's job may move elsewhere."""
    return lambda: servers.status_now(Server.objects.annotate(**servers.LEASE).get(name=name)) == "online"


def _inventory_read(name: str, file: str):
    return lambda: any(file in files for files in (Server.objects.get(name=name).model_files or {}).values())


@pytest.mark.parametrize(
    ("slug", "graph", "folder", "file"),
    [
        ("classic", txt2img, "checkpoints", CKPT),  # refused at POST /prompt with 400
        ("v3", upscale, "upscale_models", UPSCALER),  # accepted, fails at run time
    ],
)
async def test_a_job_on_a_server_that_lost_its_model_moves_without_spending_an_attempt(
    slug, graph, folder, file
):
    models = [f"{folder}/{file}"]
    async with (
        running_simulator(name="stale", models=models) as stale,
        running_simulator(name="good", models=models) as good,
    ):
        await db(make_server)("stale", url=stale.url, watched=False)
        await db(make_server)("good", url=good.url, watched=False)
        params = [{"name": "image", "type": "image", "node": "1", "input": "image"}] if slug == "v3" else []
        await db(_setup)(slug, graph(), params)
        stop, task = await run_relay()
        try:
            await wait_for(_inventory_read("stale", file))
            await wait_for(_inventory_read("good", file))
            await wait_for(_online("stale"))
            await wait_for(_online("good"))
            await stale.set_models(remove=models)  # deleted on the server; ComfyWeb does not know yet
            session, tab = await db(make_session)(), uuid.uuid4()
            await db(_lock_tab_to)(tab, session, "stale")
            values = {"image": str((await db(make_upload)(session)).id)} if slug == "v3" else {}
            job, _ = await db(service.submit_job)(session, tab, slug, values)
            await wait_for(finished(job.id), timeout=30)
        finally:
            stop.set()
            await task
    job = await db(Job.objects.select_related("server").get)(id=job.id)
    assert job.status == "succeeded", job.error
    assert job.server.name == "good" and job.attempt == 1, "the move cost no attempt"
    tries = await db(lambda: list(Attempt.objects.filter(job=job).values_list("server__name", flat=True)))()
    assert tries == ["good"]
    stale_row = await db(Server.objects.get)(name="stale")
    # Only the missing-model path re-reads an inventory within the test (the periodic one
    # waits COMFYWEB_INVENTORY_EVERY): the job went to the stale server first.
    assert not any(file in files for files in stale_row.model_files.values()), "its inventory was re-read"


def _running_job_on(server_name: str) -> Job:
    from jobs.core import attempts

    classes = ["LoadImage", "UpscaleModelLoader", "ImageUpscaleWithModel", "SaveImage"]
    server = make_server(server_name, node_classes=classes, model_files={KEY: [UPSCALER]})
    _setup("v3", upscale(), [{"name": "image", "type": "image", "node": "1", "input": "image"}])
    session = make_session()
    job, _ = service.submit_job(session, uuid.uuid4(), "v3", {"image": str(make_upload(session).id)})
    ticket, _ = attempts.start_attempt(job.id)
    assert ticket is not None and ticket.server_id == server.id
    attempts.mark_running(job.id, 1)
    return job


KEY = "UpscaleModelLoader.model_name"


async def test_a_file_the_fresh_inventory_still_lists_is_broken_and_its_failure_counts():
    from jobs.pool.inventory import Inventory
    from jobs.relay.watcher import ServerWatcher

    job = await db(_running_job_on)("gpu-1")
    server = await db(Server.objects.get)(name="gpu-1")
    watcher = ServerWatcher(server.id, server.name, server.url, "client")

    async def still_there(*, stats: bool = True) -> bool:  # the re-read lists the file again
        watcher.inventory = Inventory(frozenset(), {KEY: frozenset({UPSCALER})})
        return True

    watcher.refresh_info = still_there  # type: ignore[method-assign]
    assert not await watcher._placed_again(job.id, 1, [(KEY, UPSCALER)])
    job = await db(Job.objects.get)(id=job.id)
    assert job.status == "running" and job.attempt == 1 and job.server_id == server.id, (
        "left to fail as usual"
    )
    await watcher.client.aclose()
    await watcher.probe_client.aclose()


async def test_models_copied_onto_a_running_server_are_seen_at_the_next_re_read(settings):
    settings.COMFYWEB_INVENTORY_EVERY = 0.5
    async with running_simulator(name="gpu", models=[f"checkpoints/{CKPT}"]) as sim:
        await db(make_server)("gpu", url=sim.url, watched=False)
        stop, task = await run_relay()
        try:
            await wait_for(_inventory_read("gpu", CKPT))
            first = await db(lambda: Server.objects.get(name="gpu").inventory_at)()
            await asyncio.sleep(1.5)  # re-reads that find nothing new write nothing
            assert await db(lambda: Server.objects.get(name="gpu").inventory_at)() == first
            await sim.set_models(add=["loras/ink.safetensors"])
            await wait_for(_inventory_read("gpu", "ink.safetensors"), timeout=10)
        finally:
            stop.set()
            await task
