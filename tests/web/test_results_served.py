"""Results served by media (issue M): ranges for players, text as text, posters, downloads
with useful names, and the gallery's media filter."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from jobs.core import storage
from jobs.core.models import Job, Output, Tab, Workflow
from jobs.web.ranges import Unsatisfiable, parse_range
from tests import media_files
from tests.security.clients import browser

pytestmark = pytest.mark.django_db


def result(session_key: str, media: str, data: bytes = b"", extension: str = "bin", **fields) -> Output:
    tab = Tab.objects.create(id=uuid.uuid4(), session_key=session_key)
    job = Job.objects.create(
        tab=tab, session_key=session_key, workflow=Workflow.objects.get(slug="invert"), status="succeeded"
    )
    name = storage.save_output(job.id, "9", 0, data, extension) if data else ""
    return Output.objects.create(
        job=job,
        node_id="9",
        index=0,
        file=name,
        filename=f"ComfyUI_00001_.{extension}",
        media=media,
        size=len(data),
        **fields,
    )


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize(
    ("header", "size", "wanted"),
    [
        ("", 10, None),
        ("bytes=0-3", 10, (0, 3)),
        ("bytes=4-", 10, (4, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=5-99", 10, (5, 9)),
        ("bytes=0-1,4-5", 10, None),
        ("items=0-3", 10, None),
    ],
)
def test_range_headers(header, size, wanted):
    assert parse_range(header, size) == wanted


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=20-30", "bytes=-0", "bytes=5-2"])
def test_ranges_past_the_end_are_unsatisfiable(header):
    with pytest.raises(Unsatisfiable):
        parse_range(header, 10)


def test_a_video_answers_ranges_and_has_a_poster_frame():
    client = browser()
    data = media_files.mp4(count=8)
    video = result(
        client.session.session_key, "video", data, "mp4", content_type="video/mp4", width=32, height=24
    )
    url = f"/files/outputs/{video.id}/"
    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes" and body(whole) == data
    tail = client.get(url, HTTP_RANGE="bytes=-100")
    assert tail.status_code == 206 and body(tail) == data[-100:]
    assert tail["Content-Range"] == f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}"
    past = client.get(url, HTTP_RANGE=f"bytes={len(data)}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{len(data)}"
    poster = client.get(url + "?thumb=1")
    assert poster.status_code == 200 and poster["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(body(poster))).size == (32, 24)
    download = client.get(url + "?download=1")
    name = f"invert_{str(video.job_id)[:8]}_9-0.mp4"
    assert download["Content-Disposition"] == f'attachment; filename="{name}"'
    assert download["Content-Type"] == "video/mp4"


def test_a_text_result_is_served_as_text_and_has_no_thumbnail():
    client = browser()
    text = result(
        client.session.session_key, "text", content_type="text/plain; charset=utf-8", text="a caption"
    )
    url = f"/files/outputs/{text.id}/"
    served = client.get(url)
    assert served["Content-Type"] == "text/plain; charset=utf-8" and served.content == b"a caption"
    assert client.get(url + "?thumb=1").status_code == 404
    audio = result(client.session.session_key, "audio", media_files.flac(), "flac", content_type="audio/flac")
    assert client.get(f"/files/outputs/{audio.id}/?thumb=1").status_code == 404


def test_the_gallery_filters_by_media():
    client = browser()
    key = client.session.session_key
    result(key, "video", media_files.mp4(), "mp4", content_type="video/mp4")
    result(key, "text", content_type="text/plain; charset=utf-8", text="a caption")
    page = client.get("/gallery/")
    assert [m for m, _ in page.context["media_choices"]] == ["video", "text"]
    assert {i["media"] for i in page.context["items"]} == {"video", "text"}
    only = client.get("/gallery/?media=text")
    assert [i["media"] for i in only.context["items"]] == ["text"] and only.context["filtered"]
    assert only.context["items"][0]["text"] == "a caption"
    unknown = client.get("/gallery/?media=evil")
    assert len(unknown.context["items"]) == 2, "an unknown media is no filter"


@pytest.mark.parametrize("size", [1000, 1024 * 1024 + 1])
def test_a_small_file_is_answered_whole_and_a_large_one_streams_with_the_same_headers(size):
    """Up to jobs.web.ranges.WHOLE_BYTES a result is read in the view (no hop per chunk)."""
    from jobs.web.ranges import WHOLE_BYTES

    client = browser()
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    picture = result(client.session.session_key, "image", data, "png", content_type="image/png")
    served = client.get(f"/files/outputs/{picture.id}/")
    assert served.streaming is (size > WHOLE_BYTES) and body(served) == data
    name = f"invert_{str(picture.job_id)[:8]}_9-0.png"
    assert (served["Content-Type"], served["Content-Length"], served["Accept-Ranges"]) == (
        "image/png",
        str(size),
        "bytes",
    )
    assert served["Content-Disposition"] == f'inline; filename="{name}"'
    download = client.get(f"/files/outputs/{picture.id}/?download=1")
    assert download["Content-Disposition"] == f'attachment; filename="{name}"'
