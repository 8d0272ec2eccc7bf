"""Webhooks (issue T): the callback URL rules (never loopback, link-local or private unless
allowed; a redirect is checked too), a signed delivery to a receiver the test starts,
retries with backoff after failures, and giving up after the bounded time."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import timedelta

import pytest
from aiohttp import web
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from jobs.core import callbacks
from jobs.core.models import Job, JobStatus, Tab, WebhookCall, Workflow
from jobs.people import tokens
from jobs.relay import webhooks
from tests.factories import png_bytes


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:9/x", "non-public address (127.0.0.1)"),
        ("http://[::1]/x", "non-public address"),
        ("http://10.0.0.8/x", "non-public address"),
        ("http://192.168.1.1/x", "non-public address"),
        ("http://169.254.169.254/latest/meta-data/", "non-public address"),
        ("http://[::ffff:10.0.0.1]/x", "non-public address"),
        ("http://localhost:8000/x", "points to this machine"),
        ("ftp://example.com/x", "http or https"),
        ("http://user:pw@example.com/x", "credentials"),
        ("not a url", "http or https"),
    ],
)
def test_callback_urls_to_non_public_places_are_refused(settings, url, problem):
    settings.COMFYWEB_WEBHOOK_ALLOW = []
    assert problem in (callbacks.url_problem(url) or "")


def test_public_urls_pass_and_an_allowed_network_opens_loopback(settings):
    settings.COMFYWEB_WEBHOOK_ALLOW = []
    assert callbacks.url_problem("https://hooks.example.com/comfy") is None
    assert callbacks.url_problem("http://93.184.216.34/x") is None
    settings.COMFYWEB_WEBHOOK_ALLOW = ["127.0.0.1/32"]
    assert callbacks.url_problem("http://127.0.0.1:9/x") is None
    assert callbacks.url_problem("http://10.0.0.8/x") is not None


@pytest.mark.django_db
def test_a_submission_with_a_bad_callback_is_refused_and_stores_nothing(settings):
    settings.COMFYWEB_ACCESS = "accounts"
    settings.COMFYWEB_WEBHOOK_ALLOW = []
    ann = User.objects.create_user("ann")
    _, token = tokens.create(ann.pk, "t")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    from django.core.files.uploadedfile import SimpleUploadedFile

    image = client.post(
        "/api/uploads/", {"file": SimpleUploadedFile("a.png", png_bytes(), "image/png")}
    ).json()
    body = {"workflow": "invert", "params": {"image": image["id"]}, "callback_url": "http://10.0.0.8/hook"}
    answer = client.post("/api/jobs/", body, content_type="application/json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_callback"
    assert "non-public address" in answer.json()["error"]["message"]
    assert not Job.objects.exists() and not WebhookCall.objects.exists()


def ended_job(user: User, url: str, finished_ago: float = 0.0) -> WebhookCall:
    owner = f"user:{user.pk}"
    tab = Tab.objects.create(id=uuid.uuid4(), session_key=owner)
    job = Job.objects.create(
        tab=tab, session_key=owner, workflow=Workflow.objects.get(slug="invert"), status=JobStatus.SUCCEEDED
    )
    Job.objects.filter(id=job.id).update(finished_at=timezone.now() - timedelta(seconds=finished_ago))
    return WebhookCall.objects.create(job=job, url=url)


class Receiver:
    """A webhook receiver on 127.0.0.1 answering from a script of responses."""

    def __init__(self, answers):
        self.answers, self.seen = list(answers), []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, dict(request.headers), await request.read()))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, str):
            raise web.HTTPFound(answer)
        return web.Response(status=answer)

    async def __aenter__(self):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


async def deliver_until_settled(tries: int) -> None:
    async with webhooks.new_client() as client:
        for _ in range(tries):
            await webhooks.deliver_due(client)
            await sync_to_async(WebhookCall.objects.update)(next_at=None)  # due again now


@pytest.mark.django_db(transaction=True)
async def test_a_delivery_is_signed_and_retried_after_failures(settings):
    settings.COMFYWEB_WEBHOOK_ALLOW = ["127.0.0.1/32"]
    ann = await sync_to_async(User.objects.create_user)("ann")
    async with Receiver([500, 503, 200]) as receiver:
        call = await sync_to_async(ended_job)(ann, f"{receiver.url}/hook")
        await deliver_until_settled(4)
    assert len(receiver.seen) == 3, "two failures, then delivered, then never again"
    call = await sync_to_async(WebhookCall.objects.get)(id=call.id)
    assert (call.attempts, call.last_status, call.state) == (3, 200, "delivered")
    _, headers, body = receiver.seen[-1]
    job = json.loads(body)["job"]
    assert job["id"] == str(call.job_id) and job["status"] == "succeeded"
    stamp, mac = (part.split("=", 1)[1] for part in headers["ComfyWeb-Signature"].split(","))
    secret = await sync_to_async(callbacks.secret_of)(ann.pk)
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)


@pytest.mark.django_db(transaction=True)
async def test_a_redirect_to_a_private_address_is_not_followed(settings):
    settings.COMFYWEB_WEBHOOK_ALLOW = ["127.0.0.1/32"]
    ann = await sync_to_async(User.objects.create_user)("ann")
    async with Receiver(["http://169.254.169.254/latest/meta-data/"]) as receiver:
        call = await sync_to_async(ended_job)(ann, f"{receiver.url}/hook")
        await deliver_until_settled(1)
    call = await sync_to_async(WebhookCall.objects.get)(id=call.id)
    assert call.delivered_at is None and "non-public address (169.254.169.254)" in call.last_error
    assert len(receiver.seen) == 1


@pytest.mark.django_db(transaction=True)
async def test_loopback_is_refused_at_delivery_unless_allowed_and_retries_end(settings):
    settings.COMFYWEB_WEBHOOK_ALLOW = []
    settings.COMFYWEB_WEBHOOK_RETRY_FOR = 2.0
    ann = await sync_to_async(User.objects.create_user)("ann")
    async with Receiver([]) as receiver:
        call = await sync_to_async(ended_job)(ann, f"{receiver.url}/hook", finished_ago=10)
        await deliver_until_settled(2)
    call = await sync_to_async(WebhookCall.objects.get)(id=call.id)
    assert receiver.seen == [] and "refused" in call.last_error
    assert call.state == "gave up" and call.attempts == 1, "past the bounded time: no more tries"


@pytest.mark.django_db
def test_the_next_look_for_due_calls_is_at_the_soonest_retry_or_claims_end_and_at_most_the_cap():
    ann = User.objects.create_user("ann")
    assert callbacks.seconds_to_next_due(5.0) == 5.0, "nothing waits: the cap"
    call = ended_job(ann, "http://hooks.example/a")
    assert callbacks.seconds_to_next_due(5.0) == 0.0, "due now"
    soon = timezone.now() + timedelta(seconds=2)
    WebhookCall.objects.filter(id=call.id).update(next_at=soon, claimed_until=soon + timedelta(seconds=1))
    assert 2.5 < callbacks.seconds_to_next_due(5.0) <= 3.0, "a claim outlasting the retry: its end"
    WebhookCall.objects.filter(id=call.id).update(claimed_until=None)
    assert 1.5 < callbacks.seconds_to_next_due(5.0) <= 2.0
    WebhookCall.objects.filter(id=call.id).update(delivered_at=timezone.now())
    running = ended_job(ann, "http://hooks.example/b")
    Job.objects.filter(id=running.job_id).update(status=JobStatus.RUNNING)
    assert callbacks.seconds_to_next_due(5.0) == 5.0, "delivered, and a job not ended: neither waits"


@pytest.mark.django_db(transaction=True)
async def test_an_idle_relay_looks_for_webhooks_seldom_and_at_once_after_a_job_ends(settings, monkeypatch):
    import asyncio

    from jobs.relay import loop

    settings.COMFYWEB_WEBHOOK_ALLOW = ["127.0.0.1/32"]
    looks = []
    real = callbacks.claim_due
    monkeypatch.setattr(callbacks, "claim_due", lambda: looks.append(1) or real())
    relay = loop.Relay(poll_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(1.6)
        assert len(looks) <= 2, f"{len(looks)} looks in 1.6 s with nothing due (one every 0.5 s before)"
        ann = await sync_to_async(User.objects.create_user)("ann")
        async with Receiver([200]) as receiver:
            await sync_to_async(ended_job)(ann, f"{receiver.url}/hook")
            relay._prompt_ended()  # as a watcher reports a prompt's end
            for _ in range(40):
                if receiver.seen:
                    break
                await asyncio.sleep(0.05)
            assert len(receiver.seen) == 1, "called within two seconds of the job's end"
    finally:
        stop.set()
        await task
