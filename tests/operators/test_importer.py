"""The workflow importer on every real export in tests/fixtures/comfyui/workflows/.

EXPECTED is workflows/README.md's "Params" line for each file: the image parameters, the
positive and negative prompts (told apart by the samplers' links, not by titles), the seeds,
and other inputs that must be among the ticked proposals.
"""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from jobs.core.workflows import build_prompt, clean_params
from jobs.operators import importer
from simulator.object_info import REAL_NODES
from tests.paths import WORKFLOWS

EXPECTED: dict[str, dict[str, list[str]]] = {
    "controlnet-scribble": {
        "image": ["11.image"],
        "positive": ["6.text"],
        "negative": ["7.text"],
        "seed": ["3.seed"],
        "also": [
            "34.low_threshold",
            "34.high_threshold",
            "32.strength",
            "3.steps",
            "3.cfg",
            "5.width",
            "5.height",
        ],
    },
    "core-blur-scale": {
        "image": ["1.image"],
        "also": ["2.blur_radius", "2.sigma", "3.scale_by", "3.upscale_method"],
    },
    "core-invert": {"image": ["1.image"]},
    "core-primitives": {"image": ["1.image"], "also": ["4.value", "2.sigma"]},
    "default-txt2img": {
        "positive": ["6.text"],
        "negative": ["7.text"],
        "seed": ["3.seed"],
        "also": ["3.steps", "3.cfg", "5.width", "5.height"],
    },
    "flux-schnell": {
        "positive": ["6.text"],
        "negative": ["33.text"],
        "seed": ["31.seed"],
        "also": ["31.steps", "27.width", "27.height"],
    },
    "hidream-e1-1-edit": {
        "image": ["13.image"],
        "positive": ["6.text"],
        "negative": ["7.text"],
        "seed": ["47.noise_seed"],
        "also": ["49.steps", "53.cfg_conds", "53.cfg_cond2_negative"],
    },
    "hiresfix-latent-2pass": {
        "positive": ["6.text"],
        "negative": ["7.text"],
        "seed": ["3.seed", "11.seed"],
        "also": ["3.steps", "11.steps", "11.denoise", "5.width", "5.height", "10.width", "10.height"],
    },
    "hunyuan-video-t2v": {
        "positive": ["44.text"],
        "seed": ["25.noise_seed"],
        "also": ["17.steps", "26.guidance", "45.width", "45.height", "45.length", "79.fps"],
    },
    "img2img": {
        "image": ["10.image"],
        "positive": ["6.text"],
        "negative": ["7.text"],
        "seed": ["3.seed"],
        "also": ["3.steps", "3.cfg", "3.denoise", "18.megapixels"],
    },
    "inpaint": {
        "image": ["20.image"],
        "positive": ["6.text"],
        "negative": ["7.text"],
        "seed": ["3.seed"],
        "also": ["3.steps", "3.cfg", "26.grow_mask_by"],
    },
    "qwen-controlnet-subgraph": {
        "image": ["71.image"],
        "positive": ["6.text"],
        "negative": ["7.text"],
        "seed": ["3.seed"],
        "also": ["3.steps", "3.cfg", "85.strength", "75.megapixels"],
    },
    "sdxl-base-refiner": {
        "positive": ["6.text", "15.text"],
        "negative": ["7.text", "16.text"],
        "seed": ["10.noise_seed"],  # 11.noise_seed is 0 with add_noise: disable
        "also": ["10.steps", "11.steps", "5.width", "5.height"],
    },
    "upscale-esrgan": {
        "positive": ["6.text"],
        "negative": ["7.text"],
        "seed": ["3.seed"],
        "also": ["3.steps", "3.cfg", "5.width", "5.height"],
    },
    "video-wan21-i2v": {
        "image": ["52.image"],
        "positive": ["6.text"],
        "negative": ["7.text"],
        "seed": ["3.seed"],
        "also": ["3.steps", "3.cfg", "50.width", "50.height", "50.length", "55.fps"],
    },
}
BROKEN = {"missing-custom-node": "Node 2 has no class_type: a custom node that is not installed?"}

FILES = sorted(WORKFLOWS.glob("*.api.json"))


def slug_of(path) -> str:
    return path.name.removesuffix(".api.json")


def where(param: dict) -> str:
    return f"{param['node']}.{param['input']}"


def test_every_shared_workflow_has_an_expectation():
    assert len(FILES) == 16, f"expected the sixteen exported workflows in {WORKFLOWS}"
    assert {slug_of(p) for p in FILES} == set(EXPECTED) | set(BROKEN)


