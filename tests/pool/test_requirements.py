"""Requirements recorded from every exported workflow fixture, and one job's needs."""

import json

import pytest

from jobs.pool.requirements import needs_from_json, of_job, of_workflow
from tests.paths import WORKFLOWS

FIXTURES = sorted(WORKFLOWS.glob("*.api.json"))

EXPECTED = {
    "default-txt2img": {("CheckpointLoaderSimple.ckpt_name", "v1-5-pruned-emaonly-fp16.safetensors")},
    "img2img": {("CheckpointLoaderSimple.ckpt_name", "v1-5-pruned-emaonly-fp16.safetensors")},
    "inpaint": {("CheckpointLoaderSimple.ckpt_name", "512-inpainting-ema.safetensors")},
    "hiresfix-latent-2pass": {("CheckpointLoaderSimple.ckpt_name", "DreamShaper_8_pruned.safetensors")},
    "sdxl-base-refiner": {
        ("CheckpointLoaderSimple.ckpt_name", "sd_xl_base_1.0.safetensors"),
        ("CheckpointLoaderSimple.ckpt_name", "sd_xl_refiner_1.0.safetensors"),
    },
    "upscale-esrgan": {
        ("CheckpointLoaderSimple.ckpt_name", "DreamShaper_8_pruned.safetensors"),
        ("UpscaleModelLoader.model_name", "RealESRGAN_x4plus.safetensors"),
    },
    "video-wan21-i2v": {
        ("UNETLoader.unet_name", "wan2.1_i2v_480p_14B_fp16.safetensors"),
        ("CLIPLoader.clip_name", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"),
        ("VAELoader.vae_name", "wan_2.1_vae.safetensors"),
        ("CLIPVisionLoader.clip_name", "clip_vision_h.safetensors"),
    },
    "hunyuan-video-t2v": {
        ("VAELoader.vae_name", "hunyuan_video_vae_bf16.safetensors"),
        ("DualCLIPLoader.clip_name1", "clip_l.safetensors"),
        ("DualCLIPLoader.clip_name2", "llava_llama3_fp8_scaled.safetensors"),
        ("UNETLoader.unet_name", "hunyuan_video_t2v_720p_bf16.safetensors"),
    },
    "core-invert": set(),
    "core-blur-scale": set(),
    "missing-custom-node": set(),
}


def _slug(path):
    return path.name.removesuffix(".api.json")


@pytest.mark.parametrize("path", FIXTURES, ids=_slug)
def test_every_exported_workflow_records_its_nodes_and_model_files(path):
    graph = json.loads(path.read_text())
    recorded = of_workflow(graph, [])
    assert set(recorded["nodes"]) == {node["class_type"] for node in graph.values() if "class_type" in node}
    pairs = {(m["key"], m["file"]) for m in recorded["models"]}
    for model in recorded["models"]:  # each names the input it came from, with its value
        assert graph[model["node"]]["inputs"][model["input"]] == model["file"]
        assert model["key"] == f"{graph[model['node']]['class_type']}.{model['input']}"
    if _slug(path) in EXPECTED:
        assert pairs == EXPECTED[_slug(path)]
    loaders = [n for n in graph.values() if "Loader" in n.get("class_type", "")]
    assert bool(pairs) == bool(loaders), "a graph with a loader needs a model file, and only then"


def test_a_parameter_bound_to_a_model_input_makes_the_chosen_file_the_jobs_need():
    graph = json.loads((WORKFLOWS / "default-txt2img.api.json").read_text())
    ckpt = next(i for i, n in graph.items() if n["class_type"] == "CheckpointLoaderSimple")
    params = [{"name": "model", "type": "choice", "node": ckpt, "input": "ckpt_name"}]
    recorded = of_workflow(graph, params)
    assert recorded["models"] == [] and recorded["param_models"] == {
        "model": "CheckpointLoaderSimple.ckpt_name"
    }
    needs = of_job(recorded, {"model": "flux1-dev.safetensors"})
    assert needs.models == {("CheckpointLoaderSimple.ckpt_name", "flux1-dev.safetensors")}
    assert needs_from_json(needs.to_json()) == needs


def test_an_input_some_server_lists_as_a_model_counts_even_for_an_unknown_loader():
    graph = {"1": {"class_type": "FancyLoader", "inputs": {"weights": "fancy.gguf", "strength": 1.0}}}
    assert of_workflow(graph, [])["models"] == []
    recorded = of_workflow(graph, [], known_keys={"FancyLoader.weights"})
    assert [(m["key"], m["file"]) for m in recorded["models"]] == [("FancyLoader.weights", "fancy.gguf")]
