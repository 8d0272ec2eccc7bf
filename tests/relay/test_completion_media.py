"""Completion keeps every result of every output node, whatever key the server used, streamed
to storage with a size limit (issue M)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from channels.db import database_sync_to_async

from jobs.comfy import ComfyClient, HistoryEntry, OutputItem
from jobs.core import storage
from jobs.relay.completion import OutputRefused, fetched, store
from tests import media_files

pytestmark = pytest.mark.django_db(transaction=True)

# What a real ComfyUI 0.3.64 reported for LoadImage → RepeatImageBatch → SaveAnimatedWEBP,
# → CreateVideo → SaveVideo, and PrimitiveString → PreviewAny (issue M), plus the keys other
# nodes use: VideoHelperSuite's `gifs`, SaveAudio's `audio`, SaveGLB's `3d`, a key no one knows.
OUTPUTS = {
    "3": {
        "images": [{"filename": "ComfyUI_00001_.webp", "subfolder": "", "type": "output"}],
        "animated": [True],
    },
    "5": {
        "images": [{"filename": "ComfyUI_00001_.mp4", "subfolder": "video", "type": "output"}],
        "animated": [True],
    },
    "7": {"text": ["a caption for the clip"]},
    "8": {
        "gifs": [
            {
                "filename": "AnimateDiff_00001.mp4",
                "subfolder": "",
                "type": "output",
                "format": "video/h264-mp4",
            }
        ]
    },
    "9": {"audio": [{"filename": "ComfyUI_00001_.flac", "subfolder": "audio", "type": "output"}]},
    "10": {"3d": [{"filename": "mesh_00001_.glb", "subfolder": "3d", "type": "output"}]},
    "11": {
        "images": [{"filename": "still_00001_.png", "subfolder": "", "type": "temp"}],
        "future_key": [
            {"filename": "other_00001_.png", "subfolder": "", "type": "output"},
            "not a file",
            {"x": 1},
        ],
    },
}
FILES = {
    "ComfyUI_00001_.webp": media_files.animation("WEBP"),
    "ComfyUI_00001_.mp4": media_files.mp4(),
    "AnimateDiff_00001.mp4": media_files.mp4(count=4),
    "ComfyUI_00001_.flac": media_files.flac(),
    "mesh_00001_.glb": media_files.glb(),
    "still_00001_.png": media_files.still(),
    "other_00001_.png": media_files.still("JPEG"),
}


async def download(comfy: ComfyClient, job_id: uuid.UUID, entry: HistoryEntry):
    """Every result of the entry fetched and stored, as a completion does."""
    async with fetched(comfy, entry) as results:
        return await asyncio.to_thread(store, job_id, results)


def entry() -> HistoryEntry:
    return HistoryEntry("p", OUTPUTS, "success", True, [])


def client(files=FILES, seen=None) -> ComfyClient:
    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.params["filename"]
        if seen is not None:
            seen.append((name, request.url.params["subfolder"], request.url.params["type"]))
        return httpx.Response(200, content=files[name]) if name in files else httpx.Response(404)

    return ComfyClient("http://comfy.test:8188", transport=httpx.MockTransport(handler))


def test_every_key_of_every_node_is_a_result_and_indexes_run_across_a_nodes_keys():
    results = entry().results()
    assert [(r.node_id, r.index, r.key) for r in results] == [
        ("3", 0, "images"),
        ("5", 0, "images"),
        ("7", 0, "text"),
        ("8", 0, "gifs"),
        ("9", 0, "audio"),
        ("10", 0, "3d"),
        ("11", 0, "images"),
        ("11", 1, "future_key"),
    ]
    assert results[0].animated and results[1].animated and not results[6].animated
    assert results[2] == OutputItem("7", 0, "text", text="a caption for the clip")
    assert results[1].subfolder == "video" and results[6].type == "temp"


async def test_download_stores_each_file_with_the_media_its_bytes_say():
    seen: list = []
    async with client(seen=seen) as comfy:
        stored = await download(comfy, uuid.uuid4(), entry())
    got = {(s.node_id, s.index): s for s in stored}
    assert {k: s.media for k, s in got.items()} == {
        ("3", 0): "animated",
        ("5", 0): "video",
        ("7", 0): "text",
        ("8", 0): "video",
        ("9", 0): "audio",
        ("10", 0): "3d",
        ("11", 0): "image",
        ("11", 1): "image",
    }
    assert got[("5", 0)].content_type == "video/mp4" and got[("5", 0)].duration > 0
    assert (got[("5", 0)].width, got[("5", 0)].height) == (32, 24)
    assert got[("9", 0)].content_type == "audio/flac" and got[("11", 1)].content_type == "image/jpeg"
    assert got[("7", 0)].text == "a caption for the clip" and got[("7", 0)].file == ""
    assert got[("11", 0)].kind == "temp" and got[("5", 0)].kind == "output"
    assert ("ComfyUI_00001_.mp4", "video", "output") in seen, "fetched from its subfolder"
    for item in stored:
        if item.file:
            data = await database_sync_to_async(storage.read_bytes)(item.file)
            assert data == FILES[item.filename] and item.size == len(data)


async def test_a_result_over_the_size_limit_is_refused_naming_the_setting(settings):
    settings.COMFYWEB_MAX_OUTPUT_BYTES = 1000  # the MP4 is larger
    async with client() as comfy:
        with pytest.raises(OutputRefused) as refused:
            await download(comfy, uuid.uuid4(), entry())
    assert "COMFYWEB_MAX_OUTPUT_BYTES" in str(refused.value) and "ComfyUI_00001_.mp4" in str(refused.value)


async def test_the_limit_is_checked_while_streaming_and_nothing_of_the_file_is_kept(settings, tmp_path):
    big = media_files.still() * 500  # past the limit after the first chunks

    def chunks():
        for start in range(0, len(big), 1024):
            yield big[start : start + 1024]

    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        async def counted():
            for chunk in chunks():
                sent.append(len(chunk))
                yield chunk

        return httpx.Response(200, content=counted())

    settings.COMFYWEB_MAX_OUTPUT_BYTES = 4096
    one = HistoryEntry(
        "p", {"1": {"images": [{"filename": "big.png", "type": "output"}]}}, "success", True, []
    )
    async with ComfyClient("http://comfy.test:8188", transport=httpx.MockTransport(handler)) as comfy:
        with pytest.raises(OutputRefused):
            await download(comfy, uuid.uuid4(), one)
    assert sum(sent) < len(big), "it stopped reading at the limit"
    assert not list((settings.COMFYWEB_FILES_DIR).rglob("*_0.*")), "nothing half-stored"


def _running_job():
    from jobs.core import attempts, service
    from tests.factories import make_server, make_session, make_tab, make_upload

    make_server()
    owner = make_session()
    job, _ = service.submit_job(owner, make_tab(owner).id, "invert", {"image": str(make_upload(owner).id)})
    ticket, _ = attempts.start_attempt(job.id)
    return job.id, ticket.attempt


@pytest.mark.parametrize("held_in_memory", [True, False])
async def test_a_result_held_in_memory_is_stored_in_the_finish_trip_and_a_bigger_one_first(
    monkeypatch, held_in_memory
):
    """One trip to the database thread stores a picture and ends the job; a file spilled to
    disk (a long video) is stored in a worker thread first, never holding up that thread."""
    import tempfile

    from jobs.core.models import Job
    from jobs.relay import completion
    from jobs.relay.tracking import Tracked

    job_id, attempt = await database_sync_to_async(_running_job)()
    workers: list[object] = []
    to_thread = completion.asyncio.to_thread

    async def counted(fn, *args):
        workers.append(fn)
        return await to_thread(fn, *args)

    monkeypatch.setattr(completion.asyncio, "to_thread", counted)
    if not held_in_memory:
        monkeypatch.setattr(completion, "IN_MEMORY_BYTES", 16)
    picture = media_files.still()
    with tempfile.SpooledTemporaryFile() as part:
        part.write(picture)
        item = OutputItem("3", 0, "images", filename="ComfyUI_00001_.png", type="output")
        found = await completion._store_and_finish(
            Tracked(job_id, uuid.uuid4(), attempt, 3),
            [completion.Fetched(item, part, len(picture))],
            lambda: None,
        )
    assert workers == ([] if held_in_memory else [completion.store])
    job = await database_sync_to_async(Job.objects.prefetch_related("outputs").get)(id=job_id)
    assert job.status == "succeeded" and found, "ended, with its events"
    (output,) = await database_sync_to_async(lambda: list(job.outputs.all()))()
    assert await database_sync_to_async(storage.read_bytes)(output.file) == picture
