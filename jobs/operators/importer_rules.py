"""Which node inputs the importer proposes as parameters, and their well-known bounds.

The bounds are ComfyUI 0.3.64's own (`nodes.py`, `comfy_extras/`), used when no server's
/object_info is at hand; a server's answer always wins. An input not listed here is never
proposed: an operator adds such parameters by hand. `optional` proposals are shown unticked.

Model inputs (a loader's checkpoint, LoRA, VAE…: jobs.pool.inventory.KNOWN_MODEL_INPUTS and
any input a server lists as a model input) are not in RULES: each is proposed, unticked, as a
choice among the files the pool offers, named and labelled from MODEL_KINDS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_RESOLUTION = 16384
UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]

# Nodes that write a result: a graph without one makes ComfyUI answer `prompt_no_outputs`.
OUTPUT_CLASSES = frozenset(
    {
        "SaveImage",
        "PreviewImage",
        "SaveVideo",
        "SaveWEBM",
        "SaveAnimatedWEBP",
        "SaveAnimatedPNG",
        "SaveAudio",
        "SaveAudioMP3",
        "SaveAudioOpus",
        "PreviewAudio",
        "SaveLatent",
        "SaveGLB",
        "PreviewAny",
    }
)

# Where conditioning ends: (class, input) → the role a CLIPTextEncode reaching it plays.
CONDITIONING_SINKS: dict[str, dict[str, str]] = {
    "KSampler": {"positive": "positive", "negative": "negative"},
    "KSamplerAdvanced": {"positive": "positive", "negative": "negative"},
    "SamplerCustom": {"positive": "positive", "negative": "negative"},
    "CFGGuider": {"positive": "positive", "negative": "negative"},
    "PerpNegGuider": {"positive": "positive", "negative": "negative", "empty_conditioning": "negative"},
    # DualCFGGuider: cond1 is the main prompt, cond2 the second condition (its scale is
    # `cfg_cond2_negative`); hidream-e1-1-edit wires `negative` to the positive encoder.
    "DualCFGGuider": {"cond1": "positive", "cond2": "negative", "negative": "negative"},
    "BasicGuider": {"conditioning": "positive"},
}


@dataclass(frozen=True)
class Rule:
    """How one input becomes a parameter: its type and the bounds used without /object_info."""

    kind: str  # a PARAM_TYPES value; "text" of a CLIPTextEncode gets a positive/negative role
    bounds: dict[str, Any] = field(default_factory=dict)
    optional: bool = False  # proposed, but unticked


def _int(low: int, high: int, step: int = 1, **kw: Any) -> Rule:
    return Rule("int", {"min": low, "max": high, "step": step}, **kw)


def _float(low: float, high: float, step: float, **kw: Any) -> Rule:
    return Rule("float", {"min": low, "max": high, "step": step}, **kw)


def _choice(choices: list[str] | None = None, **kw: Any) -> Rule:
    return Rule("choice", {"choices": choices} if choices else {}, **kw)


IMAGE = Rule("image")
MASK = Rule("mask")
VIDEO = Rule("video")
AUDIO = Rule("audio")
TEXT = Rule("text")
SEED = Rule("seed")
STEPS = _int(1, 10000)
CFG = _float(0.0, 100.0, 0.1)
DENOISE = _float(0.0, 1.0, 0.01)
SIZE8 = _int(16, MAX_RESOLUTION, 8)
SIZE16 = _int(16, MAX_RESOLUTION, 16)
BATCH = _int(1, 4096, optional=True)
PERCENT = _float(0.0, 1.0, 0.001, optional=True)

RULES: dict[str, dict[str, Rule]] = {
    "LoadImage": {"image": IMAGE},
    "LoadImageMask": {"image": MASK},
    "LoadVideo": {"file": VIDEO},
    "VHS_LoadVideo": {"video": VIDEO},
    "VHS_LoadVideoPath": {"video": VIDEO},
    "LoadAudio": {"audio": AUDIO},
    "VHS_LoadAudioUpload": {"audio": AUDIO},
    "CLIPTextEncode": {"text": TEXT},
    "KSampler": {
        "seed": SEED,
        "steps": STEPS,
        "cfg": CFG,
        "denoise": DENOISE,
        "sampler_name": _choice(optional=True),
        "scheduler": _choice(optional=True),
    },
    "KSamplerAdvanced": {
        "noise_seed": SEED,
        "steps": STEPS,
        "cfg": CFG,
        "sampler_name": _choice(optional=True),
        "scheduler": _choice(optional=True),
        "start_at_step": _int(0, 10000, optional=True),
        "end_at_step": _int(0, 10000, optional=True),
    },
    "SamplerCustom": {"noise_seed": SEED, "cfg": CFG},
    "RandomNoise": {"noise_seed": SEED},
    "BasicScheduler": {"steps": STEPS, "denoise": DENOISE},
    "KSamplerSelect": {"sampler_name": _choice(optional=True)},
    "CFGGuider": {"cfg": CFG},
    "DualCFGGuider": {"cfg_conds": CFG, "cfg_cond2_negative": CFG},
    "FluxGuidance": {"guidance": CFG},
    "EmptyLatentImage": {"width": SIZE8, "height": SIZE8, "batch_size": BATCH},
    "EmptySD3LatentImage": {"width": SIZE16, "height": SIZE16, "batch_size": BATCH},
    "EmptyHunyuanLatentVideo": {
        "width": SIZE16,
        "height": SIZE16,
        "length": _int(1, MAX_RESOLUTION, 4),
        "batch_size": BATCH,
    },
    "WanImageToVideo": {
        "width": SIZE16,
        "height": SIZE16,
        "length": _int(1, MAX_RESOLUTION, 4),
        "batch_size": BATCH,
    },
    "LatentUpscale": {"width": _int(0, MAX_RESOLUTION, 8), "height": _int(0, MAX_RESOLUTION, 8)},
    "LatentUpscaleBy": {"scale_by": _float(0.01, 8.0, 0.01)},
    "ImageScaleToTotalPixels": {
        "megapixels": _float(0.01, 16.0, 0.01),
        "upscale_method": _choice(UPSCALE_METHODS, optional=True),
    },
    "VAEEncodeForInpaint": {"grow_mask_by": _int(0, 64)},
    "Canny": {"low_threshold": _float(0.01, 0.99, 0.01), "high_threshold": _float(0.01, 0.99, 0.01)},
    "ControlNetApply": {"strength": _float(0.0, 10.0, 0.01)},
    "ControlNetApplyAdvanced": {
        "strength": _float(0.0, 10.0, 0.01),
        "start_percent": PERCENT,
        "end_percent": PERCENT,
    },
    "CreateVideo": {"fps": _float(1.0, 120.0, 1.0)},
    "ImageBlur": {"blur_radius": _int(1, 31), "sigma": _float(0.1, 10.0, 0.1)},
    "ImageSharpen": {
        "sharpen_radius": _int(1, 31),
        "sigma": _float(0.1, 10.0, 0.01),
        "alpha": _float(0.0, 5.0, 0.01),
    },
    "ImageScaleBy": {"upscale_method": _choice(UPSCALE_METHODS), "scale_by": _float(0.01, 8.0, 0.01)},
    "ImageScale": {
        "upscale_method": _choice(UPSCALE_METHODS),
        "width": _int(0, MAX_RESOLUTION),
        "height": _int(0, MAX_RESOLUTION),
        "crop": _choice(["disabled", "center"], optional=True),
    },
    "LoraLoader": {
        "strength_model": _float(-100.0, 100.0, 0.01, optional=True),
        "strength_clip": _float(-100.0, 100.0, 0.01, optional=True),
    },
    # Real server nodes, unlike the frontend-only PrimitiveNode: the user sets their `value`.
    "PrimitiveInt": {"value": _int(-(2**53) + 1, 2**53 - 1)},
    "PrimitiveFloat": {"value": Rule("float")},
    "PrimitiveString": {"value": TEXT},
    "PrimitiveStringMultiline": {"value": TEXT},
}

# Inputs whose proposal is left unticked when it holds this "no effect" value: a denoise of
# 1 is plain txt2img, a cfg of 1 (Flux schnell) disables the negative prompt.
NEUTRAL_VALUES: dict[str, float] = {"denoise": 1, "cfg": 1}

LABELS = {
    "cfg": "CFG",
    "cfg_conds": "CFG",
    "cfg_cond2_negative": "Image CFG",
    "fps": "Frames per second",
    "grow_mask_by": "Grow mask by",
    "sampler_name": "Sampler",
}

# What a model input lists, by input name ("Class.input" first): the singular names a
# parameter, the plural a group of a server's model files ("Checkpoints: a, b"); groups are
# shown in this order.
MODEL_KINDS: dict[str, tuple[str, str]] = {
    "ckpt_name": ("Checkpoint", "Checkpoints"),
    "config_name": ("Checkpoint config", "Checkpoint configs"),
    "unet_name": ("Diffusion model", "Diffusion models"),
    "lora_name": ("LoRA", "LoRAs"),
    "vae_name": ("VAE", "VAEs"),
    "clip_name": ("Text encoder", "Text encoders"),
    "clip_name1": ("Text encoder 1", "Text encoders"),
    "clip_name2": ("Text encoder 2", "Text encoders"),
    "clip_name3": ("Text encoder 3", "Text encoders"),
    "clip_name4": ("Text encoder 4", "Text encoders"),
    "CLIPVisionLoader.clip_name": ("CLIP vision model", "CLIP vision models"),
    "control_net_name": ("ControlNet", "ControlNets"),
    "UpscaleModelLoader.model_name": ("Upscale model", "Upscale models"),
    "style_model_name": ("Style model", "Style models"),
    "gligen_name": ("GLIGEN model", "GLIGEN models"),
    "hypernetwork_name": ("Hypernetwork", "Hypernetworks"),
    "photomaker_model_name": ("PhotoMaker model", "PhotoMaker models"),
    "audio_encoder_name": ("Audio encoder", "Audio encoders"),
    "ModelPatchLoader.name": ("Model patch", "Model patches"),
    "DiffusersLoader.model_path": ("Diffusers model", "Diffusers models"),
}


def model_kind(key: str) -> tuple[str, str]:
    """(singular, plural) of a model input "Class.input"; its input name, humanized, when unknown."""
    _, _, name = key.partition(".")
    if key in MODEL_KINDS or name in MODEL_KINDS:
        return MODEL_KINDS.get(key) or MODEL_KINDS[name]
    label = name.replace("_", " ").capitalize() or key
    return label, label


KIND_ORDER = {plural: index for index, plural in enumerate(dict.fromkeys(p for _, p in MODEL_KINDS.values()))}
