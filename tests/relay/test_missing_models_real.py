"""Telling "this server lacks the model" from what a real ComfyUI 0.3.64 said
(tests/fixtures/comfyui/object_info/0.3.64.missing-models.json)."""

import json

from jobs.pool.inventory import parse_object_info
from jobs.relay.misplaced import in_execution_error, in_rejection, still_listed
from tests.paths import OBJECT_INFO

INVENTORY = parse_object_info(json.loads((OBJECT_INFO / "0.3.64.object_info.json").read_text()))
TRACE = json.loads((OBJECT_INFO / "0.3.64.missing-models.json").read_text())


def _answers():
    return [e for e in TRACE["events"] if e["dir"] == "http" and e["path"] == "/prompt"]


def _errors():
    return [
        e["msg"]["data"]
        for e in TRACE["events"]
        if e["dir"] == "ws" and e["msg"].get("type") == "execution_error"
    ]


def test_a_classic_loaders_400_names_the_missing_files_and_nothing_else_does():
    refused = [e["body"]["node_errors"] for e in _answers() if e["status"] == 400]
    assert in_rejection(refused[0], INVENTORY) == [
        ("CheckpointLoaderSimple.ckpt_name", "missing-model.safetensors")
    ]
    assert in_rejection(refused[1], INVENTORY) == [("LoraLoader.lora_name", "missing-lora.safetensors")]
    assert sorted(in_rejection(refused[2], INVENTORY)) == [
        ("CheckpointLoaderSimple.ckpt_name", "missing-model.safetensors"),
        ("LoraLoader.lora_name", "missing-lora.safetensors"),
    ]
    other = {
        "12": {
            "class_type": "ImageScaleBy",
            "errors": [
                {
                    "type": "value_not_in_list",
                    "extra_info": {"input_name": "upscale_method", "received_value": "nope"},
                }
            ],
        }
    }
    assert in_rejection(other, INVENTORY) == [], "a bad enumeration value is the graph's fault"


def test_a_v3_loaders_execution_error_names_the_missing_file_and_a_broken_file_does_not():
    missing, again, empty, text, checkpoint = _errors()[:5]
    assert in_execution_error(missing) == [("UpscaleModelLoader.model_name", "4x-UltraSharp.pth")]
    assert in_execution_error(again) == in_execution_error(missing)
    for broken in (empty, text, checkpoint):  # listed files that fail to load: the file's fault
        assert in_execution_error(broken) == [], broken["exception_type"]


def test_a_fresh_inventory_that_still_lists_the_file_makes_the_failure_count():
    assert still_listed(INVENTORY, [("UpscaleModelLoader.model_name", "broken-empty.pth")])
    assert not still_listed(INVENTORY, [("UpscaleModelLoader.model_name", "4x-UltraSharp.pth")])
    assert still_listed(INVENTORY, [("", "ink.safetensors")]), "no input named: any input counts"
    assert not still_listed(None, [("", "ink.safetensors")])
