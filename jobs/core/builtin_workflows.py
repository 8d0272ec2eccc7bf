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


def txt2img_graph(ckpt: str, size: int, prefix: str) -> dict[str, Any]:
    """ComfyUI's default text-to-image graph (as its frontend exports it) for one checkpoint."""
    clip = ["4", 1]
    return {
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": ckpt},
            "_meta": {"title": "Load Checkpoint"},
        },
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": size, "height": size, "batch_size": 1},
            "_meta": {"title": "Empty Latent Image"},
        },
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "a lighthouse at dusk, oil painting", "clip": clip},
            "_meta": {"title": "Positive prompt"},
        },
        "7": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "text, watermark", "clip": clip},
            "_meta": {"title": "Negative prompt"},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1,
                "steps": 12,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
            "_meta": {"title": "KSampler"},
        },
        "8": {
            "class_type": "VAEDecode",
            "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
            "_meta": {"title": "VAE Decode"},
        },
        **_save("9", "8", prefix),
    }


PROMPT_PARAM = {
    "name": "prompt",
    "type": "text",
    "node": "6",
    "input": "text",
    "label": "Prompt",
    "default": "a lighthouse at dusk, oil painting",
}
SEED_PARAM = {"name": "seed", "type": "seed", "node": "3", "input": "seed", "label": "Seed"}
SD15 = "v1-5-pruned-emaonly-fp16.safetensors"
SDXL = "sd_xl_base_1.0.safetensors"
ESRGAN = "RealESRGAN_x4plus.safetensors"

# The model files of the two simulators `make run` starts: different sets, so that the demo
# shows placement (each job goes where its checkpoint is; `python -m simulator --models`).
DEMO_MODELS = {
    "sim-1": [
        f"checkpoints/{SD15}",
        "checkpoints/DreamShaper_8_pruned.safetensors",
        f"upscale_models/{ESRGAN}",
    ],
    "sim-2": [
        f"checkpoints/{SDXL}",
        "checkpoints/sd_xl_refiner_1.0.safetensors",
        "checkpoints/DreamShaper_8_pruned.safetensors",  # on both: the demo shows the warm one preferred
        "loras/ink.safetensors",
    ],
}
# Each demo simulator holds one model loaded at a time, and a load costs this long: the card
# says "loading model…", and jobs for a model gather on the server where it is warm (issue W).
DEMO_VRAM = 1
# One simulator answers as ComfyUI 0.3.64, the other as the current release: a mixed pool,
# as operators upgrading one server at a time have (issue V).
DEMO_PROFILES = {"sim-1": "0.3.64", "sim-2": "current"}
DEMO_LOAD_SECONDS = 2.0

# Workflows that need model files: installed with the demos, they run where their model is.
MODEL_DEMO_WORKFLOWS: list[dict[str, Any]] = [
    {
        "slug": "txt2img-demo",
        "name": "Text to image (simulator)",
        "description": "ComfyUI's default graph with a checkpoint of your choice; each job runs "
        "on a server that has the checkpoint.",
        "graph": txt2img_graph(SD15, 512, "comfyweb/txt2img"),
        "params": [
            PROMPT_PARAM,
            {
                "name": "model",
                "type": "choice",
                "node": "4",
                "input": "ckpt_name",
                "label": "Checkpoint",
                "default": SD15,
                "choices": [SD15],
            },
            SEED_PARAM,
        ],
    },
    {
        "slug": "sdxl-demo",
        "name": "SDXL text to image (simulator)",
        "description": "Needs the SDXL base checkpoint: only the server holding it runs these jobs.",
        "graph": txt2img_graph(SDXL, 1024, "comfyweb/sdxl"),
        "params": [PROMPT_PARAM, SEED_PARAM],
    },
    {
        "slug": "upscale-demo",
        "name": "Upscale 4x with a model (simulator)",
        "description": "An upscale model (a V3-schema loader): only the server holding it runs these jobs.",
        "graph": {
            **_load(),
            "2": {
                "class_type": "UpscaleModelLoader",
                "inputs": {"model_name": ESRGAN},
                "_meta": {"title": "Load Upscale Model"},
            },
            "3": {
                "class_type": "ImageUpscaleWithModel",
                "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
                "_meta": {"title": "Upscale Image (using Model)"},
            },
            **_save("4", "3", "comfyweb/upscale"),
        },
        "params": [IMAGE_PARAM],
    },
]
DEMO_WORKFLOWS += MODEL_DEMO_WORKFLOWS


