"""The workflows a fresh database has (SPEC §6): ComfyUI core nodes that need no model files."""

from __future__ import annotations

from typing import Any

UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]


def _load(node: str = "1") -> dict[str, Any]:
    return {
        node: {
            "class_type": "LoadImage",
            "inputs": {"image": "example.png"},
            "_meta": {"title": "Load Image"},
        }
    }


def _save(node: str, source: str, prefix: str) -> dict[str, Any]:
    return {
        node: {
            "class_type": "SaveImage",
            "inputs": {"images": [source, 0], "filename_prefix": prefix},
            "_meta": {"title": "Save Image"},
        }
    }


IMAGE_PARAM = {"name": "image", "type": "image", "node": "1", "input": "image", "label": "Image"}

BUILTIN_WORKFLOWS: list[dict[str, Any]] = [
    {
        "slug": "invert",
        "name": "Invert colours",
        "description": "Inverts every colour of the image.",
        "graph": {
            **_load(),
            "2": {
                "class_type": "ImageInvert",
                "inputs": {"image": ["1", 0]},
                "_meta": {"title": "Invert Image"},
            },
            **_save("3", "2", "comfyweb/invert"),
        },
        "params": [IMAGE_PARAM],
    },
    {
        "slug": "blur",
        "name": "Gaussian blur",
        "description": "Blurs the image with a Gaussian kernel.",
        "graph": {
            **_load(),
            "2": {
                "class_type": "ImageBlur",
                "inputs": {"image": ["1", 0], "blur_radius": 4, "sigma": 2.0},
                "_meta": {"title": "Image Blur"},
            },
            **_save("3", "2", "comfyweb/blur"),
        },
        "params": [
            IMAGE_PARAM,
            {
                "name": "blur_radius",
                "type": "int",
                "node": "2",
                "input": "blur_radius",
                "label": "Blur radius",
                "default": 4,
                "min": 1,
                "max": 31,
                "step": 1,
            },
            {
                "name": "sigma",
                "type": "float",
                "node": "2",
                "input": "sigma",
                "label": "Sigma",
                "default": 2.0,
                "min": 0.1,
                "max": 10.0,
                "step": 0.1,
            },
        ],
    },
    {
        "slug": "upscale",
        "name": "Upscale",
        "description": "Scales the image by a factor.",
        "graph": {
            **_load(),
            "2": {
                "class_type": "ImageScaleBy",
                "inputs": {"image": ["1", 0], "upscale_method": "bicubic", "scale_by": 2.0},
                "_meta": {"title": "Upscale Image By"},
            },
            **_save("3", "2", "comfyweb/upscale"),
        },
        "params": [
            IMAGE_PARAM,
            {
                "name": "scale_by",
                "type": "float",
                "node": "2",
                "input": "scale_by",
                "label": "Scale by",
                "default": 2.0,
                "min": 0.01,
                "max": 8.0,
                "step": 0.01,
            },
            {
                "name": "upscale_method",
                "type": "choice",
                "node": "2",
                "input": "upscale_method",
                "label": "Method",
                "default": "bicubic",
                "choices": UPSCALE_METHODS,
            },
        ],
    },
]


# Workflows that need the simulator's SimSampler node (a sampler-like node that reports steps
# and sends previews). They are installed only once a server in the pool has that node, so a
# pool of real ComfyUI servers never lists them.
DEMO_WORKFLOWS: list[dict[str, Any]] = [
    {
        "slug": "preview-demo",
        "name": "Preview demo (simulator)",
        "description": "A slow sampler-like node with live previews; runs on the built-in simulators.",
        "graph": {
            **_load(),
            "2": {
                "class_type": "SimSampler",
                "inputs": {"image": ["1", 0], "steps": 12, "seconds_per_step": 0.25},
                "_meta": {"title": "Simulated sampler"},
            },
            **_save("3", "2", "comfyweb/preview-demo"),
        },
        "params": [
            IMAGE_PARAM,
            {
                "name": "steps",
                "type": "int",
                "node": "2",
                "input": "steps",
                "label": "Steps",
                "default": 12,
                "min": 1,
                "max": 100,
                "step": 1,
            },
        ],
    }
]
DEMO_NODE = "SimSampler"


def install_demos(workflow_model) -> None:
    for spec in DEMO_WORKFLOWS:
        workflow_model.objects.get_or_create(
            slug=spec["slug"],
            defaults={key: spec[key] for key in ("name", "description", "graph", "params")}
            | {"builtin": True},
        )


def install(workflow_model) -> None:
    """Create or refresh the built-ins; `workflow_model` may be a migration's historical model."""
    for spec in BUILTIN_WORKFLOWS:
        workflow_model.objects.update_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "description": spec["description"],
                "graph": spec["graph"],
                "params": spec["params"],
                "builtin": True,
            },
        )