@pytest.mark.parametrize("path", FILES, ids=slug_of)
def test_importer_proposes_what_the_readme_lists(path):
    slug = slug_of(path)
    if slug in BROKEN:
        with pytest.raises(importer.GraphError) as error:
            importer.analyze(path.read_bytes())
        assert error.value.problems == [BROKEN[slug]]
        return
    expected = EXPECTED[slug]
    analysis = importer.analyze(path.read_bytes())
    params = analysis.params
    by_kind = {
        "image": [where(p) for p in params if p["type"] == "image"],
        "positive": [where(p) for p in params if p["name"].startswith("positive")],
        "negative": [where(p) for p in params if p["name"].startswith("negative")],
        "seed": [where(p) for p in params if p["type"] == "seed"],
    }
    for kind in ("image", "positive", "negative", "seed"):
        assert sorted(by_kind[kind]) == sorted(expected.get(kind, [])), f"{slug}: {kind}"
    assert all(p["type"] == "text" for p in params if p["name"].startswith(("positive", "negative")))
    ticked = {where(p) for p in params}
    assert set(expected.get("also", [])) <= ticked, f"{slug}: missing {set(expected['also']) - ticked}"

    names = [p["name"] for p in params]
    assert len(names) == len(set(names)), f"{slug}: duplicate names {names}"
    assert importer.check_params(analysis.graph, params) == [], "the proposals are valid as they are"

    # The saved workflow works: defaults are accepted and bound into the graph.
    given = {p["name"]: str(uuid.uuid4()) for p in params if p["type"] == "image"}
    values = clean_params(params, given)
    uploaded = {name: f"upload-{name}.png" for name in given}
    prompt = build_prompt(analysis.graph, params, values, uploaded)
    for param in params:
        sent = prompt[param["node"]]["inputs"][param["input"]]
        assert sent == (uploaded[param["name"]] if param["type"] == "image" else values[param["name"]])


def load(slug: str) -> dict:
    return json.loads((WORKFLOWS / f"{slug}.api.json").read_text())


def proposal(analysis, node_input: str) -> importer.Proposal:
    return next(p for p in analysis.proposals if where(p.param) == node_input)


def test_same_titled_prompts_are_told_apart_by_the_sampler_links():
    graph = load("default-txt2img")
    assert importer.title_of(graph["6"]) == importer.title_of(graph["7"])
    analysis = importer.analyze(graph)
    assert proposal(analysis, "6.text").param["name"] == "positive"
    assert proposal(analysis, "7.text").param["name"] == "negative"
    # Swap the sampler's links: the roles follow the links, not the node ids or order.
    graph["3"]["inputs"]["positive"], graph["3"]["inputs"]["negative"] = ["7", 0], ["6", 0]
    swapped = importer.analyze(graph)
    assert proposal(swapped, "7.text").param["name"] == "positive"
    assert proposal(swapped, "6.text").param["name"] == "negative"


def test_prompts_behind_a_guider_and_a_conditioning_node_get_their_roles():
    # hidream: DualCFGGuider.cond1/cond2 come from InstructPixToPixConditioning outputs 0/1.
    assert importer.prompt_roles(load("hidream-e1-1-edit")) == {"6": "positive", "7": "negative"}
    # hunyuan: BasicGuider ← FluxGuidance ← the only encoder.
    assert importer.prompt_roles(load("hunyuan-video-t2v")) == {"44": "positive"}
    # wan: KSampler.positive is WanImageToVideo output 0, whose `positive` input is node 6.
    assert importer.prompt_roles(load("video-wan21-i2v")) == {"6": "positive", "7": "negative"}


def test_both_hiresfix_samplers_titled_ksampler_get_unique_names():
    analysis = importer.analyze(load("hiresfix-latent-2pass"))
    first, second = proposal(analysis, "3.seed"), proposal(analysis, "11.seed")
    assert first.title == second.title == "KSampler"
    assert first.param["name"] == "seed" and second.param["name"] == "seed_2"
    assert "node 11" in second.param["label"]
    assert proposal(analysis, "11.steps").param["name"] != proposal(analysis, "3.steps").param["name"]
    assert proposal(analysis, "11.denoise").param["default"] == 0.5
    assert not proposal(analysis, "3.denoise").include, "denoise 1 does nothing: proposed unticked"


def test_two_encoders_with_the_same_title_and_role_get_numbered_names():
    analysis = importer.analyze(load("sdxl-base-refiner"))
    names = {where(p.param): p.param["name"] for p in analysis.proposals if p.class_type == "CLIPTextEncode"}
    assert names == {
        "6.text": "positive",
        "15.text": "positive_2",
        "7.text": "negative",
        "16.text": "negative_2",
    }
    assert any("same text" in w for w in analysis.warnings), "the operator is told both hold the prompt"
    refiner_seed = proposal(analysis, "11.noise_seed")
    assert not refiner_seed.include and "no noise" in refiner_seed.note