def _four_frames() -> dict[str, Any]:
    """Four different frames from one image (it, inverted, flipped, both): an animation whose
    frames do not merge (savers drop repeated frames)."""
    flip = "x-axis: vertically"
    return {
        **_load(),
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}, "_meta": {"title": "Invert"}},
        "3": {"class_type": "ImageFlip", "inputs": {"image": ["1", 0], "flip_method": flip}},
        "4": {"class_type": "ImageFlip", "inputs": {"image": ["2", 0], "flip_method": flip}},
        "5": {"class_type": "ImageBatch", "inputs": {"image1": ["1", 0], "image2": ["2", 0]}},
        "6": {"class_type": "ImageBatch", "inputs": {"image1": ["3", 0], "image2": ["4", 0]}},
        "7": {"class_type": "ImageBatch", "inputs": {"image1": ["5", 0], "image2": ["6", 0]}},
    }


def _animated_webp(node: str, source: str, prefix: str) -> dict[str, Any]:
    inputs = {"images": [source, 0], "filename_prefix": prefix, "fps": 4.0, "lossless": False}
    return {
        node: {"class_type": "SaveAnimatedWEBP", "inputs": {**inputs, "quality": 85, "method": "default"}}
    }


VIDEO_PARAM = {"name": "video", "type": "video", "node": "1", "input": "file", "label": "Video"}
AUDIO_PARAM = {"name": "audio", "type": "audio", "node": "1", "input": "audio", "label": "Audio"}

# Media results and inputs (ComfyUI's model-free media nodes): installed with the other demos.
MEDIA_DEMO_WORKFLOWS: list[dict[str, Any]] = [
    {
        "slug": "animate-demo",
        "name": "Animate an image (simulator)",
        "description": "Four frames made from your image, saved as an animated WebP.",
        "graph": {**_four_frames(), **_animated_webp("8", "7", "comfyweb/animate")},
        "params": [IMAGE_PARAM],
    },
    {
        "slug": "video-demo",
        "name": "Video from an image (simulator)",
        "description": "Four frames made from your image, saved as an MP4 video.",
        "graph": {
            **_four_frames(),
            "8": {"class_type": "CreateVideo", "inputs": {"images": ["7", 0], "fps": 4.0}},
            "9": {
                "class_type": "SaveVideo",
                "inputs": {
                    "video": ["8", 0],
                    "filename_prefix": "comfyweb/video",
                    "format": "auto",
                    "codec": "auto",
                },
            },
        },
        "params": [IMAGE_PARAM],
    },
    {
        "slug": "audio-demo",
        "name": "Save a sound (simulator)",
        "description": "Loads your sound and saves it as FLAC.",
        "graph": {
            "1": {"class_type": "LoadAudio", "inputs": {"audio": "example.wav"}},
            "2": {
                "class_type": "SaveAudio",
                "inputs": {"audio": ["1", 0], "filename_prefix": "comfyweb/audio"},
            },
        },
        "params": [AUDIO_PARAM],
    },
    {
        "slug": "text-demo",
        "name": "Show a text (simulator)",
        "description": "Shows the text you give it as a result (PreviewAny).",
        "graph": {
            "1": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "a caption for the clip"}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        },
        "params": [
            {
                "name": "text",
                "type": "text",
                "node": "1",
                "input": "value",
                "label": "Text",
                "default": "a caption",
            }
        ],
    },
    {
        "slug": "video-to-animation-demo",
        "name": "Video to animation (simulator)",
        "description": "Takes the frames of your video and saves them as an animated WebP.",
        "graph": {
            "1": {"class_type": "LoadVideo", "inputs": {"file": "example.mp4"}},
            "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
            **_animated_webp("3", "2", "comfyweb/from-video"),
        },
        "params": [VIDEO_PARAM],
    },
]
DEMO_WORKFLOWS += MEDIA_DEMO_WORKFLOWS
DEMO_NODE = "SimSampler"


def install_demos(workflow_model) -> None:
    """Once: an operator may edit or disable them afterwards."""
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
