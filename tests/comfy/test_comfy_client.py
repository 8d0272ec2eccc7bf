"""ComfyClient against httpx.MockTransport, answering with bodies recorded from a
real ComfyUI (traces 01-10)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from jobs.comfy import (
    ComfyClient,
    ComfyHTTPError,
    ComfyUnavailable,
    NotFound,
    OutputImage,
    PromptRejected,
    ProtocolError,
    QueuedPrompt,
    UploadedImage,
)

BASE_URL = "http://comfy-1.test:8188"

INVERT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
}

J1 = "2091686d-aebf-481b-94f8-a5613045ad2a"
J2 = "8471cbf4-8af1-4db0-9972-9f85a93e2e76"
J3 = "b132b6cd-9d67-4ed8-9d9b-2322c57e9997"


def answer(status: int = 200, body: Any = None, text: str | None = None) -> Any:
    """A handler that always gives the same answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text)
        return httpx.Response(status, json=body)

    return handler


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


def form_field(request: httpx.Request, name: str) -> str | None:
    """The value of a multipart text field (enough parsing for small test bodies)."""
    marker = f'name="{name}"\r\n\r\n'.encode()
    content = request.content
    if marker not in content:
        return None
    return content.split(marker, 1)[1].split(b"\r\n", 1)[0].decode()


# -- construction ---------------------------------------------------------------


async def test_client_is_bound_to_its_base_url(make_client: Any) -> None:
    client, recorder = make_client(answer(body={"exec_info": {"queue_remaining": 0}}))
    await client.queue_remaining()
    assert client.base_url == BASE_URL
    assert str(recorder.last.url) == f"{BASE_URL}/prompt"


async def test_base_url_keeps_a_path_prefix() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={})

    async with ComfyClient("https://proxy.test/comfy/", transport=httpx.MockTransport(handler)) as client:
        assert client.base_url == "https://proxy.test/comfy"
        await client.features()
    assert seen == ["https://proxy.test/comfy/features"]


@pytest.mark.parametrize("url", ["ftp://x", "comfy-1:8188", "/relative"])
def test_base_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError):
        ComfyClient(url)


async def test_redirects_are_not_followed(make_client: Any) -> None:
    """A redirect could send an attempt to another server; it is an error instead."""
    client, recorder = make_client(
        lambda r: httpx.Response(307, headers={"location": "http://other.test/features"})
    )
    with pytest.raises(ComfyHTTPError) as info:
        await client.features()
    assert info.value.status == 307
    assert len(recorder.requests) == 1


async def test_context_manager_closes_the_http_client() -> None:
    async with ComfyClient(BASE_URL, transport=httpx.MockTransport(answer(body={}))) as client:
        await client.features()
    with pytest.raises(RuntimeError):
        await client.features()


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://comfy-1.test:8188", "ws://comfy-1.test:8188/ws?clientId=tab-1"),
        ("https://comfy.test/", "wss://comfy.test/ws?clientId=tab-1"),
        ("https://proxy.test/comfy", "wss://proxy.test/comfy/ws?clientId=tab-1"),
    ],
)
def test_ws_url(base: str, expected: str) -> None:
    assert ComfyClient(base).ws_url("tab-1") == expected


def test_ws_url_escapes_the_client_id() -> None:
    assert ComfyClient(BASE_URL).ws_url("a b&c") == f"ws{BASE_URL[4:]}/ws?clientId=a+b%26c"


