"""Relay leases: each server is watched by exactly one relay at a time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.core.models import RelayLease
from jobs.relay import leases
from tests.factories import make_server

pytestmark = pytest.mark.django_db


def test_one_relay_holds_a_server_until_its_lease_expires():
    a, b = make_server("a", watched=False), make_server("b", watched=False)
    assert leases.claim([a.id, b.id], "relay-1", ttl=10) == {a.id, b.id}
    assert leases.claim([a.id, b.id], "relay-2", ttl=10) == set(), "held by relay-1"
    assert leases.claim([a.id], "relay-1", ttl=10) == {a.id}, "renewed"
    RelayLease.objects.filter(server=a).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert leases.claim([a.id, b.id], "relay-2", ttl=10) == {a.id}, "taken over after expiry"
    assert leases.claim([a.id], "relay-1", ttl=10) == set(), "the old holder lost it"


def test_release_hands_servers_over_at_once():
    a = make_server("a", watched=False)
    leases.claim([a.id], "relay-1", ttl=10)
    leases.release("relay-1")
    assert leases.claim([a.id], "relay-2", ttl=10) == {a.id}


def test_relay_identity_is_stable_but_the_holder_is_per_process(monkeypatch):
    monkeypatch.setenv("COMFYWEB_RELAY_ID", "edge-1")
    first, second = leases.relay_identity("relay"), leases.relay_identity("relay")
    assert first[0] == second[0] == "edge-1" and first[1] != second[1]
