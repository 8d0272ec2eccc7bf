"""The ComfyUI socket follows its tab's numbered events in seq order (jobs.core.ordering): a
prompt whose end overtook its start still ends for the client, and a lost event is caught up."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from jobs.comfyapi.consumer import ComfySocketConsumer
from jobs.comfyapi.identity import ANONYMOUS, Caller, tab_of
from jobs.core import delivery, events, locks, service, tabs
from tests.factories import make_session, make_upload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def anonymous(settings):
    settings.COMFYWEB_COMFYUI_ANONYMOUS = True


async def comfy_socket(client_id: str) -> tuple[WebsocketCommunicator, uuid.UUID]:
    socket = WebsocketCommunicator(ComfySocketConsumer.as_asgi(), f"/ws?clientId={client_id}")
    connected, _ = await socket.connect()
    assert connected
    status = await socket.receive_json_from()
    assert status["type"] == "status" and status["data"]["sid"] == client_id
    return socket, tab_of(Caller(ANONYMOUS, ""), client_id)


def job(job_id: str, status: str) -> dict:
    started = None if status == "pending" else "2026-12-01T00:00:00Z"
    return {"id": job_id, "status": status, "started_at": started, "error": None}


def remaining(frame: dict) -> int:
    return frame["data"]["status"]["exec_info"]["queue_remaining"]


async def test_a_prompt_whose_end_overtook_its_start_still_ends_for_the_client():
    socket, tab = await comfy_socket("order-1")
    prompt = str(uuid.uuid4())
    for seq, status in ((3, "succeeded"), (2, "running"), (1, "pending")):  # the worst order
        await events.publish([events.job_updated(tab, job(prompt, status), seq)])
    frames = [await socket.receive_json_from() for _ in range(4)]
    assert [f["type"] for f in frames] == ["status", "execution_success", "status", "executing"]
    assert remaining(frames[0]) == 1 and remaining(frames[2]) == 0
    assert frames[3]["data"] == {"node": None, "prompt_id": prompt}
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_a_lost_end_is_caught_up_from_the_database(monkeypatch):
    monkeypatch.setattr(delivery, "GAP_WAIT", 0.1)
    session = await database_sync_to_async(make_session)()
    upload = await database_sync_to_async(make_upload)(session)
    socket, tab = await comfy_socket("order-2")
    await database_sync_to_async(tabs.claim_tab)(str(tab), session)
    found, sent = await database_sync_to_async(service.submit_job)(
        session, str(tab), "invert", {"image": str(upload.id)}
    )
    await events.publish(sent)
    assert remaining(await socket.receive_json_from()) == 1
    # Cancelled in the database (seq 2), but its event is lost; the next one (seq 3) comes.
    await database_sync_to_async(service.cancel_job)(session, str(found.id))
    await events.publish([events.lock_updated(tab, None, await database_sync_to_async(locks.bump_seq)(tab))])
    frame = await socket.receive_json_from(timeout=2)
    assert frame["type"] == "status" and remaining(frame) == 0, frame
    await socket.disconnect()
