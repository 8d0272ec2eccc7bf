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
