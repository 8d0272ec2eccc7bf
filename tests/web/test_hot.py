"""jobs.web.hot: a job's plain requests answered without Django's request stack, with the same
bytes and headers as Django's; every other request, and every error, left to Django."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async

from comfyweb.asgi import django_asgi_app
from comfyweb.http_handler import OneHopASGIHandler
from jobs.core.models import Job, Upload
from jobs.web import hot
from tests.factories import png_bytes
from tests.web.test_results_served import result

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "http://127.0.0.1:8000"
SAME = ("content-length",)  # values that differ with the ids in the body


class Browser:
    """One person's browser: a session from the page, then the API with its CSRF token,
    through the hot path (`hot`) or straight to Django (`django`)."""

    def __init__(self, base: str = HOST, django: Any = django_asgi_app) -> None:
        self.base = base
        self.hot = httpx.AsyncClient(transport=httpx.ASGITransport(app=hot.HotRoutes(django)), base_url=base)
        self.django = httpx.AsyncClient(transport=httpx.ASGITransport(app=django), base_url=base)

    async def open(self) -> Browser:
        page = await self.django.get("/")
        assert page.status_code == 200
        self.hot.cookies = self.django.cookies
        self.headers = {"X-CSRFToken": self.django.cookies["csrftoken"], "Origin": self.base}
        return self

    @property
    def session(self) -> str:
        return self.django.cookies["sessionid"]

    def upload(self, client: httpx.AsyncClient, data: bytes, **kwargs):
        files = {"file": ("in.png", data, "image/png")}
        return client.post(
            "/api/uploads/", files=files, headers=kwargs.pop("headers", self.headers), **kwargs
        )

    def submit(self, client: httpx.AsyncClient, body: object, headers: dict | None = None):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {**(self.headers if headers is None else headers), "Content-Type": "application/json"}
        return client.post("/api/jobs/", content=content, headers=headers)

    async def aclose(self) -> None:
        await self.hot.aclose()
        await self.django.aclose()


@pytest.fixture
async def browser():
    found = await Browser().open()
    yield found
    await found.aclose()


@pytest.fixture
def served(monkeypatch):
    """The routes the hot path answered itself."""
    seen: list[str] = []
    for name in ("_submit", "_upload", "_output"):
        route = getattr(hot, name)

        def counted(request, owner, route=route, name=name):
            answer = route(request, owner)
            if answer is not None:
                seen.append(name)
            return answer

        monkeypatch.setattr(hot, name, counted)
    return seen


def same_headers(one: httpx.Response, other: httpx.Response) -> None:
    assert [(k, v) for k, v in one.headers.items() if k not in SAME] == [
        (k, v) for k, v in other.headers.items() if k not in SAME
    ]


def without(answer: dict, *keys: str) -> dict:
    return {k: v for k, v in answer.items() if k not in keys}


async def test_an_upload_and_a_submission_answer_as_django_does(browser, served):
    ours, theirs = (
        await browser.upload(browser.hot, png_bytes(9, 7)),
        await browser.upload(browser.django, png_bytes(9, 8)),
    )
    assert served == ["_upload"]
    assert ours.status_code == theirs.status_code == 201
    same_headers(ours, theirs)
    assert without(ours.json(), "id", "url", "height", "size") == without(
        theirs.json(), "id", "url", "height", "size"
    )
    assert ours.json()["url"] == f"/files/uploads/{ours.json()['id']}/"

    tab = str(uuid.uuid4())
    body = {"tab": tab, "workflow": "invert", "params": {"image": ours.json()["id"]}}
    ours, theirs = await browser.submit(browser.hot, body), await browser.submit(browser.django, body)
    assert served == ["_upload", "_submit"]
    assert ours.status_code == theirs.status_code == 201
    same_headers(ours, theirs)
    mine, django = ours.json()["job"], theirs.json()["job"]
    assert list(mine) == list(django) and without(mine, "id", "created_at") == without(
        django, "id", "created_at"
    )
    stored = await sync_to_async(lambda: Job.objects.get(id=mine["id"]))()
    assert stored.session_key == browser.session and str(stored.tab_id) == tab and stored.status == "pending"


async def test_a_result_downloads_as_from_django(browser, served):
    output = await sync_to_async(result)(
        browser.session, "image", b"\x89PNG fake bytes", "png", content_type="image/png"
    )
    url = f"/files/outputs/{output.id}/"
    ours, theirs = await browser.hot.get(url), await browser.django.get(url)
    assert served == ["_output"]
    assert (
        ours.status_code == theirs.status_code == 200
        and ours.content == theirs.content == b"\x89PNG fake bytes"
    )
    same_headers(ours, theirs)
    assert ours.headers["content-length"] == theirs.headers["content-length"]
    # Someone else's, a range, a thumbnail: Django's answers.
    stranger = await Browser().open()
    try:
        assert (await stranger.hot.get(url)).status_code == 404
    finally:
        await stranger.aclose()
    part = await browser.hot.get(url, headers={"Range": "bytes=0-3"})
    assert part.status_code == 206 and part.content == b"\x89PNG"
    assert served == ["_output"]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no csrf token", 403, None),
        ("another origin", 403, None),
        ("not json", 400, "bad_request"),
        ("no tab", 400, "invalid_request"),
        ("unknown workflow", 400, "unknown_workflow"),
        ("no session", 401, None),
    ],
)
async def test_what_the_hot_path_does_not_take_gets_djangos_answer(browser, served, case, status, code):
    upload = (await browser.upload(browser.django, png_bytes())).json()["id"]
    body: object = {"tab": str(uuid.uuid4()), "workflow": "invert", "params": {"image": upload}}
    headers = dict(browser.headers)
    if case == "no csrf token":
        del headers["X-CSRFToken"]
    elif case == "another origin":
        headers["Origin"] = "http://evil.example"
    elif case == "not json":
        body = b"{not json"
    elif case == "no tab":
        body = {"workflow": "invert"}
    elif case == "unknown workflow":
        body = {**body, "workflow": "nope"}  # type: ignore[dict-item]
    elif case == "no session":
        browser.hot.cookies.delete("sessionid")
    ours = await browser.submit(browser.hot, body, headers)
    theirs = await browser.submit(browser.django, body, headers) if case != "no session" else ours
    assert served == []
    assert ours.status_code == theirs.status_code == status, ours.text
    if code:
        assert ours.json()["error"]["code"] == code
    assert await sync_to_async(Job.objects.count)() == 0, "an error changes nothing, and is not done twice"


async def test_a_token_and_accounts_mode_go_to_django(browser, served, settings):
    data = png_bytes()
    refused = await browser.upload(browser.hot, data, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    settings.COMFYWEB_ACCESS = "accounts"
    answer = await browser.upload(browser.hot, data)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "not_signed_in"
    assert served == [] and await sync_to_async(Upload.objects.count)() == 0


async def test_an_upload_django_refuses_is_refused_with_its_message(browser, served):
    answer = await browser.upload(browser.hot, b"not an image at all")
    assert served == []
    assert answer.status_code == 400 and answer.json()["error"]["code"] in (
        "invalid_upload",
        "unsupported_file",
    )


async def test_a_large_upload_goes_to_django_whole(browser, served, monkeypatch):
    data = png_bytes(64, 64)
    monkeypatch.setattr(hot, "BODY_LIMIT", len(data))  # with the form around it, more
    answer = await browser.upload(browser.hot, data)
    assert served == [] and answer.status_code == 201 and answer.json()["size"] == len(data)


async def test_a_body_over_the_limit_in_chunks_reaches_django_whole_and_a_client_that_left_gets_nothing(
    monkeypatch,
):
    monkeypatch.setattr(hot, "BODY_LIMIT", 10)
    heard: list[bytes] = []

    async def django(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        heard.append(body)

    def chunks(*messages):
        queue = list(messages)

        async def receive():
            return queue.pop(0)

        return receive

    scope = {"type": "http", "method": "POST", "path": "/api/jobs/", "headers": [], "query_string": b""}
    parts = [{"type": "http.request", "body": b"0123456789", "more_body": True} for _ in range(3)]
    parts[-1]["more_body"] = False
    await hot.HotRoutes(django)(scope, chunks(*parts), None)
    assert heard == [b"0123456789" * 3]
    left = [{"type": "http.request", "body": b"01", "more_body": True}, {"type": "http.disconnect"}]
    await hot.HotRoutes(django)(scope, chunks(*left), None)
    assert heard == [b"0123456789" * 3], "no answer for a client that left"


async def test_over_https_the_security_headers_are_djangos(settings, served):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    # Made after the settings: Django's middleware reads them when it is made.
    browser = await Browser("https://127.0.0.1:8000", OneHopASGIHandler()).open()
    try:
        ours, theirs = (
            await browser.upload(browser.hot, png_bytes()),
            await browser.upload(browser.django, png_bytes()),
        )
        assert served == ["_upload"] and ours.status_code == theirs.status_code == 201
        same_headers(ours, theirs)
        assert ours.headers["strict-transport-security"] == "max-age=3600; includeSubDomains"
    finally:
        await browser.aclose()


async def test_a_bug_is_a_json_500_as_from_django(browser, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("SECRET-INTERNAL-DETAIL")

    monkeypatch.setattr("jobs.core.service.submit_job", explode)
    body = {"tab": str(uuid.uuid4()), "workflow": "invert", "params": {}}
    ours, theirs = await browser.submit(browser.hot, body), await browser.submit(browser.django, body)
    assert ours.status_code == theirs.status_code == 500
    assert ours.json() == theirs.json() and "SECRET" not in ours.text
    same_headers(ours, theirs)


async def test_an_upload_without_its_csrf_token_or_from_another_site_is_refused(browser, served):
    for headers in ({"Origin": browser.base}, {**browser.headers, "Origin": "http://evil.example"}):
        answer = await browser.upload(browser.hot, png_bytes(), headers=headers)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "csrf_failed"
    assert served == [] and await sync_to_async(Upload.objects.count)() == 0


async def test_an_upload_is_sent_ahead_once_its_answer_went_out(monkeypatch):
    """jobs.core.handoff.answer_first: the send's work on the loop no longer delays the answer."""
    from jobs.core import handoff
    from tests.factories import make_server

    order: list[str] = []

    class Relay:
        def holds_every_server(self) -> bool:
            return True

        def prefetch(self, server_id, stored, sha256, data) -> None:
            order.append("sent ahead")

    await sync_to_async(make_server)()
    browser = await Browser().open()
    routes = hot.HotRoutes(django_asgi_app)
    monkeypatch.setattr(routes.django, "send_response", _noting_send_response(routes.django, order))
    browser.hot = httpx.AsyncClient(transport=httpx.ASGITransport(app=routes), base_url=HOST)
    browser.hot.cookies = browser.django.cookies
    relay = Relay()
    handoff.register(relay)
    try:
        answer = await browser.upload(browser.hot, png_bytes(5, 5))
    finally:
        handoff.unregister(relay)
        await browser.aclose()
    assert answer.status_code == 201
    assert order == ["answer", "sent ahead"]


def _noting_send_response(django, order):
    real = django.send_response

    async def send_response(response, send):
        await real(response, send)
        order.append("answer")

    return send_response
