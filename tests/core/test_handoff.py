"""A new job bound where it was submitted, when nothing else could decide otherwise
(jobs.core.handoff), and handed to the relay of the process; else the relay is nudged."""

from __future__ import annotations

import pytest

from jobs.core import events, handoff, service
from jobs.core.models import Job
from jobs.core.uploads import accept_upload
from tests.core.test_model_placement import gpu, workflow
from tests.factories import make_server, make_tab, make_upload, png_bytes

pytestmark = pytest.mark.django_db


class Relay:
    """A relay of this process as handoff sees it: which servers it holds, what it took."""

    def __init__(self, holds_all: bool = True) -> None:
        self.holds_all = holds_all
        self.taken: list = []
        self.sent_ahead: list = []

    def holds_every_server(self) -> bool:
        return self.holds_all

    def take(self, ticket) -> None:
        self.taken.append(ticket)

    def prefetch(self, server_id, stored, sha256, data) -> None:
        self.sent_ahead.append((server_id, stored, sha256, data))


@pytest.fixture
def sent(monkeypatch):
    """What a submission sends to the event loop: events, nudges, and what runs after them."""
    record: dict[str, list] = {"events": [], "nudges": []}

    def publish_and_nudge(found, reason):
        record["events"].extend(found)
        record["nudges"].append(reason)

    def publish(found):
        record["events"].extend(found)

    monkeypatch.setattr(events, "publish_and_nudge_sync", publish_and_nudge)
    monkeypatch.setattr(events, "publish_sync", publish)
    return record


@pytest.fixture
def relay():
    taker = Relay()
    handoff.register(taker)
    yield taker
    handoff.unregister(taker)


WAYS = {"way": "apart"}


@pytest.fixture(autouse=True, params=["apart", "in its submission"])
def way(request):
    """Every rule holds both ways: bound after the submission's commit (the API's retry, a
    ComfyUI client's graph), or in its transaction (handoff.Here: the browser's, the API's)."""
    WAYS["way"] = request.param
    return request.param


def submit(session, tab, slug="invert", **params):
    if slug == "invert":
        params = {"image": str(make_upload(session).id)}
    here = handoff.Here() if WAYS["way"] != "apart" else None
    job, found = service.submit_job(session, tab.id, slug, params, bind=here)
    handoff.submitted(job, found, here)
    return Job.objects.get(id=job.id)


def test_with_nothing_else_waiting_the_job_is_bound_at_once_and_its_ticket_handed_over(
    alice, relay, sent, way
):
    server = make_server()
    tab = make_tab(alice)
    seq = tab.seq
    job = submit(alice, tab)
    assert job.server_id == server.id and job.attempt == 1 and job.status == "pending"
    [ticket] = relay.taken
    assert ticket.job_id == job.id and ticket.server_id == server.id
    assert ticket.inputs, "its upload read with the bind, as the relay's pass reads it"
    kinds = [message["type"] for _, message in sent["events"]]
    if way == "apart":
        assert kinds == ["job.updated", "lock.updated", "job.updated"], "submission, lock, bind: in order"
    else:
        assert kinds == ["lock.updated", "job.updated"], "the bind's events stand for the submission's"
    assert sent["events"][-1][1]["job"]["server"] == server.name
    seqs = [message["seq"] for _, message in sent["events"]]
    assert seqs == list(range(seq + 1, seq + 1 + len(seqs))), "numbered on from the tab's last"
    assert sent["nudges"] == [], "no pass is needed"


def test_the_ticket_goes_to_the_relay_before_the_requests_events(alice, relay, monkeypatch):
    """The prompt's POST need not wait for the events and the answer (issue Y)."""
    make_server()
    taken_before: list[int] = []
    monkeypatch.setattr(events, "publish_sync", lambda found: taken_before.append(len(relay.taken)))
    submit(alice, make_tab(alice))
    assert taken_before == [1] and len(relay.taken) == 1


def test_a_job_waiting_unbound_goes_first_so_the_new_one_waits_for_the_pass(alice, bob, relay, sent):
    make_server()
    first, _ = service.submit_job(bob, make_tab(bob).id, "invert", {"image": str(make_upload(bob).id)})
    job = submit(alice, make_tab(alice))
    assert job.server_id is None and relay.taken == []
    assert Job.objects.get(id=first.id).server_id is None, "the pass places it first"
    assert sent["nudges"] == ["submit"]


def test_a_relay_that_does_not_hold_every_server_is_nudged_instead(alice, sent):
    taker = Relay(holds_all=False)
    handoff.register(taker)
    try:
        make_server()
        job = submit(alice, make_tab(alice))
    finally:
        handoff.unregister(taker)
    assert job.server_id is None and taker.taken == [] and sent["nudges"] == ["submit"]


