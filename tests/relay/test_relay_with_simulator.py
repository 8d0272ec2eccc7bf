"""The relay end to end against the simulator: dispatch, progress, completion, cancel, errors.

The relay runs in this test's event loop, as it does inside the web process by default; the
simulator runs in the same loop through its test helper.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from PIL import Image

from jobs.core import delivery, events, service, storage, tabs
from jobs.core.errors import ServiceError
from jobs.core.models import Job, Server, Tab, Upload, Workflow
from jobs.relay.loop import Relay
from simulator.testing import running_simulator
from tests.factories import make_server, make_session, make_upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
db = database_sync_to_async


class TabListener:
    """Everything one tab's sockets receive, registered as a tab consumer registers."""

    def __init__(self, tab_id):
        self.tab_id = tab_id
        self.messages: list[dict] = []

    async def __aenter__(self):
        self.sink = delivery.Sink(self._receive)
        delivery.add(events.tab_group(self.tab_id), self.sink)
        await self.sink.open()
        return self

    async def _receive(self, text, seq=None):  # as published: no reordering here
        self.messages.append(json.loads(text))

    async def __aexit__(self, *exc):
        delivery.discard(events.tab_group(self.tab_id), self.sink)

    def of_type(self, kind):
        return [m for m in self.messages if m["type"] == kind]


