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
