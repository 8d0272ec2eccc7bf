"""Server health: the watcher reports every 2 s, the row is written only when it changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.core.models import Server
from jobs.relay import health
from tests.factories import make_server

pytestmark = pytest.mark.django_db


def updates(queries: CaptureQueriesContext) -> int:
    return sum(1 for query in queries.captured_queries if query["sql"].lstrip().upper().startswith("UPDATE"))


def test_repeated_probes_that_see_the_same_thing_write_nothing():
    server = make_server()
    health.set_server_health(server.id, online=True, queue_remaining=2)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            health.set_server_health(server.id, online=True, queue_remaining=2)
            health.set_server_health(server.id, online=True)  # the reconnect's report: no queue
    assert updates(queries) == 0


def test_each_change_is_written_and_last_seen_is_refreshed_at_most_every_30_s():
    server = make_server()
    health.set_server_health(server.id, online=True, queue_remaining=0)
    first_seen = Server.objects.get(id=server.id).last_seen
    assert first_seen is not None

    with CaptureQueriesContext(connection) as queries:
        health.set_server_health(server.id, online=True, queue_remaining=3)
    assert updates(queries) == 1
    row = Server.objects.get(id=server.id)
    assert row.queue_remaining == 3 and row.last_seen >= first_seen

    stale = timezone.now() - health.SEEN_EVERY - timedelta(seconds=1)
    Server.objects.filter(id=server.id).update(last_seen=stale)
    with CaptureQueriesContext(connection) as queries:
        health.set_server_health(server.id, online=True, queue_remaining=3)
    assert updates(queries) == 1, "nothing else changed, but staff should not see a stale 'seen'"
    assert Server.objects.get(id=server.id).last_seen > stale


def test_going_offline_keeps_when_it_went_away_and_coming_back_clears_it():
    server = make_server()
    health.set_server_health(server.id, online=True)
    health.set_server_health(server.id, online=False, error="connection refused")
    down = Server.objects.get(id=server.id)
    assert (down.status, down.last_error) == ("offline", "connection refused")
    assert down.offline_since is not None

    with CaptureQueriesContext(connection) as queries:
        health.set_server_health(server.id, online=False, error="connection refused")
    assert updates(queries) == 0, "each failed reconnect with the same error writes nothing"

    health.set_server_health(server.id, online=False, error="timed out")
    again = Server.objects.get(id=server.id)
    assert again.last_error == "timed out"
    assert again.offline_since == down.offline_since, "offline since the first failure"
    assert again.last_seen == down.last_seen, "an offline server was not seen"

    health.set_server_health(server.id, online=True, queue_remaining=1)
    back = Server.objects.get(id=server.id)
    assert (back.status, back.last_error, back.offline_since, back.queue_remaining) == ("online", "", None, 1)
    assert back.last_seen > down.last_seen


def test_a_long_error_is_cut_to_what_the_column_shows_and_not_rewritten():
    server = make_server()
    health.set_server_health(server.id, online=False, error="x" * 5000)
    assert len(Server.objects.get(id=server.id).last_error) == 2000
    with CaptureQueriesContext(connection) as queries:
        health.set_server_health(server.id, online=False, error="x" * 5000)
    assert updates(queries) == 0


def test_an_unknown_server_is_ignored():
    health.set_server_health(999_999, online=True, queue_remaining=1)
    assert not Server.objects.filter(id=999_999).exists()