def test_with_no_relay_in_the_process_the_relay_is_nudged(alice, sent):
    make_server()
    job = submit(alice, make_tab(alice))
    assert job.server_id is None and sent["nudges"] == ["submit"]


def test_a_job_that_must_wait_for_room_is_left_to_the_pass(alice, relay, sent):
    make_server(max_queued=1)
    tab = make_tab(alice)
    submit(alice, tab)
    job = submit(alice, tab)
    assert job.server_id is None and len(relay.taken) == 1 and sent["nudges"] == ["submit"]


@pytest.mark.parametrize("warm", [True, False])
def test_a_job_needing_a_model_is_left_to_warmth_when_it_plans(alice, relay, sent, settings, warm):
    gpu("gpu-1", "sd15.safetensors")
    workflow("txt2img", "sd15.safetensors")
    settings.COMFYWEB_WARM_PLACEMENT = warm
    job = submit(alice, make_tab(alice), "txt2img")
    if warm:
        assert job.server_id is None and relay.taken == [] and sent["nudges"] == ["submit"]
    else:
        assert job.server_id is not None and len(relay.taken) == 1 and sent["nudges"] == []


def test_an_unregistered_relay_is_nudged_and_another_relay_is_not_unregistered_by_it(alice, relay, sent):
    handoff.unregister(Relay())  # not the registered one: nothing changes
    make_server()
    job = submit(alice, make_tab(alice))
    assert job.server_id is not None
    handoff.unregister(relay)
    job = submit(alice, make_tab(alice))
    assert job.server_id is None and sent["nudges"] == ["submit"]


def upload(session):
    data = png_bytes()
    return handoff.uploaded(accept_upload(session, data, "in.png"), data), data


def test_on_an_idle_pool_an_upload_goes_ahead_to_the_server_the_balancer_will_choose(alice, relay):
    make_server("b-gpu")
    first = make_server("a-gpu")  # the same score: the name decides, as in the balancer
    stored, data = upload(alice)
    assert relay.sent_ahead == [(first.id, str(stored.file), stored.sha256, data)]
    job = submit(alice, make_tab(alice))
    assert job.server_id == first.id, "the guess was the balancer's choice"


def test_in_a_request_the_upload_goes_ahead_once_its_answer_is_out(alice, relay):
    """jobs.web.hot answers first: the send's work on the loop would delay the answer."""
    server = make_server()
    with handoff.answer_first() as later:
        stored, data = upload(alice)
        assert relay.sent_ahead == [] and len(later) == 1
    later[0]()
    assert relay.sent_ahead == [(server.id, str(stored.file), stored.sha256, data)]
    upload(alice)
    assert len(relay.sent_ahead) == 2, "outside a request: at once"


def test_on_a_busy_pool_or_without_the_relay_nothing_goes_ahead(alice, relay):
    make_server("a-gpu")
    submit(alice, make_tab(alice))  # bound: outstanding on a-gpu
    upload(alice)
    assert relay.sent_ahead == []
    handoff.unregister(relay)
    Job.objects.update(status="succeeded")
    upload(alice)
    assert relay.sent_ahead == []
    partial = Relay(holds_all=False)
    handoff.register(partial)
    try:
        upload(alice)
    finally:
        handoff.unregister(partial)
    assert partial.sent_ahead == []


def test_a_failure_while_deciding_leaves_the_job_to_the_pass_and_the_request_answered(
    alice, relay, sent, monkeypatch
):
    from jobs.core import sql

    make_server()

    def broken(job_id):
        raise RuntimeError("database gone")

    monkeypatch.setattr(sql, "others_wait_unbound", broken)
    job = submit(alice, make_tab(alice))
    assert job.status == "pending" and job.server_id is None
    assert relay.taken == [] and sent["nudges"] == ["submit"]
    assert [message["type"] for _, message in sent["events"]] == ["job.updated"]


def test_a_bind_that_fails_the_job_is_told_apart_and_undone_in_the_submission(
    alice, relay, sent, monkeypatch, way
):
    """A bind that finds no server fails its job (attempts.start_attempt). After the
    submission's commit that failure stands, told after the submission; inside its
    transaction it would drop the submission's own event, so it is undone for the pass."""
    from jobs.core import attempts

    make_server()

    def fails(job_id, *args):
        return attempts._fail(Job.objects.get(id=job_id), "no_capable_server", "None can run it.")

    monkeypatch.setattr(attempts, "start_attempt", fails)
    job = submit(alice, make_tab(alice))
    told = [m["job"]["status"] for _, m in sent["events"]]
    if way == "apart":
        assert job.status == "failed" and told == ["pending", "failed"]
    else:
        assert job.status == "pending" and job.server_id is None, "the failure was rolled back"
        assert told == ["pending"]
    assert relay.taken == [] and sent["nudges"] == ["submit"]
