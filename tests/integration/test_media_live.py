"""Every kind of result and input, end to end (issue M): Daphne and a simulator process, the
media demo workflows driven through the public API as an outside client would."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from tests import media_files
from tests.clients import Browser, follow_until_done
from tests.live import live_app

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("live")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with live_app(tmp_path_factory.mktemp("live-media"), simulators=1, sim_delay=0.02) as running:
        yield running


def _wait_for_workflows(browser: Browser, slugs: set[str]) -> None:
    """The demos are installed once the relay has read a simulator's node classes."""
    deadline = time.monotonic() + 30
    while True:
        listed = {w["slug"] for w in browser.http.get("/api/workflows/").json()["workflows"]}
        if slugs <= listed:
            return
        assert time.monotonic() < deadline, f"missing {slugs - listed}"
        time.sleep(0.2)


async def test_each_media_runs_and_comes_back_as_its_media(app):
    browser = Browser(app)
    runs = {
        "animate-demo": {"image": browser.upload(media_files.still())["id"]},
        "video-demo": {"image": browser.upload(media_files.still())["id"]},
        "audio-demo": {"audio": browser.upload(media_files.wav(seconds=1.0))["id"]},
        "text-demo": {"text": "a caption for the clip"},
        "video-to-animation-demo": {"video": browser.upload(media_files.mp4(count=8, fps=8))["id"]},
    }
    _wait_for_workflows(browser, set(runs))
    tab = str(uuid.uuid4())
    socket = await browser.tab_socket(tab)
    assert json.loads(await socket.recv())["type"] == "tab.snapshot"
    ids = {}
    for slug, params in runs.items():
        answer = browser.post("/api/jobs/", json={"tab": tab, "workflow": slug, "params": params})
        assert answer.status_code == 201, (slug, answer.text)
        ids[slug] = answer.json()["job"]["id"]
    await follow_until_done(socket, set(ids.values()), timeout=90)
    await socket.close()
    jobs = {slug: browser.http.get(f"/api/jobs/{job}/").json()["job"] for slug, job in ids.items()}
    for slug, job in jobs.items():
        assert job["status"] == "succeeded", (slug, job["error"])
    (animation,) = jobs["animate-demo"]["outputs"]
    assert (animation["media"], animation["content_type"]) == ("animated", "image/webp")
    assert animation["duration"] == pytest.approx(1.0)  # four frames at 4 fps
    (video,) = jobs["video-demo"]["outputs"]
    assert (video["media"], video["content_type"]) == ("video", "video/mp4")
    assert video["duration"] == pytest.approx(1.0, abs=0.1) and (video["width"], video["height"]) == (32, 24)
    (sound,) = jobs["audio-demo"]["outputs"]
    assert (sound["media"], sound["content_type"]) == ("audio", "audio/flac")
    assert sound["duration"] == pytest.approx(1.0, abs=0.05) and sound["width"] is None
    (text,) = jobs["text-demo"]["outputs"]
    assert (text["media"], text["text"]) == ("text", "a caption for the clip")
    assert browser.http.get(text["url"]).text == "a caption for the clip"
    (frames,) = jobs["video-to-animation-demo"]["outputs"]
    assert frames["media"] == "animated" and frames["duration"] == pytest.approx(2.0)  # 8 frames at 4 fps

    whole = browser.http.get(video["url"]).content
    assert len(whole) == video["size"]
    part = browser.http.get(video["url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole[10:20], "the player can seek"
    poster = browser.http.get(video["url"] + "?thumb=1")
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/webp"
    await asyncio.sleep(0)