async def wait_for(predicate, timeout=15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await db(predicate)():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


def finished(*job_ids):
    return lambda: all(Job.objects.get(id=j).status in ("succeeded", "failed", "cancelled") for j in job_ids)


_colours = itertools.count(1)


async def submit(session, tab, workflow="invert", **params):
    """A job with an input of its own, so ComfyUI's cache never makes it instant."""
    n = next(_colours)
    upload = await db(make_upload)(session, colour=(n * 37 % 256, n * 91 % 256, n * 13 % 256))
    job, found = await db(service.submit_job)(session, tab, workflow, {"image": str(upload.id), **params})
    await events.publish(found)
    return job


async def run_relay():
    relay = Relay(poll_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    return stop, task


async def relay_knowing_outputs(sim):
    """A session's tab and a relay watching `sim`, once it knows the server's output classes
    (read from /object_info on connect): from then on a success's frames may tell it whole."""
    await db(make_server)("sim", url=sim.url, watched=False)
    session, tab = await db(make_session)(), uuid.uuid4()
    await db(tabs.claim_tab)(tab, session)
    stop, task = await run_relay()
    await wait_for(lambda: Server.objects.get(name="sim").node_classes is not None)
    return session, tab, stop, task


async def test_job_succeeds_with_the_inverted_image_and_releases_the_lock():
    async with running_simulator(delay=0.0) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        session, tab = await db(make_session)(), uuid.uuid4()
        await db(tabs.claim_tab)(tab, session)
        async with TabListener(tab) as tab_events:
            job = await submit(session, tab)
            stop, task = await run_relay()
            await wait_for(finished(job.id))
            await asyncio.sleep(0.1)
            stop.set()
            await task
        job = await db(lambda: Job.objects.select_related("server").get(id=job.id))()
        assert job.status == "succeeded", job.error
        assert job.server.name == "sim" and job.attempt == 1
        outputs = await db(lambda: list(job.outputs.all()))()
        assert len(outputs) == 1
        result = Image.open(io.BytesIO(await db(storage.read_bytes)(outputs[0].file))).convert("RGB")
        upload = await db(Upload.objects.get)(id=job.params["image"])
        original = Image.open(io.BytesIO(await db(storage.read_bytes)(upload.file))).convert("RGB")
        assert result.size == original.size
        for xy in [(0, 0), (3, 5), (7, 7)]:
            assert all(
                abs(a + b - 255) <= 1 for a, b in zip(result.getpixel(xy), original.getpixel(xy), strict=True)
            )
        assert (await db(Tab.objects.get)(id=tab)).server_id is None
        statuses = [m["job"]["status"] for m in tab_events.of_type("job.updated")]
        order = ["pending", "queued", "running", "succeeded"]
        ranks = [order.index(s) for s in statuses]
        assert statuses[0] == "pending" and statuses[-1] == "succeeded" and ranks == sorted(ranks)
        numbered = [m["seq"] for m in tab_events.messages if "seq" in m]
        assert numbered == list(range(1, len(numbered) + 1)), "state changes are numbered without gaps"
        assert tab_events.of_type("lock.updated")[-1]["lock"] is None
        assert tab_events.of_type("job.progress"), "progress reaches the tab"


async def test_two_tabs_spread_over_two_servers_without_cross_talk():
    async with running_simulator(delay=0.05) as one, running_simulator(delay=0.05) as two:
        await db(make_server)("one", url=one.url, watched=False)
        await db(make_server)("two", url=two.url, watched=False)
        session = await db(make_session)()
        tab_ids = [uuid.uuid4(), uuid.uuid4()]
        for tab in tab_ids:
            await db(tabs.claim_tab)(tab, session)
        async with TabListener(tab_ids[0]) as first, TabListener(tab_ids[1]) as second:
            jobs = {tab: [await submit(session, tab) for _ in range(2)] for tab in tab_ids}
            stop, task = await run_relay()
            await wait_for(finished(*[j.id for js in jobs.values() for j in js]), timeout=30)
            stop.set()
            await task
        for listener, tab in ((first, tab_ids[0]), (second, tab_ids[1])):
            own = {str(j.id) for j in jobs[tab]}
            seen = {m["job"]["id"] for m in listener.of_type("job.updated")}
            seen |= {m["job"] for m in listener.of_type("job.progress")}
            assert seen == own, "a tab hears only about its own jobs"
        servers = {}
        for tab, tab_jobs in jobs.items():
            rows = await db(
                lambda ids=[j.id for j in tab_jobs]: list(
                    Job.objects.filter(id__in=ids).values_list("status", "server__name")
                )
            )()
            assert {status for status, _ in rows} == {"succeeded"}
            assert len({name for _, name in rows}) == 1, "one tab, one server"
            servers[tab] = rows[0][1]
        assert set(servers.values()) == {"one", "two"}, "the balancer spreads the tab_ids"


async def test_rejected_prompt_fails_with_the_servers_message():
    async with running_simulator(delay=0.0) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        broken = {
            "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
            "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 999, "sigma": 1.0}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
        }
        await db(Workflow.objects.create)(
            slug="broken",
            name="Broken",
            graph=broken,
            params=[{"name": "image", "type": "image", "node": "1", "input": "image"}],
        )
        session, tab = await db(make_session)(), uuid.uuid4()
        job = await submit(session, tab, "broken")
        stop, task = await run_relay()
        await wait_for(finished(job.id))
        stop.set()
        await task
        job = await db(Job.objects.get)(id=job.id)
        assert job.status == "failed"
        assert job.error["code"] == "invalid_prompt" and "blur_radius" in job.error["message"]
        assert job.error["node"] == "2"


async def test_a_workflow_with_a_node_no_server_has_is_refused_before_reaching_a_server():
    async with running_simulator(delay=0.0) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        graph = {
            "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
            "2": {"class_type": "NoSuchNode", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
        }
        params = [{"name": "image", "type": "image", "node": "1", "input": "image"}]
        await db(Workflow.objects.create)(slug="custom", name="Custom", graph=graph, params=params)
        session, tab = await db(make_session)(), uuid.uuid4()
        stop, task = await run_relay()
        await wait_for(lambda: Server.objects.get(name="sim").node_classes is not None)
        with pytest.raises(ServiceError) as refused:
            await submit(session, tab, "custom")
        stop.set()
        await task
        assert refused.value.code == "no_capable_server"
        assert refused.value.message == "No server in the pool has the node NoSuchNode."
        assert not await db(Job.objects.exists)(), "nothing was stored, nothing reached the server"


async def test_cancel_running_job_leaves_the_other_tabs_job_alone():
    async with running_simulator(delay=0.4) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        session = await db(make_session)()
        mine, theirs = uuid.uuid4(), uuid.uuid4()
        stop, task = await run_relay()
        running = await submit(session, mine)
        await wait_for(lambda: Job.objects.get(id=running.id).status == "running")
        other = await submit(session, theirs)
        queued = await submit(session, mine)
        await wait_for(lambda: Job.objects.get(id=queued.id).status == "queued")
        for job in (queued, running):
            result = await db(service.cancel_job)(session, job.id)
            await events.nudge_relay("cancel", job=str(job.id))
            assert result.needs_relay
        await wait_for(finished(running.id, queued.id, other.id), timeout=30)
        stop.set()
        await task
        states = {j: (await db(Job.objects.get)(id=j.id)).status for j in (running, queued, other)}
        assert states[running] == "cancelled" and states[queued] == "cancelled"
        assert states[other] == "succeeded"


async def test_a_prompt_that_ends_with_no_job_waiting_costs_no_read_of_the_waiting_jobs(monkeypatch):
    """A freed slot alone needs no dispatch pass once the last pass left no job waiting
    (Relay._maybe_waiting); a submission's nudge does make one."""
    from jobs.core import attempts

    reads = []
    real = attempts.waiting_jobs
    monkeypatch.setattr(attempts, "waiting_jobs", lambda: reads.append(1) or real())
    async with running_simulator(delay=0.0) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        session, tab = await db(make_session)(), uuid.uuid4()
        await db(tabs.claim_tab)(tab, session)
        relay = Relay(poll_interval=60)  # no poll during the test: only nudges and freed slots
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))

        def settled() -> bool:  # connected, trusted, its nodes read, its first pass made
            watcher = next(iter(relay.watchers.values()), None)
            return (
                watcher is not None
                and watcher.connected.is_set()
                and watcher.trust.trusted
                and watcher.inventory_read_at > 0
                and not relay._maybe_waiting
            )

        await wait_for(settled)  # each of these may make a pass: none may come after `before`
        await asyncio.sleep(0.3)
        before = len(reads)
        job = await submit(session, tab)
        await events.nudge_relay("submit")
        await wait_for(finished(job.id))
        await asyncio.sleep(0.3)  # the prompt's end has freed its slot
        assert len(reads) - before == 1
        await events.nudge_relay("submit")
        await asyncio.sleep(0.3)
        assert len(reads) - before == 2
        stop.set()
        relay._wake.set()
        await task
    assert (await db(Job.objects.get)(id=job.id)).status == "succeeded"


@pytest.fixture
def trips(monkeypatch):
    """The names of the functions the relay's loop runs in the database thread, in order."""
    from jobs.relay import loop

    names: list[str] = []
    real = loop.db
    monkeypatch.setattr(loop, "db", lambda func: names.append(func.__name__) or real(func))
    return names


async def test_a_pass_that_places_one_job_makes_one_trip_to_the_database(trips):
    """The waiting jobs and the first one's attempt are read and started in one trip."""
    async with running_simulator(delay=0.0) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        session, tab = await db(make_session)(), uuid.uuid4()
        await db(tabs.claim_tab)(tab, session)
        job = await submit(session, tab)
        stop, task = await run_relay()
        await wait_for(finished(job.id))
        stop.set()
        await task
    assert (await db(Job.objects.get)(id=job.id)).status == "succeeded"
    assert "_waiting_then_first" in trips and "start_attempt_with_inputs" not in trips


async def test_a_success_seen_whole_completes_without_history_and_one_after_a_dropped_socket_reads_it(
    monkeypatch,
):
    """A success whose every frame reached the relay ends from its `executed` frames (no GET
    /history: issue Y); once the socket dropped while it ran, /history tells its outputs."""
    from jobs.comfy import ComfyClient

    reads = []
    real = ComfyClient.get_history

    async def counted(self, prompt_id):
        reads.append(prompt_id)
        return await real(self, prompt_id)

    monkeypatch.setattr(ComfyClient, "get_history", counted)
    async with running_simulator(delay=0.0) as sim:
        session, tab, stop, task = await relay_knowing_outputs(sim)
        whole = await submit(session, tab)
        await wait_for(finished(whole.id))
        await sim.set_faults(delay=0.4)
        dropped = await submit(session, tab)
        await events.nudge_relay("submit")
        await wait_for(lambda: Job.objects.get(id=dropped.id).status == "running")
        await sim.set_faults(drop_sockets=True)
        await wait_for(finished(dropped.id))
        stop.set()
        await task
    for job in (whole, dropped):
        job = await db(Job.objects.get)(id=job.id)
        assert job.status == "succeeded", job.error
        assert await db(lambda job=job: job.outputs.count())() == 1
    assert str(whole.id) not in reads
    assert str(dropped.id) in reads


async def test_a_job_submitted_beside_the_relay_is_bound_where_it_was_submitted_and_needs_no_pass(trips):
    """The relay of the process holds every server, nothing else waits: the submission binds
    the job and hands the ticket over (jobs.core.handoff); no pass reads the waiting jobs."""
    from jobs.core import handoff

    async with running_simulator(delay=0.0) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        session, tab = await db(make_session)(), uuid.uuid4()
        await db(tabs.claim_tab)(tab, session)
        relay = Relay(poll_interval=60)  # no poll during the test
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        await wait_for(
            lambda: relay.holds_every_server() and all(w.connected.is_set() for w in relay.watchers.values())
        )
        before = -1
        while before != trips.count("_waiting_then_first"):  # the first passes made (a loaded
            before = trips.count("_waiting_then_first")  # machine takes longer over them)
            await asyncio.sleep(0.3)
        async with TabListener(tab) as tab_events:
            upload = await db(make_upload)(session, colour=(200, 10, 90))

            def submit_here():
                job, found = service.submit_job(session, tab, "invert", {"image": str(upload.id)})
                handoff.submitted(job, found)
                return job

            job = await db(submit_here)()
            await wait_for(finished(job.id))
            await asyncio.sleep(0.1)
        assert trips.count("_waiting_then_first") == before, "no pass was needed to place it"
        stop.set()
        relay._wake.set()
        await task
    job = await db(Job.objects.get)(id=job.id)
    assert job.status == "succeeded" and job.attempt == 1, job.error
    numbered = [m["seq"] for m in tab_events.messages if "seq" in m]
    assert numbered == list(range(1, len(numbered) + 1)), "state changes are numbered without gaps"
    statuses = [m["job"]["status"] for m in tab_events.of_type("job.updated")]
    assert statuses[0] == "pending" and statuses[-1] == "succeeded"


async def test_an_upload_sent_ahead_is_not_sent_again_by_its_job_nor_by_the_next_with_the_same_bytes(
    monkeypatch,
):
    """On an idle pool the upload goes to the server its job will take as soon as it is
    stored (jobs.core.handoff.uploaded); the job finds it there, and so does a later job
    with the same bytes (jobs.relay.inputs)."""
    from jobs.comfy.client import ComfyClient
    from jobs.core import handoff
    from jobs.core.uploads import accept_upload
    from tests.factories import png_bytes

    sent = []
    real = ComfyClient.upload_image

    async def counted(self, data, filename, **kwargs):
        sent.append(filename)
        return await real(self, data, filename, **kwargs)

    monkeypatch.setattr(ComfyClient, "upload_image", counted)
    async with running_simulator(delay=0.0) as sim:
        await db(make_server)("sim", url=sim.url, watched=False)
        session, tab = await db(make_session)(), uuid.uuid4()
        await db(tabs.claim_tab)(tab, session)
        relay = Relay(poll_interval=60)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        await wait_for(
            lambda: relay.holds_every_server() and all(w.connected.is_set() for w in relay.watchers.values())
        )
        data = png_bytes(colour=(1, 2, 3))

        def submit_with(upload):
            job, found = service.submit_job(session, tab, "invert", {"image": str(upload.id)})
            handoff.submitted(job, found)
            return job

        def upload():
            return handoff.uploaded(accept_upload(session, data, "in.png"), data)

        ahead = await db(upload)()
        await wait_for(lambda: len(sent) == 1)  # sent before the job was even submitted
        first = await db(submit_with)(ahead)
        await wait_for(finished(first.id))
        second = await db(submit_with)(await db(upload)())
        await wait_for(finished(second.id))
        stop.set()
        relay._wake.set()
        await task
    for job in (first, second):
        job = await db(Job.objects.get)(id=job.id)
        assert job.status == "succeeded", job.error
    assert len(sent) == 1, sent


async def test_a_result_is_fetched_once_on_its_executed_frame_not_after_the_prompt_ends(monkeypatch):
    """jobs.relay.early: the /view starts on the output node's `executed`; completion takes
    that file and asks for none of its own."""
    from jobs.relay import completion, early

    fetches: dict[str, list[str]] = {"early": [], "completion": []}

    def counting(kind, real):
        async def fetch_file(client, item):
            fetches[kind].append(item.filename)
            return await real(client, item)

        return fetch_file

    monkeypatch.setattr(early, "fetch_file", counting("early", early.fetch_file))
    monkeypatch.setattr(completion, "fetch_file", counting("completion", completion.fetch_file))
    async with running_simulator(delay=0.0) as sim:
        session, tab, stop, task = await relay_knowing_outputs(sim)
        job = await submit(session, tab)
        await wait_for(finished(job.id))
        stop.set()
        await task
    job = await db(Job.objects.get)(id=job.id)
    assert job.status == "succeeded", job.error
    [output] = await db(lambda: list(job.outputs.all()))()
    assert (await db(storage.read_bytes)(output.file)).startswith(b"\x89PNG")
    assert len(fetches["early"]) == 1 and fetches["completion"] == [], fetches
