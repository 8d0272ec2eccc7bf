"""Node info as GET /object_info reports it.

The entries of the real nodes are copied from trace 10 (ComfyUI 0.3.64); only LoadImage's
file list is filled in at request time. The Stable Diffusion nodes are in object_info_sd, their
model lists filled from the instance's model set; the media nodes are in object_info_media, the
lists of LoadImageMask, LoadVideo and LoadAudio filled from the input folder. SimSampler is the
simulator's own node, shaped like the trace's TraceProbeSlow test node.
"""

from __future__ import annotations

import copy
from typing import Any

from simulator.files import Storage
from simulator.models import ModelSet
from simulator.object_info_media import MEDIA_NODE_INFO
from simulator.object_info_sd import SD_NODE_INFO

REAL_NODES: dict[str, dict[str, Any]] = {
    "LoadImage": {
        "input": {"required": {"image": [[], {"image_upload": True}]}},
        "input_order": {"required": ["image"]},
        "output": ["IMAGE", "MASK"],
        "output_is_list": [False, False],
        "output_name": ["IMAGE", "MASK"],
        "name": "LoadImage",
        "display_name": "Load Image",
        "description": "",
        "python_module": "nodes",
        "category": "image",
        "output_node": False,
    },
    "ImageInvert": {
        "input": {"required": {"image": ["IMAGE"]}},
        "input_order": {"required": ["image"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "name": "ImageInvert",
        "display_name": "Invert Image",
        "description": "",
        "python_module": "nodes",
        "category": "image",
        "output_node": False,
    },
    "ImageBlur": {
        "input": {
            "required": {
                "image": ["IMAGE", {}],
                "blur_radius": ["INT", {"default": 1, "min": 1, "max": 31, "step": 1}],
                "sigma": ["FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.1}],
            }
        },
        "input_order": {"required": ["image", "blur_radius", "sigma"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "output_tooltips": [None],
        "name": "ImageBlur",
        "display_name": None,
        "description": "",
        "python_module": "comfy_extras.nodes_post_processing",
        "category": "image/postprocessing",
        "output_node": False,
        "deprecated": False,
        "experimental": False,
        "api_node": False,
    },
    "ImageScaleBy": {
        "input": {
            "required": {
                "image": ["IMAGE"],
                "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]],
                "scale_by": ["FLOAT", {"default": 1.0, "min": 0.01, "max": 8.0, "step": 0.01}],
            }
        },
        "input_order": {"required": ["image", "upscale_method", "scale_by"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "name": "ImageScaleBy",
        "display_name": "Upscale Image By",
        "description": "",
        "python_module": "nodes",
        "category": "image/upscaling",
        "output_node": False,
    },
    "ImageScale": {
        "input": {
            "required": {
                "image": ["IMAGE"],
                "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]],
                "width": ["INT", {"default": 512, "min": 0, "max": 16384, "step": 1}],
                "height": ["INT", {"default": 512, "min": 0, "max": 16384, "step": 1}],
                "crop": [["disabled", "center"]],
            }
        },
        "input_order": {"required": ["image", "upscale_method", "width", "height", "crop"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "name": "ImageScale",
        "display_name": "Upscale Image",
        "description": "",
        "python_module": "nodes",
        "category": "image/upscaling",
        "output_node": False,
    },
    "SaveImage": {
        "input": {
            "required": {
                "images": ["IMAGE", {"tooltip": "The images to save."}],
                "filename_prefix": [
                    "STRING",
                    {
                        "default": "ComfyUI",
                        "tooltip": "The prefix for the file "
                        "to save. This may "
                        "include formatting "
                        "information such as "
                        "%date:yyyy-MM-dd% or "
                        "%Empty Latent "
                        "Image.width% to include "
                        "values from nodes.",
                    },
                ],
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        },
        "input_order": {
            "required": ["images", "filename_prefix"],
            "hidden": ["prompt", "extra_pnginfo"],
        },
        "output": [],
        "output_is_list": [],
        "output_name": [],
        "name": "SaveImage",
        "display_name": "Save Image",
        "description": "Saves the input images to your ComfyUI output directory.",
        "python_module": "nodes",
        "category": "image",
        "output_node": True,
    },
    "PreviewImage": {
        "input": {
            "required": {"images": ["IMAGE"]},
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        },
        "input_order": {"required": ["images"], "hidden": ["prompt", "extra_pnginfo"]},
        "output": [],
        "output_is_list": [],
        "output_name": [],
        "name": "PreviewImage",
        "display_name": "Preview Image",
        "description": "Saves the input images to your ComfyUI output directory.",
        "python_module": "nodes",
        "category": "image",
        "output_node": True,
    },
    "EmptyImage": {
        "input": {
            "required": {
                "width": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}],
                "height": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}],
                "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
                "color": [
                    "INT",
                    {"default": 0, "min": 0, "max": 16777215, "step": 1, "display": "color"},
                ],
            }
        },
        "input_order": {"required": ["width", "height", "batch_size", "color"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "name": "EmptyImage",
        "display_name": "EmptyImage",
        "description": "",
        "python_module": "nodes",
        "category": "image",
        "output_node": False,
    },
    "ImageToMask": {
        "input": {"required": {"image": ["IMAGE"], "channel": [["red", "green", "blue", "alpha"]]}},
        "input_order": {"required": ["image", "channel"]},
        "output": ["MASK"],
        "output_is_list": [False],
        "output_name": ["MASK"],
        "name": "ImageToMask",
        "display_name": "Convert Image to Mask",
        "description": "",
        "python_module": "comfy_extras.nodes_mask",
        "category": "mask",
        "output_node": False,
    },
    "MaskToImage": {
        "input": {"required": {"mask": ["MASK"]}},
        "input_order": {"required": ["mask"]},
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "name": "MaskToImage",
        "display_name": "Convert Mask to Image",
        "description": "",
        "python_module": "comfy_extras.nodes_mask",
        "category": "mask",
        "output_node": False,
    },
}

SIM_SAMPLER: dict[str, Any] = {
    "input": {
        "required": {
            "image": ["IMAGE"],
            "steps": ["INT", {"default": 8, "min": 1, "max": 200}],
            "seconds_per_step": ["FLOAT", {"default": 0.05, "min": 0.0, "max": 60.0, "step": 0.01}],
        },
        "optional": {"preview": ["BOOLEAN", {"default": True}]},
    },
    "input_order": {"required": ["image", "steps", "seconds_per_step"], "optional": ["preview"]},
    "output": ["IMAGE"],
    "output_is_list": [False],
    "output_name": ["IMAGE"],
    "name": "SimSampler",
    "display_name": "Simulated Sampler (progress + previews)",
    "description": "Sleeps per step, reports progress and previews, returns the image unchanged.",
    "python_module": "custom_nodes.simulator",
    "category": "testing",
    "output_node": False,
}


# Inputs that list model files: node -> input -> folder (VAELoader's list is vae_list()).
MODEL_INPUTS: dict[str, dict[str, str]] = {
    "CheckpointLoaderSimple": {"ckpt_name": "checkpoints"},
    "LoraLoader": {"lora_name": "loras"},
    "LoraLoaderModelOnly": {"lora_name": "loras"},
    "VAELoader": {"vae_name": "vae"},
    "UNETLoader": {"unet_name": "diffusion_models"},
    "CLIPLoader": {"clip_name": "text_encoders"},
    "DualCLIPLoader": {"clip_name1": "text_encoders", "clip_name2": "text_encoders"},
    "ControlNetLoader": {"control_net_name": "controlnet"},
    "CLIPVisionLoader": {"clip_name": "clip_vision"},
    "UpscaleModelLoader": {"model_name": "upscale_models"},
}


def _table(class_type: str) -> dict[str, Any]:
    if class_type == "SimSampler":
        return SIM_SAMPLER
    return REAL_NODES.get(class_type) or SD_NODE_INFO.get(class_type) or MEDIA_NODE_INFO[class_type]


# Inputs that list files of the input folder: node -> (input, MIME main types; None: all files).
INPUT_FILE_LISTS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "LoadImageMask": ("image", None),
    "LoadVideo": ("file", ("video",)),
    "LoadAudio": ("audio", ("audio", "video")),
}


def node_info(
    class_type: str,
    input_files: list[str],
    models: ModelSet | None = None,
    storage: Storage | None = None,
) -> dict[str, Any]:
    """One entry of /object_info; a copy, so callers may not alter the table.

    ``input_files`` is LoadImage's list; ``storage`` gives the other nodes' input file lists."""
    info = copy.deepcopy(_table(class_type))
    if class_type == "LoadImage":
        info["input"]["required"]["image"][0] = list(input_files)
    if class_type in INPUT_FILE_LISTS and storage is not None:
        name, kinds = INPUT_FILE_LISTS[class_type]
        spec = info["input"]["required"][name]
        if spec[0] == "COMBO":
            spec[1]["options"] = storage.input_files(kinds)
        else:
            spec[0] = storage.input_files(kinds)
    models = models or ModelSet()
    for name, folder in MODEL_INPUTS.get(class_type, {}).items():
        files = models.vae_list() if class_type == "VAELoader" else models.files(folder)
        spec = info["input"]["required"][name]
        if spec[0] == "COMBO":  # V3 Combo.Input: ["COMBO", {"multiselect": False, "options": [...]}]
            spec[1]["options"] = files
        else:  # classic: [[files...], {tooltip}]
            spec[0] = files
    return info


def input_types(class_type: str, models: ModelSet | None = None) -> dict[str, Any]:
    """The `input` part, as INPUT_TYPES() would return it (used by validation)."""
    return node_info(class_type, [], models)["input"]
