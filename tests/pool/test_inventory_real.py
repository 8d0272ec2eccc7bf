"""The inventory parser on what a real ComfyUI 0.3.64 listed (tests/fixtures/comfyui/
object_info: fake model files placed in its folders)."""

import json

from jobs.pool.inventory import parse_object_info
from tests.paths import OBJECT_INFO

INFO = json.loads((OBJECT_INFO / "0.3.64.object_info.json").read_text())
INVENTORY = parse_object_info(INFO)


def test_every_placed_model_file_is_found_under_its_loader_input():
    models = INVENTORY.models
    assert models["CheckpointLoaderSimple.ckpt_name"] == {
        "sd_xl_base_1.0.safetensors",
        "sub/nested.safetensors",
        "v1-5-pruned-emaonly-fp16.safetensors",
    }
    assert models["LoraLoader.lora_name"] == {"ink.safetensors"}
    assert models["LoraLoaderModelOnly.lora_name"] == {"ink.safetensors"}
    assert "ae.safetensors" in models["VAELoader.vae_name"]
    assert models["UNETLoader.unet_name"] == {"flux1-dev.safetensors"}
    assert models["CLIPLoader.clip_name"] == {"t5xxl_fp8.safetensors"}
    assert (
        models["DualCLIPLoader.clip_name1"]
        == models["DualCLIPLoader.clip_name2"]
        == {"t5xxl_fp8.safetensors"}
    )
    assert models["ControlNetLoader.control_net_name"] == {"control_scribble.safetensors"}
    assert models["CLIPVisionLoader.clip_name"] == {"clip_vision_g.safetensors"}
    # the V3 shape: ["COMBO", {"options": [...]}]
    assert models["UpscaleModelLoader.model_name"] == {"RealESRGAN_x2.pth", "broken-empty.pth"}
    assert models["QuadrupleCLIPLoader.clip_name1"] == {"t5xxl_fp8.safetensors"}
    assert len(INVENTORY.node_classes) == len(INFO)


def test_upload_lists_and_enumerations_of_loaders_are_not_model_files():
    keys = set(INVENTORY.models)
    for not_models in (
        "LoadImage.image",
        "LoadImageMask.image",
        "LoadVideo.file",
        "LoadAudio.audio",
        "Load3D.model_file",
        "CLIPLoader.type",
        "CLIPLoader.device",
        "DualCLIPLoader.type",
        "UNETLoader.weight_dtype",
    ):
        assert not_models not in keys, not_models
    files = INVENTORY.files()
    assert not files & {"stable_diffusion", "default", "fp8_e4m3fn", "cpu", "flux"}
