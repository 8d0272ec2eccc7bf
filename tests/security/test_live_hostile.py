"""A hostile batch against real Daphne and simulators, then a normal `invert` still succeeds.

The same client paths a browser uses (tests/clients.py, as tests/integration does): the
process must answer every hostile request and frame and stay fit for ordinary work.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
import websockets
from PIL import Image

from tests.clients import Browser, follow_until_done, submit_on_socket
from tests.factories import png_bytes
from tests.live import LiveApp, live_app

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("security-live")]

MAX_UPLOAD = 200_000


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    env = {
        "COMFYWEB_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "COMFYWEB_SUBMIT_BURST": "3",
        "COMFYWEB_SUBMIT_RATE": "0.5",
    }
    with live_app(tmp_path_factory.mktemp("live-hostile"), simulators=1, env=env) as running:
        yield running


def json_error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/json"), answer.text[:300]
    return answer.json()["error"]["code"]


def hostile_http(owner: Browser, stranger: Browser) -> None:
    assert json_error(owner.http.get("/api/no/such/thing/"), 404) == "not_found"
    assert json_error(owner.request("PUT", "/api/jobs/"), 405)
    assert json_error(owner.post("/api/jobs/", content=b"{not json"), 400)
    assert json_error(owner.post("/api/jobs/", content=b"[" * 50_000), 400)
    too_big = b"x" * (MAX_UPLOAD + 1024 * 1024 + 1)
    assert json_error(owner.post("/api/jobs/", content=too_big), 413) == "request_too_large"
    assert json_error(owner.http.post("/api/jobs/", json={"tab": str(uuid.uuid4())}), 403) == "csrf_failed"
    fake = ("x.png", b"<svg onload=alert(1)>", "image/png")
    assert json_error(owner.post("/api/uploads/", files={"file": fake}), 400) == "invalid_upload"
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")
    bomb_file = ("../../bomb.png", bomb.getvalue(), "image/png")
    assert json_error(owner.post("/api/uploads/", files={"file": bomb_file}), 413) == "upload_too_large"
    hostile = {"blur_radius": 10**100, "sigma": "NaN", "x": {"y": [1]}}
    body = {"tab": str(uuid.uuid4()), "workflow": "blur", "params": hostile}
    assert json_error(owner.post("/api/jobs/", json=body), 400) == "invalid_param"
    image = owner.upload(png_bytes())
    assert stranger.http.get(image["url"]).status_code == 404  # a file URL, not /api/: a page
    theirs = {"tab": str(uuid.uuid4()), "workflow": "invert", "params": {"image": image["id"]}}
    assert json_error(stranger.post("/api/jobs/", json=theirs), 400) == "invalid_param"
    assert json_error(stranger.http.get("/api/jobs/..%2F..%2Fetc%2Fpasswd/"), 404)


async def hostile_frames(owner: Browser, stranger: Browser, tab: str) -> None:
    with pytest.raises(websockets.InvalidStatus):
        await owner.tab_socket(str(uuid.uuid4()), origin="http://evil.example")
    socket = await owner.tab_socket(tab, max_size=None)
    assert json.loads(await socket.recv())["type"] == "tab.snapshot"
    refused = await stranger.tab_socket(tab, max_size=None)
    assert json.loads(await refused.recv())["code"] == "tab_taken"
    for frame in [b"\x00\xff", "not json", "[1]", '{"type": "job.explode"}', '{"a":' * 12_000]:
        await socket.send(frame)
        assert json.loads(await socket.recv())["type"] == "error"
    codes = []
    for _ in range(5):
        await socket.send(json.dumps({"type": "job.submit", "workflow": "nope"}))
        codes.append(json.loads(await socket.recv())["code"])
    assert codes == ["unknown_workflow"] * 3 + ["rate_limited"] * 2
    await socket.send("x" * (64 * 1024 + 1))
    assert json.loads(await socket.recv())["code"] == "message_too_large"
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009  # consumers.CLOSE_TOO_BIG
    huge = await owner.tab_socket(tab, max_size=None)
    await huge.recv()
    with pytest.raises(websockets.ConnectionClosed):
        await huge.send("x" * (1024 * 1024 + 1))  # over Daphne's own limit: it drops the connection
        await huge.recv()


async def test_after_a_hostile_batch_invert_still_succeeds(app: LiveApp) -> None:
    owner, stranger = Browser(app), Browser(app)
    tab = str(uuid.uuid4())
    hostile_http(owner, stranger)
    await hostile_frames(owner, stranger, tab)
    assert app.process.poll() is None, "the process is unharmed"

    image = png_bytes(colour=(10, 200, 30))
    upload = owner.upload(image)
    socket = await owner.tab_socket(tab, max_size=None)
    assert json.loads(await socket.recv())["type"] == "tab.snapshot"
    # A new socket has its own submission bucket (the limit is per socket).
    job = await submit_on_socket(socket, "invert", {"image": upload["id"]}, ref="ok")
    seen = await follow_until_done(socket, {job["id"]}, timeout=30)
    await socket.close()
    final = seen[-1]["job"]
    assert final["status"] == "succeeded", final
    (output,) = final["outputs"]
    result, original = owner.image(output["url"]), Image.open(io.BytesIO(image)).convert("RGB")
    assert all(
        abs(a + b - 255) <= 1 for a, b in zip(result.getpixel((1, 1)), original.getpixel((1, 1)), strict=True)
    )
    assert stranger.http.get(output["url"]).status_code == 404
    assert httpx.get(f"{app.url}/healthz").json()["ok"] is True
