"""The one-hop ASGI handler (comfyweb.http_handler): request_started's database receivers run
inside the request's own hop, not in a hop of their own before it."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler

from comfyweb import http_handler

pytestmark = pytest.mark.django_db(transaction=True)


def test_request_started_sends_the_asgi_handler_nothing_to_run_in_a_thread():
    handler = http_handler.get_asgi_application()
    sync_receivers, _ = signals.request_started._live_receivers(type(handler))
    assert not set(sync_receivers) & set(http_handler.STARTED_HERE)
    for_wsgi, _ = signals.request_started._live_receivers(WSGIHandler)
    assert set(http_handler.STARTED_HERE) <= set(for_wsgi)


def test_a_request_runs_them_once_in_its_own_hop(monkeypatch):
    ran = []
    monkeypatch.setattr(http_handler, "STARTED_HERE", (lambda: ran.append(1),))
    handler = http_handler.get_asgi_application()

    async def get():
        communicator = HttpCommunicator(handler, "GET", "/healthz", headers=[(b"host", b"localhost")])
        return await communicator.get_response(timeout=10)

    response = async_to_sync(get)()
    assert response["status"] == 200 and ran == [1]


def test_a_request_answered_from_memory_takes_one_worker_thread_hop(monkeypatch):
    """request_started, the view and the response's close (request_finished, once) all in
    the one hop: no hop before the request, none after it is sent."""
    from django.dispatch import dispatcher

    hops, finished = [], []

    def counting(real):
        def wrapper(func, *args, **kwargs):
            hops.append(getattr(func, "__name__", repr(func)))
            return real(func, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(http_handler, "sync_to_async", counting(http_handler.sync_to_async))
    monkeypatch.setattr(dispatcher, "sync_to_async", counting(dispatcher.sync_to_async))
    signals.request_finished.connect(receiver := lambda **kwargs: finished.append(1))
    try:
        handler = http_handler.get_asgi_application()

        async def get():
            communicator = HttpCommunicator(handler, "GET", "/healthz", headers=[(b"host", b"localhost")])
            response = await communicator.get_response(timeout=10)
            await communicator.wait(timeout=10)  # the handler's end too, after sending
            return response

        assert async_to_sync(get)()["status"] == 200
    finally:
        signals.request_finished.disconnect(receiver)
    assert hops == ["_started_then_response"] and finished == [1]


def test_a_views_events_go_out_on_the_loop_once_its_hop_returned(monkeypatch):
    """What a view publishes waits for the end of its hop and goes out on the event loop,
    before the answer: the worker thread, shared by every request and the relay, makes no
    trip to the loop for it (events.after_hop)."""
    import threading

    from django.http import HttpResponse

    from jobs.core import events

    sent: list[tuple[str, int]] = []

    def no_trip(*args, **kwargs):
        raise AssertionError("the worker thread waited for the event loop")

    async def publish(batch):
        sent.extend((message["type"], threading.get_ident()) for _, message in batch)

    async def nudge(reason, **data):
        sent.append((f"nudge {reason}", threading.get_ident()))

    monkeypatch.setattr(events, "async_to_sync", no_trip)
    monkeypatch.setattr(events, "publish", publish)
    monkeypatch.setattr(events, "nudge_relay", nudge)
    handler = http_handler.get_asgi_application()
    worker: list[int] = []

    def view_path(request):
        worker.append(threading.get_ident())
        events.publish_and_nudge_sync([("tab.t", {"type": "job.updated"})], "submit")
        events.publish_sync([("tab.t", {"type": "lock.updated"})])
        assert sent == [], "nothing goes out while the hop runs"
        return HttpResponse("ok")

    monkeypatch.setattr(handler, "_started_then_response", view_path)

    async def get():
        loop_thread = threading.get_ident()
        communicator = HttpCommunicator(handler, "GET", "/healthz", headers=[(b"host", b"localhost")])
        response = await communicator.get_response(timeout=10)
        return loop_thread, response

    loop_thread, response = async_to_sync(get)()
    assert response["status"] == 200 and response["body"] == b"ok"
    assert worker and worker[0] != loop_thread
    assert sent == [
        ("job.updated", loop_thread),
        ("nudge submit", loop_thread),
        ("lock.updated", loop_thread),
    ]


def test_outside_a_request_a_sync_publisher_still_publishes_at_once(monkeypatch):
    from jobs.core import events

    sent = []

    async def publish(batch):
        sent.extend(message["type"] for _, message in batch)

    monkeypatch.setattr(events, "publish", publish)
    events.publish_sync([("tab.t", {"type": "job.updated"})])
    assert sent == ["job.updated"]