# -- transport errors -------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
async def test_transport_failure_is_unavailable(make_client: Any, exc: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client, _ = make_client(handler)
    with pytest.raises(ComfyUnavailable) as info:
        await client.system_stats()
    assert info.value.server_url == BASE_URL
    assert info.value.status is None
    assert info.value.__cause__ is exc


async def test_5xx_is_unavailable_with_the_text_body(make_client: Any, traces: Any) -> None:
    """Trace 04: a non-JSON body to /prompt gets a text/plain 500."""
    event = traces.http("04-invalid-prompts.json", "POST", "/prompt", label="body not JSON")
    client, _ = make_client(lambda r: traces.replay(event))
    with pytest.raises(ComfyUnavailable) as info:
        await client.queue_prompt(INVERT, prompt_id="p", client_id="c")
    assert info.value.status == 500
    assert info.value.body_text.startswith("500 Internal Server Error")


async def test_non_json_answer_is_a_protocol_error(make_client: Any) -> None:
    client, _ = make_client(answer(text="<html>hello</html>"))
    with pytest.raises(ProtocolError) as info:
        await client.system_stats()
    assert info.value.server_url == BASE_URL


async def test_wrong_shape_is_a_protocol_error(make_client: Any) -> None:
    client, _ = make_client(answer(body={"exec_info": {}}))
    with pytest.raises(ProtocolError):
        await client.queue_remaining()


async def test_unexpected_4xx_keeps_status_and_body(make_client: Any) -> None:
    client, _ = make_client(answer(403, body={"detail": "nope"}))
    with pytest.raises(ComfyHTTPError) as info:
        await client.get_queue()
    assert (info.value.status, info.value.body) == (403, {"detail": "nope"})
    assert not isinstance(info.value, PromptRejected | NotFound)


# -- upload ------------------------------------------------------------------------


async def test_upload_sends_a_multipart_image(make_client: Any, traces: Any) -> None:
    event = traces.http("01-invert-success.json", "POST", "/upload/image")
    client, recorder = make_client(lambda r: traces.replay(event))
    uploaded = await client.upload_image(b"\x89PNG...", "trace-in-8f94ba.png")
    assert uploaded == UploadedImage(name="trace-in-8f94ba.png", subfolder="", type="input")
    assert uploaded.load_image_value == "trace-in-8f94ba.png"
    request = recorder.last
    assert request.url.path == "/upload/image"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="image"; filename="trace-in-8f94ba.png"' in request.content
    assert b"Content-Type: image/png" in request.content
    assert b"\x89PNG..." in request.content
    assert form_field(request, "overwrite") == "false"
    assert form_field(request, "type") == "input"


async def test_upload_uses_the_name_the_server_returns(make_client: Any, traces: Any) -> None:
    """Trace 01: same name, different bytes, no overwrite → the server renames."""
    renamed = next(
        e
        for e in traces.events("01-invert-success.json")
        if e["dir"] == "http" and e.get("body", {}) and "(1)" in str(e.get("body"))
    )
    client, _ = make_client(lambda r: traces.replay(renamed))
    uploaded = await client.upload_image(b"other bytes", "trace-in-8f94ba.png")
    assert uploaded.name == "trace-in-8f94ba (1).png"
    assert uploaded.load_image_value == "trace-in-8f94ba (1).png"


async def test_upload_into_a_subfolder_with_overwrite(make_client: Any, traces: Any) -> None:
    event = next(
        e
        for e in traces.events("01-invert-success.json")
        if e["dir"] == "http" and e.get("body", {}) and e["body"].get("subfolder") == "tracesub"
    )
    client, recorder = make_client(lambda r: traces.replay(event))
    uploaded = await client.upload_image(b"x", "trace-sub.png", subfolder="tracesub", overwrite=True)
    assert uploaded.load_image_value == "tracesub/trace-sub.png"
    assert form_field(recorder.last, "subfolder") == "tracesub"
    assert form_field(recorder.last, "overwrite") == "true"


async def test_upload_rejected_with_empty_body(make_client: Any, traces: Any) -> None:
    event = traces.http("01-invert-success.json", "POST", "/upload/image", label="no image field")
    client, _ = make_client(lambda r: traces.replay(event))
    with pytest.raises(ComfyHTTPError) as info:
        await client.upload_image(b"", "")
    assert (info.value.status, info.value.body, info.value.body_text) == (400, None, "")


# -- queue_prompt --------------------------------------------------------------------


async def test_queue_prompt_sends_our_ids(make_client: Any, traces: Any) -> None:
    event = traces.http("01-invert-success.json", "POST", "/prompt")
    client, recorder = make_client(lambda r: traces.replay(event))
    pid = "3036875e-a570-4c22-aa51-b4e65115b3ad"
    queued = await client.queue_prompt(INVERT, prompt_id=pid, client_id="tab-1")
    assert queued == QueuedPrompt(prompt_id=pid, number=19, node_errors={})
    assert not queued.partially_rejected
    assert sent_json(recorder.last) == {"prompt": INVERT, "prompt_id": pid, "client_id": "tab-1"}


async def test_queue_prompt_passes_extra_data_and_front(make_client: Any, traces: Any) -> None:
    event = traces.http("03-blur-scale-preview.json", "POST", "/prompt")
    client, recorder = make_client(lambda r: traces.replay(event))
    await client.queue_prompt(INVERT, prompt_id="p", client_id="c", extra_data={"note": "x"}, front=True)
    body = sent_json(recorder.last)
    assert body["extra_data"] == {"note": "x"}
    assert body["front"] is True


REJECTIONS = [
    ("unknown class_type", "invalid_prompt"),
    ("missing required input", "prompt_outputs_failed_validation"),
    ("value above max", "prompt_outputs_failed_validation"),
    ("wrong value type", "prompt_outputs_failed_validation"),
    ("LoadImage missing file", "prompt_outputs_failed_validation"),
    ("no output node", "prompt_no_outputs"),
    ("link to missing node", "prompt_outputs_failed_validation"),
    ("link output type mismatch (MASK->IMAGE)", "prompt_outputs_failed_validation"),
    ("node without class_type", "invalid_prompt"),
    ("no prompt key", "no_prompt"),
]


@pytest.mark.parametrize(("label", "error_type"), REJECTIONS)
async def test_400_is_prompt_rejected_with_the_servers_errors(
    make_client: Any, traces: Any, label: str, error_type: str
) -> None:
    event = traces.http("04-invalid-prompts.json", "POST", "/prompt", label=label)
    client, _ = make_client(lambda r: traces.replay(event))
    with pytest.raises(PromptRejected) as info:
        await client.queue_prompt(INVERT, prompt_id="p", client_id="c")
    rejected = info.value
    assert isinstance(rejected, ComfyHTTPError)
    assert rejected.status == 400
    assert rejected.error_type == error_type
    assert rejected.error == event["body"]["error"]
    assert rejected.node_errors == event["body"]["node_errors"]
    assert rejected.body == event["body"]
    assert rejected.server_url == BASE_URL
    summary = rejected.summary()
    assert summary and "\n\n" not in summary
    assert len(summary.splitlines()) == max(1, len(rejected.node_errors))


@pytest.mark.parametrize(
    ("label", "summary"),
    [
        (
            "unknown class_type",
            "Cannot execute because node NoSuchNode does not exist. (Node ID '#2')",
        ),
        ("missing required input", "node 2 (ImageInvert): Required input is missing: image"),
        ("value above max", "node 11 (ImageBlur): Value 999 bigger than max of 31: blur_radius"),
        (
            "LoadImage missing file",
            "node 1 (LoadImage): Custom validation failed for node: "
            "image - Invalid image file: does-not-exist.png",
        ),
        ("no output node", "Prompt has no outputs"),
        ("no prompt key", "No prompt provided"),
    ],
)
async def test_rejection_summary_reads_well(make_client: Any, traces: Any, label: str, summary: str) -> None:
    event = traces.http("04-invalid-prompts.json", "POST", "/prompt", label=label)
    client, _ = make_client(lambda r: traces.replay(event))
    with pytest.raises(PromptRejected) as info:
        await client.queue_prompt(INVERT, prompt_id="p", client_id="c")
    assert info.value.summary() == summary


async def test_rejection_summary_for_a_missing_model(make_client: Any, traces: Any) -> None:
    """The default txt2img workflow on a server without the checkpoint."""
    path = traces.directory.parent / "workflows" / "default-txt2img.prompt-response.json"
    recorded = json.loads(path.read_text())
    client, _ = make_client(answer(recorded["status"], body=recorded["body"]))
    with pytest.raises(PromptRejected) as info:
        await client.queue_prompt({}, prompt_id="p", client_id="c")
    assert info.value.summary() == (
        "node 4 (CheckpointLoaderSimple): Value not in list: "
        "ckpt_name: 'v1-5-pruned-emaonly-fp16.safetensors' not in []"
    )


@pytest.mark.parametrize("label", ["value not in list", "one good output + one bad output (partial)"])
async def test_partial_acceptance_returns_node_errors(make_client: Any, traces: Any, label: str) -> None:
    """Trace 04: 200 with node_errors — the failing outputs were dropped, the rest runs."""
    event = traces.http("04-invalid-prompts.json", "POST", "/prompt", label=label)
    client, _ = make_client(lambda r: traces.replay(event))
    queued = await client.queue_prompt(INVERT, prompt_id="p", client_id="c")
    assert queued.partially_rejected
    assert queued.node_errors == event["body"]["node_errors"]
    assert queued.prompt_id == event["body"]["prompt_id"]
    if label == "value not in list":
        assert queued.summary() == (
            "node 12 (ImageScaleBy): Value not in list: upscale_method: 'nope' not in "
            "['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']"
        )


async def test_400_without_a_json_error_is_a_plain_http_error(make_client: Any) -> None:
    client, _ = make_client(answer(400, text=""))
    with pytest.raises(ComfyHTTPError) as info:
        await client.queue_prompt(INVERT, prompt_id="p", client_id="c")
    assert not isinstance(info.value, PromptRejected)


# -- history ----------------------------------------------------------------------------


async def test_history_of_a_successful_job(make_client: Any, traces: Any) -> None:
    pid = "3036875e-a570-4c22-aa51-b4e65115b3ad"
    event = traces.http("01-invert-success.json", "GET", f"/history/{pid}")
    client, recorder = make_client(lambda r: traces.replay(event))
    entry = await client.get_history(pid)
    assert entry is not None
    assert recorder.last.url.path == f"/history/{pid}"
    assert (entry.prompt_id, entry.status_str, entry.completed) == (pid, "success", True)
    assert entry.outcome == "success"
    assert entry.error_message is None
    assert (entry.number, entry.client_id) == (19, "trace-client-A-933c9342")
    assert [kind for kind, _ in entry.messages] == [
        "execution_start",
        "execution_cached",
        "execution_success",
    ]
    assert entry.images() == [OutputImage("3", "invert_00003_.png", "trace", "output")]


async def test_history_lists_images_of_every_output_node_in_order(make_client: Any, traces: Any) -> None:
    event = traces.http("03-blur-scale-preview.json", "GET", "/history/*")
    client, _ = make_client(lambda r: traces.replay(event))
    entry = await client.get_history("7268df5a-6eec-4ccd-9aa2-79cc7e006517")
    assert entry is not None
    assert entry.images() == [
        OutputImage("13", "blurscale_00002_.png", "trace", "output"),
        OutputImage("14", "ComfyUI_temp_dcjyv_00001_.png", "", "temp"),
    ]


async def test_history_of_a_failed_job(make_client: Any, traces: Any) -> None:
    """Trace 05: the error is in messages and the ok branch's output is kept."""
    pid = "6bf7166e-890f-4b82-8131-3bd87b8da0b2"
    event = traces.http("05-execution-error.json", "GET", f"/history/{pid}")
    client, _ = make_client(lambda r: traces.replay(event))
    entry = await client.get_history(pid)
    assert entry is not None
    assert (entry.status_str, entry.completed, entry.outcome) == ("error", False, "error")
    assert entry.error_message is not None
    assert entry.error_message["node_type"] == "ImageToMask"
    assert entry.error_message["exception_type"] == "IndexError"
    assert entry.images() == [OutputImage("6", "err-ok-branch_00002_.png", "trace", "output")]


async def test_history_tells_interrupted_from_failed(make_client: Any, traces: Any) -> None:
    """Trace 07: same status_str/completed as a failure; only messages differ."""
    event = traces.http("07-interrupt-delete.json", "GET", f"/history/{J1}")
    client, _ = make_client(lambda r: traces.replay(event))
    entry = await client.get_history(J1)
    assert entry is not None
    assert (entry.status_str, entry.completed) == ("error", False)
    assert entry.outcome == "interrupted"
    assert entry.error_message is None
    assert entry.images() == []


async def test_history_of_an_unknown_or_unfinished_job_is_none(make_client: Any, traces: Any) -> None:
    event = traces.http("07-interrupt-delete.json", "GET", f"/history/{J3}")
    client, _ = make_client(lambda r: traces.replay(event))
    assert await client.get_history(J3) is None


async def test_history_escapes_the_prompt_id(make_client: Any) -> None:
    client, recorder = make_client(answer(body={}))
    await client.get_history("a/b?c")
    assert recorder.last.url.raw_path == b"/history/a%2Fb%3Fc"


async def test_history_for_another_prompt_is_a_protocol_error(make_client: Any) -> None:
    client, _ = make_client(answer(body={"someone-else": {"outputs": {}, "status": {}}}))
    with pytest.raises(ProtocolError):
        await client.get_history("mine")


async def test_history_all_with_max_items(make_client: Any, traces: Any) -> None:
    event = traces.http("10-routes.json", "GET", "/history?max_items=2")
    client, recorder = make_client(lambda r: traces.replay(event))
    entries = await client.get_history_all(max_items=2)
    assert recorder.last.url.params["max_items"] == "2"
    assert list(entries) == list(event["body"])
    assert all(entry.prompt_id == pid for pid, entry in entries.items())
    assert {entry.outcome for entry in entries.values()} == {"success"}


async def test_history_all_without_limit(make_client: Any) -> None:
    client, recorder = make_client(answer(body={}))
    assert await client.get_history_all() == {}
    assert "max_items" not in recorder.last.url.params


async def test_delete_history(make_client: Any, traces: Any) -> None:
    event = traces.http("10-routes.json", "POST", "/history")
    client, recorder = make_client(lambda r: traces.replay(event))
    await client.delete_history(["d48b4335"])
    assert sent_json(recorder.last) == {"delete": ["d48b4335"]}


# -- view -------------------------------------------------------------------------------


async def test_view_returns_the_raw_bytes(make_client: Any, input_png: bytes) -> None:
    client, recorder = make_client(
        lambda r: httpx.Response(200, headers={"content-type": "image/png"}, content=input_png)
    )
    data = await client.view("invert_00003_.png", "trace")
    assert data == input_png
    assert dict(recorder.last.url.params) == {
        "filename": "invert_00003_.png",
        "subfolder": "trace",
        "type": "output",
    }


async def test_view_input_type(make_client: Any) -> None:
    client, recorder = make_client(lambda r: httpx.Response(200, content=b"x"))
    await client.view("in.png", image_type="input")
    assert recorder.last.url.params["type"] == "input"
    assert recorder.last.url.params["subfolder"] == ""


async def test_view_missing_file_is_not_found(make_client: Any, traces: Any) -> None:
    event = traces.http("01-invert-success.json", "GET", "/view*", label="404 view")
    client, _ = make_client(lambda r: traces.replay(event))
    with pytest.raises(NotFound) as info:
        await client.view("does-not-exist.png")
    assert isinstance(info.value, ComfyHTTPError)
    assert (info.value.status, info.value.body_text) == (404, "")


# -- queue --------------------------------------------------------------------------------


async def test_get_queue_gives_prompt_ids(make_client: Any, traces: Any) -> None:
    event = traces.http("07-interrupt-delete.json", "GET", "/queue")
    client, _ = make_client(lambda r: traces.replay(event))
    queue = await client.get_queue()
    assert queue.running == [J1]
    assert queue.pending == [J2, J3]
    assert J3 in queue and "other" not in queue


async def test_get_queue_sorts_pending_by_number(make_client: Any) -> None:
    """The server sends its heap as stored; front=True numbers are negative."""
    body = {
        "queue_running": [],
        "queue_pending": [[5, "e", {}, {}, []], [-1, "front", {}, {}, []], [3, "c", {}, {}, []]],
    }
    client, _ = make_client(answer(body=body))
    assert (await client.get_queue()).pending == ["front", "c", "e"]


async def test_empty_queue(make_client: Any, traces: Any) -> None:
    event = traces.http("01-invert-success.json", "GET", "/queue")
    client, _ = make_client(lambda r: traces.replay(event))
    queue = await client.get_queue()
    assert (queue.running, queue.pending) == ([], [])


async def test_queue_remaining(make_client: Any, traces: Any) -> None:
    event = traces.http("01-invert-success.json", "GET", "/prompt")
    client, recorder = make_client(lambda r: traces.replay(event))
    assert await client.queue_remaining() == 0
    assert recorder.last.method == "GET"


async def test_targeted_interrupt_names_the_prompt(make_client: Any, traces: Any) -> None:
    event = traces.http("07-interrupt-delete.json", "POST", "/interrupt")
    client, recorder = make_client(lambda r: traces.replay(event))
    await client.interrupt(J1)
    assert sent_json(recorder.last) == {"prompt_id": J1}


async def test_global_interrupt_sends_an_empty_object(make_client: Any, traces: Any) -> None:
    event = traces.http("07-interrupt-delete.json", "POST", "/interrupt")
    client, recorder = make_client(lambda r: traces.replay(event))
    await client.interrupt()
    assert sent_json(recorder.last) == {}


async def test_delete_from_queue(make_client: Any, traces: Any) -> None:
    event = traces.http("07-interrupt-delete.json", "POST", "/queue")
    client, recorder = make_client(lambda r: traces.replay(event))
    await client.delete_from_queue([J3])
    assert recorder.last.url.path == "/queue"
    assert sent_json(recorder.last) == {"delete": [J3]}


# -- server info -------------------------------------------------------------------------


async def test_system_stats(make_client: Any, traces: Any) -> None:
    event = traces.http("10-routes.json", "GET", "/system_stats")
    client, _ = make_client(lambda r: traces.replay(event))
    stats = await client.system_stats()
    assert stats["system"]["comfyui_version"] == "0.3.64"


async def test_object_info_of_one_class(make_client: Any, traces: Any) -> None:
    event = traces.http("10-routes.json", "GET", "/object_info/ImageInvert")
    client, recorder = make_client(lambda r: traces.replay(event))
    info = await client.object_info("ImageInvert")
    assert recorder.last.url.path == "/object_info/ImageInvert"
    assert info["ImageInvert"]["output"] == ["IMAGE"]


async def test_object_info_of_an_unknown_class_is_empty(make_client: Any, traces: Any) -> None:
    event = traces.http("10-routes.json", "GET", "/object_info/NoSuchNode")
    client, _ = make_client(lambda r: traces.replay(event))
    assert await client.object_info("NoSuchNode") == {}


async def test_object_info_of_everything(make_client: Any, traces: Any) -> None:
    # The trace stores only a summary of this large body.
    entries = traces.http("10-routes.json", "GET", "/object_info")["body_summary"]["entries"]
    client, recorder = make_client(answer(body=entries))
    info = await client.object_info()
    assert recorder.last.url.path == "/object_info"
    assert info["LoadImage"]["input"]["required"]["image"][0] == ["trace-in-fd31e7.png"]


async def test_features(make_client: Any, traces: Any) -> None:
    event = traces.http("10-routes.json", "GET", "/features")
    client, _ = make_client(lambda r: traces.replay(event))
    assert (await client.features())["supports_preview_metadata"] is True
