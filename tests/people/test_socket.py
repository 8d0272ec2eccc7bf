"""The tab socket for people (issue U): a person's tab on any device, nobody else's, nobody
at all in accounts mode without signing in, and a tab that survives its sign-in."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from comfyweb.asgi import application
from jobs.core import events, owners
from tests.factories import make_session

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in_cookie(username: str) -> str:
    """The session cookie of a browser where `username` signed in."""
    user = User.objects.filter(username=username).first() or User.objects.create_user(username)
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def connect(session_key: str, tab: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    headers.append((b"cookie", f"sessionid={session_key}".encode()))
    return WebsocketCommunicator(application, f"/ws/tabs/{tab}/", headers=headers)


async def first_message(session_key: str, tab: str) -> tuple[WebsocketCommunicator, dict]:
    socket = connect(session_key, tab)
    connected, _ = await socket.connect()
    assert connected
    return socket, await socket.receive_json_from()


async def test_a_persons_tab_opens_from_their_other_device_and_not_from_anyone_elses():
    laptop, phone = await sync_to_async(signed_in_cookie)("ann"), await sync_to_async(signed_in_cookie)("ann")
    tab = str(uuid.uuid4())
    socket, snapshot = await first_message(laptop, tab)
    assert snapshot["type"] == "tab.snapshot"
    await socket.disconnect()
    again, snapshot = await first_message(phone, tab)
    assert snapshot["type"] == "tab.snapshot", "one person: the tab is theirs on every device"
    await again.disconnect()
    stranger, refused = await first_message(await sync_to_async(signed_in_cookie)("bob"), tab)
    assert refused["type"] == "error" and refused["code"] == "tab_taken"
    await stranger.disconnect()


async def test_accounts_mode_refuses_a_socket_nobody_signed_in_to(settings):
    settings.COMFYWEB_ACCESS = "accounts"
    socket, refused = await first_message(await sync_to_async(make_session)(), str(uuid.uuid4()))
    assert refused == {"type": "error", "code": "not_signed_in", "message": "Sign in first.", "ref": None}
    await socket.disconnect()


async def test_an_open_tab_survives_its_sign_in():
    anonymous = await sync_to_async(make_session)()
    tab = str(uuid.uuid4())
    socket, snapshot = await first_message(anonymous, tab)
    assert snapshot["type"] == "tab.snapshot"
    ann = await sync_to_async(User.objects.create_user)("ann")
    adopted = await sync_to_async(owners.adopt)(anonymous, f"user:{ann.pk}")
    assert [str(t) for t in adopted] == [tab]
    await events.publish([events.owner_changed(t) for t in adopted])
    assert await socket.receive_json_from() == {"type": "owner.changed"}
    await socket.disconnect()
    # The page reconnects with the cookie of its signed-in session: the same tab, now the person's.
    again, snapshot = await first_message(await sync_to_async(signed_in_cookie)("ann"), tab)
    assert snapshot["type"] == "tab.snapshot" and snapshot["tab"] == tab
    await again.disconnect()
