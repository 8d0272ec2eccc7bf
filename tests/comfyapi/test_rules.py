"""The endpoint's rules as plain functions: graph checks, the pool's definitions, identity, ports."""

from __future__ import annotations

import json
import uuid

import pytest

from comfyweb.ports import PortRouter
from jobs.comfyapi.identity import ANONYMOUS, Caller, caller_of, tab_of
from jobs.comfyapi.info import pool_features, pool_stats
from jobs.core.comfy_files import rewrite_ui
from jobs.pool import graph_check, node_defs
from tests.comfyapi.conftest import INVERT
from tests.paths import REPO

OBJECT_INFO = json.loads((REPO / "tests/fixtures/comfyui/object_info/0.3.64.object_info.json").read_text())
DEFS = node_defs.definitions(OBJECT_INFO)


def test_a_graph_naming_the_callers_upload_passes_and_another_file_is_refused_as_comfyui_does():
    body, outputs = graph_check.check(INVERT, DEFS, {"comfyweb-fixture.png"})
    assert body is None and outputs == ["3"]
    body, _ = graph_check.check(INVERT, DEFS, set())
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert (
        body["node_errors"]["1"]["errors"][0]["details"] == "image - Invalid image file: comfyweb-fixture.png"
    )
    assert body["node_errors"]["1"]["dependent_outputs"] == ["3"]


def test_classes_types_links_and_outputs_are_checked():
    assert graph_check.check({"1": {"inputs": {}}}, DEFS)[0]["error"]["type"] == "invalid_prompt"
    no_output = {"1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}}}
    assert graph_check.check(no_output, DEFS)[0]["error"]["type"] == "prompt_no_outputs"
    wrong = {**INVERT, "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 1]}}}  # MASK into IMAGE
    errors = graph_check.check(wrong, DEFS, {"comfyweb-fixture.png"})[0]["node_errors"]["2"]["errors"]
    assert errors[0]["type"] == "return_type_mismatch"
    dangling = {**INVERT, "2": {"class_type": "ImageInvert", "inputs": {"image": ["9", 0]}}}
    found = graph_check.check(dangling, DEFS, {"comfyweb-fixture.png"})[0]["node_errors"]
    assert found["9"]["errors"][0]["type"] == "exception_during_inner_validation"
    missing = {**INVERT, "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}
    error = graph_check.check(missing, DEFS, {"comfyweb-fixture.png"})[0]["node_errors"]["3"]["errors"][0]
    assert error["type"] == "required_input_missing"
    typed = {
        **INVERT,
        "4": {
            "class_type": "EmptyImage",
            "inputs": {"width": "wide", "height": 8, "batch_size": 1, "color": 0},
        },
    }
    typed["5"] = {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "x"}}
    error = graph_check.check(typed, DEFS, {"comfyweb-fixture.png"})[0]["node_errors"]["4"]["errors"][0]
    assert error["type"] == "invalid_input_type"


def test_the_union_lists_every_servers_models_and_upload_combos_only_the_callers():
    one = {"Loader": {"input": {"required": {"ckpt_name": [["a.safetensors"], {}]}}, "output": ["MODEL"]}}
    two = {"Loader": {"input": {"required": {"ckpt_name": [["b.safetensors"], {}]}}, "output": ["MODEL"]}}
    merged = node_defs.union([one, two])
    assert merged["Loader"]["input"]["required"]["ckpt_name"][0] == ["a.safetensors", "b.safetensors"]
    assert DEFS["LoadImage"]["input"]["required"]["image"][0] == []  # the server's input files dropped
    shown = node_defs.with_uploads(DEFS, ["mine.png"])
    assert shown["LoadImage"]["input"]["required"]["image"] == [["mine.png"], {"image_upload": True}]
    assert DEFS["LoadImage"]["input"]["required"]["image"][0] == []  # not changed in place


def test_each_client_id_is_one_tab_of_its_owner_and_no_client_id_a_tab_of_its_own():
    caller = Caller(ANONYMOUS, "x")
    assert tab_of(caller, "a") == tab_of(caller, "a") != tab_of(caller, "b")
    assert tab_of(Caller("person:1", ""), "a") != tab_of(caller, "a")
    assert tab_of(caller, "") != tab_of(caller, "")


def test_the_caller_is_anonymous_only_when_the_setting_allows(settings):
    scope = {"headers": [(b"comfy-usage-source", b"krita-ai-diffusion"), (b"user-agent", b"curl")]}
    settings.COMFYWEB_COMFYUI_ANONYMOUS = True
    assert caller_of(scope) == Caller(ANONYMOUS, "krita-ai-diffusion")
    settings.COMFYWEB_COMFYUI_ANONYMOUS = False
    assert caller_of(scope) is None


@pytest.mark.parametrize(("port", "expected"), [(8288, "comfyui"), (8000, "main")])
def test_connections_are_routed_by_the_port_they_arrived_on(port, expected):
    router = PortRouter("main", "comfyui", 8288)
    assert router.app_for({"type": "http", "server": ("127.0.0.1", port)}) == expected
    assert PortRouter("main", "comfyui", None).app_for({"type": "http", "server": ("h", 8288)}) == "main"


def test_results_are_named_by_their_job_and_the_pool_is_described_as_one_server():
    job = uuid.uuid4()
    output = {"images": [{"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}], "x": [1]}
    assert rewrite_ui(output, job)["images"][0]["subfolder"] == str(job)
    stats = pool_stats(
        [
            {"system": {"comfyui_version": "0.3.64", "ram_total": 1}, "devices": [{"name": "a", "index": 0}]},
            {"system": {"comfyui_version": "0.4.0", "ram_total": 2}, "devices": [{"name": "b", "index": 0}]},
        ]
    )
    assert stats["system"]["comfyui_version"] == "0.3.64" and stats["system"]["ram_total"] == 3
    assert [d["index"] for d in stats["devices"]] == [0, 1]
    features = pool_features([["feature:a", "feature:b"], ["feature:a"]])
    assert features["a"] is True and "b" not in features