def test_seeds_are_seed_params_with_the_frozen_value_as_default():
    analysis = importer.analyze(load("hidream-e1-1-edit"))
    seed = proposal(analysis, "47.noise_seed").param
    assert seed == {
        "name": "seed",
        "type": "seed",
        "node": "47",
        "input": "noise_seed",
        "label": "Seed",
        "default": 567500569211369,
    }


def test_float_noise_from_the_template_is_tidied_and_json_types_do_not_decide():
    analysis = importer.analyze(load("img2img"))
    assert proposal(analysis, "3.denoise").param["default"] == 0.87
    # megapixels is 1 in JSON (an int) but a FLOAT input: the table, not JSON, gives the type.
    megapixels = proposal(importer.analyze(load("hidream-e1-1-edit")), "45.megapixels").param
    assert megapixels["type"] == "float" and megapixels["default"] == 1.0


def test_a_primitive_node_value_is_the_parameter_not_the_linked_input():
    analysis = importer.analyze(load("core-primitives"))
    value = proposal(analysis, "4.value").param
    assert value["name"] == "blur_radius" and value["label"] == "Blur radius" and value["default"] == 3
    assert not any(where(p.param) == "2.blur_radius" for p in analysis.proposals), "a link is no parameter"


def test_bounds_and_choices_come_from_object_info_when_given():
    info = copy.deepcopy(REAL_NODES)
    info["ImageBlur"]["input"]["required"]["blur_radius"][1]["max"] = 99
    info["ImageScaleBy"]["input"]["required"]["upscale_method"] = [["nearest-exact", "lanczos"]]
    analysis = importer.analyze(load("core-blur-scale"), info, list(info), "sim")
    assert proposal(analysis, "2.blur_radius").param["max"] == 99
    assert proposal(analysis, "3.upscale_method").param["choices"] == ["nearest-exact", "lanczos"]
    assert analysis.missing == [] and analysis.warnings == []
    # Without object_info the built-in table gives ComfyUI's own bounds.
    table = importer.analyze(load("core-blur-scale"))
    radius = proposal(table, "2.blur_radius").param
    assert (radius["min"], radius["max"], radius["step"]) == (1, 31, 1)


def test_classes_a_server_lacks_are_named():
    analysis = importer.analyze(
        load("upscale-esrgan"), server_classes=["KSampler", "SaveImage"], server_name="gpu1"
    )
    assert "UpscaleModelLoader" in analysis.missing
    assert analysis.warnings[0].startswith("Server gpu1 lacks: ")
    assert "UpscaleModelLoader" in analysis.warnings[0] and "KSampler" not in analysis.warnings[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "This is not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "JSON object of node id"),
        (b"{}", "JSON object of node id"),
        (json.dumps({"nodes": [], "links": [], "version": 0.4}).encode(), "use Workflow → Export (API)"),
        (json.dumps({"workflow": {"nodes": [], "links": []}}).encode(), "editor format"),
    ],
)
def test_files_that_are_not_api_workflows_are_refused_clearly(data, message):
    with pytest.raises(importer.GraphError) as error:
        importer.parse(data)
    assert message in str(error.value)


def test_a_link_to_a_missing_node_is_named():
    graph = load("core-invert")
    graph["2"]["inputs"]["image"] = ["9", 0]
    with pytest.raises(importer.GraphError) as error:
        importer.validate(graph)
    assert error.value.problems == ["Node 2 input image links to node 9, which is missing."]


def test_a_graph_without_an_output_node_is_refused():
    graph = load("core-invert")
    del graph["3"]
    with pytest.raises(importer.GraphError) as error:
        importer.validate(graph)
    assert "no output node" in str(error.value)
    # An output node known only from /object_info counts.
    graph["3"] = {"class_type": "MyCustomSaver", "inputs": {"images": ["2", 0]}}
    importer.validate(graph, {"MyCustomSaver": {"output_node": True}})


def test_check_params_refuses_bad_edits():
    graph = load("core-blur-scale")
    good = {
        "name": "radius",
        "type": "int",
        "node": "2",
        "input": "blur_radius",
        "default": 3,
        "min": 1,
        "max": 31,
    }
    assert importer.check_params(graph, [good]) == []
    problems = importer.check_params(
        graph,
        [
            good,
            {**good, "input": "sigma"},  # same name twice
            {"name": "9lives", "type": "text", "node": "7", "input": "x"},
            {"name": "image", "type": "int", "node": "2", "input": "image"},  # a link
            {"name": "big", "type": "int", "node": "3", "input": "scale_by", "default": 50, "max": 8},
            {"name": "mode", "type": "choice", "node": "3", "input": "upscale_method"},
        ],
    )
    text = "\n".join(problems)
    assert "radius: two parameters have this name." in text
    assert "9lives: a name is letters" in text and "node 7 has no input x" in text
    assert "image: node 2 input image is a link" in text
    assert "default of big: must be at most 8" in text
    assert "mode: a choice needs choices." in text


