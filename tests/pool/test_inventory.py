"""The inventory parser on both combo shapes; the real /object_info is in test_inventory_real."""

from jobs.pool.inventory import inventory_from_json, parse_object_info

INFO = {
    "CheckpointLoaderSimple": {
        "category": "loaders",
        "input": {"required": {"ckpt_name": [["sd15.safetensors", "sub/xl.safetensors"], {"tooltip": "…"}]}},
    },
    "UpscaleModelLoader": {
        "category": "loaders",
        "input": {
            "required": {"model_name": ["COMBO", {"options": ["4x-UltraSharp.pth"], "multiselect": 0}]}
        },
    },
    "CLIPLoader": {
        "category": "advanced/loaders",
        "input": {
            "required": {
                "clip_name": [["t5.safetensors"]],
                "type": [["stable_diffusion", "stable_cascade", "sd3"]],
            },
            "optional": {"device": [["default", "cpu"], {"advanced": True}]},
        },
    },
    "UNETLoader": {
        "category": "advanced/loaders",
        "input": {"required": {"unet_name": [[]], "weight_dtype": [["default", "fp8_e4m3fn"]]}},
    },
    "FancyVideoLoader": {
        "category": "loaders/video_models",
        "input": {"required": {"weights": [["fancy-v2.gguf"]], "mode": [["fast", "slow"]]}},
    },
    "LoadImage": {
        "category": "image",
        "input": {"required": {"image": [["a.png"], {"image_upload": 1}]}},
    },
    "LoadVideo": {
        "category": "loaders",
        "input": {"required": {"file": [["a.mp4"], {"video_upload": 1}]}},
    },
    "KSampler": {"category": "sampling", "input": {"required": {"sampler_name": [["euler", "dpmpp_2m"]]}}},
}


def test_model_files_come_from_loader_combos_of_both_shapes():
    inventory = parse_object_info(INFO)
    assert inventory.models == {
        "CheckpointLoaderSimple.ckpt_name": {"sd15.safetensors", "sub/xl.safetensors"},
        "UpscaleModelLoader.model_name": {"4x-UltraSharp.pth"},
        "CLIPLoader.clip_name": {"t5.safetensors"},
        "UNETLoader.unet_name": frozenset(),
        "FancyVideoLoader.weights": {"fancy-v2.gguf"},
    }
    assert inventory.node_classes == set(INFO)
    assert inventory.has_model("UpscaleModelLoader.model_name", "4x-UltraSharp.pth")
    assert not inventory.has_model("CheckpointLoaderSimple.ckpt_name", "4x-UltraSharp.pth")


def test_upload_combos_and_enumerations_are_not_models():
    files = parse_object_info(INFO).files()
    for not_a_model in ("a.png", "a.mp4", "stable_diffusion", "fp8_e4m3fn", "euler", "fast", "cpu"):
        assert not_a_model not in files


def test_the_stored_form_reads_back_and_none_means_never_read():
    inventory = parse_object_info(INFO)
    again = inventory_from_json(sorted(inventory.node_classes), inventory.models_json())
    assert again == inventory
    assert inventory_from_json(None, None) is None
    assert inventory_from_json(["KSampler"], None) is None, "classes read before models were: unknown"


def test_malformed_entries_are_skipped_not_fatal():
    odd = {"A": "not a dict", "B": {"category": "loaders", "input": {"required": {"x": "INT", "y": []}}}}
    assert parse_object_info(odd).models == {}
