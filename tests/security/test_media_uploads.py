"""Video and audio inputs (issue M): decoded whole and limited like images, refused clearly."""

from __future__ import annotations

import pytest

from jobs.core.models import Upload, Workflow
from tests import media_files
from tests.security.clients import browser, error_of, post, upload
from tests.security.test_uploads import stored_files

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("data", "name", "media", "content_type"),
    [
        (media_files.mp4(count=8), "clip.mp4", "video", "video/mp4"),
        (media_files.flac(seconds=1.0), "tone.flac", "audio", "audio/flac"),
        (media_files.wav(seconds=1.0), "tone.wav", "audio", "audio/wav"),
    ],
    ids=["mp4", "flac", "wav"],  # the bytes differ between runs: ids name them (xdist compares)
)
def test_a_video_or_a_sound_is_accepted_with_its_figures(data, name, media, content_type):
    client = browser()
    answer = upload(client, data, name="renamed.png", content_type="image/png")  # the bytes decide
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["media"], body["content_type"]) == (media, content_type)
    assert body["duration"] == pytest.approx(1.0, abs=0.15) and body["size"] == len(data)
    if media == "video":
        assert (body["width"], body["height"]) == (32, 24)
    else:
        assert body["width"] is None and body["height"] is None
    served = client.get(body["url"], HTTP_RANGE="bytes=0-99")
    assert served.status_code == 206 and served["Content-Range"] == f"bytes 0-99/{len(data)}"
    assert b"".join(served.streaming_content) == data[:100]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (media_files.mp4(count=40)[:1500], "cannot be read to its end"),  # cut short
        (media_files.flac(seconds=2.0)[:3000], "cannot be read to its end"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200, "cannot be read"),  # a header and nothing
    ],
    ids=["mp4-cut-short", "flac-cut-short", "mp4-header-only"],
)
def test_a_truncated_or_broken_video_or_sound_is_refused_and_writes_nothing(data, message):
    answer = upload(browser(), data, name="x.mp4")
    assert answer.status_code == 400 and error_of(answer)["code"] == "invalid_upload"
    assert message in error_of(answer)["message"]
    assert not Upload.objects.exists() and stored_files() == []


def test_too_long_a_video_is_413_naming_the_setting(settings):
    settings.COMFYWEB_MAX_UPLOAD_SECONDS = 0.5
    answer = upload(browser(), media_files.mp4(count=16, fps=8), name="long.mp4")
    assert answer.status_code == 413 and error_of(answer)["code"] == "upload_too_large"
    assert "COMFYWEB_MAX_UPLOAD_SECONDS" in error_of(answer)["message"]
    assert not Upload.objects.exists() and stored_files() == []


def test_too_many_pixels_a_frame_is_413(settings):
    settings.COMFYWEB_MAX_UPLOAD_PIXELS = 100
    answer = upload(browser(), media_files.mp4(size=(32, 24)), name="big.mp4")
    assert answer.status_code == 413 and "pixels a frame" in error_of(answer)["message"]


def test_a_parameter_takes_only_uploads_of_its_media():
    graph = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "x.mp4"}},
        "2": {"class_type": "SaveVideo", "inputs": {"video": ["1", 0], "filename_prefix": "v"}},
    }
    params = [{"name": "clip", "type": "video", "node": "1", "input": "file"}]
    Workflow.objects.create(slug="v2v", name="v2v", graph=graph, params=params)
    client = browser()
    picture = upload(client).json()["id"]
    clip = upload(client, media_files.mp4(), name="clip.mp4").json()["id"]
    body = {"tab": "6f1c1d3e-0000-4000-8000-000000000001", "workflow": "v2v", "params": {"clip": picture}}
    refused = post(client, "/api/jobs/", body)
    assert refused.status_code == 400 and error_of(refused)["field"] == "clip"
    assert error_of(refused)["message"] == "clip: needs a video, and this upload is an image."
    body["params"] = {"clip": clip}
    assert post(client, "/api/jobs/", body).status_code == 201