def test_model_inputs_are_proposed_unticked_as_choices_of_the_pools_files():
    pool = importer.PoolModels(
        {
            "UpscaleModelLoader.model_name": frozenset({"RealESRGAN_x2.pth"}),
            "CheckpointLoaderSimple.ckpt_name": frozenset({"v1-5-pruned-emaonly-fp16.safetensors"}),
        }
    )
    analysis = importer.analyze(load("upscale-esrgan"), pool=pool)
    upscale = proposal(analysis, "13.model_name")
    assert not upscale.include and upscale.param["name"] == "upscale_model"
    assert upscale.param["label"] == "Upscale model"
    assert upscale.param["choices"] == ["RealESRGAN_x4plus.safetensors", "RealESRGAN_x2.pth"]
    assert upscale.param["default"] == "RealESRGAN_x4plus.safetensors"
    checkpoint = proposal(analysis, "4.ckpt_name").param
    assert checkpoint["choices"] == [
        "DreamShaper_8_pruned.safetensors",
        "v1-5-pruned-emaonly-fp16.safetensors",
    ]
    assert analysis.warnings == [
        f"{file} ({key}) is on no server yet: jobs of this workflow will be refused until a server has it."
        for file, key in [
            ("DreamShaper_8_pruned.safetensors", "CheckpointLoaderSimple.ckpt_name"),
            ("RealESRGAN_x4plus.safetensors", "UpscaleModelLoader.model_name"),
        ]
    ]
    # Ticked as they are, the proposals are valid parameters.
    assert importer.check_params(analysis.graph, [upscale.param, checkpoint]) == []


def test_two_loaders_of_one_kind_get_told_apart_and_each_missing_file_is_named_once():
    analysis = importer.analyze(load("sdxl-base-refiner"), pool=importer.PoolModels())
    names = {where(p.param): p.param["name"] for p in analysis.proposals if p.param["input"] == "ckpt_name"}
    assert names["4.ckpt_name"] == "checkpoint" and names["12.ckpt_name"] != "checkpoint"
    missing = [w.split(" ")[0] for w in analysis.warnings if "on no server" in w]
    assert missing == ["sd_xl_base_1.0.safetensors", "sd_xl_refiner_1.0.safetensors"]


def test_without_the_pools_files_nothing_is_said_of_models():
    analysis = importer.analyze(load("default-txt2img"))
    assert not any("on no server" in w for w in analysis.warnings)
    assert proposal(analysis, "4.ckpt_name").param["choices"] == ["v1-5-pruned-emaonly-fp16.safetensors"]


def test_an_input_a_server_lists_as_a_model_is_proposed_as_one():
    graph = load("core-invert")
    graph["9"] = {"class_type": "MyLoader", "inputs": {"weights": "mine.safetensors"}}
    pool = importer.PoolModels({"MyLoader.weights": frozenset({"mine.safetensors", "yours.safetensors"})})
    analysis = importer.analyze(graph, pool=pool)
    mine = proposal(analysis, "9.weights").param
    assert mine["type"] == "choice" and mine["choices"] == ["mine.safetensors", "yours.safetensors"]
    assert analysis.warnings == []


def test_video_audio_and_mask_loaders_become_upload_parameters():
    graph = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4"}},
        "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
        "3": {
            "class_type": "SaveAnimatedWEBP",
            "inputs": {
                "images": ["2", 0],
                "filename_prefix": "w",
                "fps": 8.0,
                "lossless": False,
                "quality": 80,
                "method": "default",
            },
        },
        "4": {"class_type": "LoadAudio", "inputs": {"audio": "tone.wav"}},
        "5": {"class_type": "SaveAudio", "inputs": {"audio": ["4", 0], "filename_prefix": "a"}},
        "6": {"class_type": "LoadImageMask", "inputs": {"image": "m.png", "channel": "alpha"}},
        "7": {"class_type": "MaskToImage", "inputs": {"mask": ["6", 0]}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "m"}},
    }
    analysis = importer.analyze(json.dumps(graph).encode())
    uploads = {
        p.param["name"]: (p.param["type"], p.param["node"], p.param["input"], p.include)
        for p in analysis.proposals
        if p.param["type"] in ("video", "audio", "mask")
    }
    assert uploads == {
        "video": ("video", "1", "file", True),
        "audio": ("audio", "4", "audio", True),
        "mask": ("mask", "6", "image", True),
    }
    assert not importer.check_params(graph, analysis.params)
