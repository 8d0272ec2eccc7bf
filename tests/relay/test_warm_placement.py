"""Warm models with a real relay (issue W): jobs go where their checkpoint is warm, and the
relay learns what each server holds from what it ran there."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async

from jobs.core import service
from jobs.core.builtin_workflows import txt2img_graph
from jobs.core.models import Job, Server, Workflow
from jobs.pool.warmth import Warmth, learn, warmth_from_json
from simulator.testing import running_simulator
from tests.factories import make_server, make_session
from tests.relay.test_missing_models_relay import _inventory_read, _online
from tests.relay.test_relay_with_simulator import finished, run_relay, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
db = database_sync_to_async

A, B = "a.safetensors", "b.safetensors"
MODELS = [f"checkpoints/{A}", f"checkpoints/{B}"]


def _setup(warm: dict[str, str]) -> None:
    params = [
        {"name": "model", "type": "choice", "node": "4", "input": "ckpt_name", "choices": [A], "default": A}
    ]
    Workflow.objects.create(slug="t2i", name="t2i", graph=txt2img_graph(A, 64, "t"), params=params)
    for name, file in warm.items():  # what earlier runs taught: one model warm on each server
        warmth = learn(learn(learn(Warmth(), [file], 0.7), [file], 0.2), [file], 0.2)
        Server.objects.filter(name=name).update(warmth=warmth.to_json())


async def test_jobs_gather_where_their_checkpoint_is_warm_and_the_relay_learns_from_them():
    async with (
        running_simulator(name="s1", models=MODELS, vram=1, load_seconds=0.5) as s1,
        running_simulator(name="s2", models=MODELS, vram=1, load_seconds=0.5) as s2,
    ):
        await db(make_server)("s1", url=s1.url, watched=False)
        await db(make_server)("s2", url=s2.url, watched=False)
        await db(_setup)({"s1": A, "s2": B})
        stop, task = await run_relay()
        try:
            for name in ("s1", "s2"):
                await wait_for(_inventory_read(name, B))
                await wait_for(_online(name))
            session = await db(make_session)()
            jobs = []
            for model in (A, A, A, B, B, B):  # least-outstanding would spread them over both
                job, _ = await db(service.submit_job)(session, uuid.uuid4(), "t2i", {"model": model})
                jobs.append((model, job.id))
            await wait_for(finished(*(j for _, j in jobs)), timeout=60)
        finally:
            stop.set()
            await task
    placed = await db(
        lambda: {j.id: (j.status, j.server.name) for j in Job.objects.select_related("server")}
    )()
    for model, job_id in jobs:
        status, server = placed[job_id]
        assert status == "succeeded" and server == ("s1" if model == A else "s2"), (model, server)
    learned = await db(lambda: {s.name: warmth_from_json(s.warmth) for s in Server.objects.all()})()
    assert learned["s1"].warm() == (A,) and learned["s2"].warm() == (B,)
    assert learned["s1"].job_seconds is not None
