"""Stand-ins for the Stable Diffusion nodes: loaders, text encoding, latents, samplers, VAE, upscaling.

No weights are loaded. A loader checks its file is in the instance's model set (as
folder_paths.get_full_path_or_raise does) and returns a stand-in naming it and its files (the
executor then spends the load time of those not resident: simulator.residency); a LATENT
records its size and the sampling that went into it, and VAEDecode paints real pixels
from that record, so the same graph gives the same image and another seed another image.
Samplers send the per-step frames of a real sampler (progress, previews) and spread the
server's --delay over their steps.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from PIL import Image, ImageFilter

from simulator.image_batch import first, map_frames
from simulator.node_base import UPSCALE_METHODS, Node, NodeContext, NodeResult, sample_steps

# What str() of the real object would start with (execution_error current_inputs).
_REAL_CLASSES = {
    "MODEL": "comfy.model_patcher.ModelPatcher",
    "CLIP": "comfy.sd.CLIP",
    "VAE": "comfy.sd.VAE",
    "CONTROL_NET": "comfy.controlnet.ControlNet",
    "CLIP_VISION": "comfy.clip_vision.ClipVisionModel",
    "UPSCALE_MODEL": "spandrel.__helpers.model_descriptor.ImageModelDescriptor",
}
NEUTRAL = (118, 112, 104)  # roughly what a VAE makes of an all-zero latent
PREVIEW_SIDE = 64  # latent previews are small (latent2rgb at 1/8 scale)
MAX_UPSCALED_PIXELS = 2048 * 2048  # keeps an upscaled image at ~12 MB of RGB
TILE, OVERLAP = 512, 32  # ImageUpscaleWithModel's tiling, for its progress ticks


@dataclass(frozen=True)
class Loaded:
    """A MODEL, CLIP, VAE, CONTROL_NET, CLIP_VISION or UPSCALE_MODEL: the file it came from,
    plus the LoRAs applied to it. ``weight_files`` ("folder/file") are what must be resident
    in the simulated VRAM to use it (simulator.residency)."""

    kind: str
    name: str
    loras: tuple[tuple[str, float], ...] = ()
    weight_files: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"<{_REAL_CLASSES[self.kind]} object at 0x{id(self):012x}>"

    @property
    def key(self) -> str:
        return repr((self.kind, self.name, self.loras))


@dataclass(frozen=True)
class Conditioning:
    """CONDITIONING: the encoded text and the CLIP that encoded it."""

    text: str
    clip: Loaded

    def __str__(self) -> str:
        return "[[tensor([[[...]]]), {'pooled_output': tensor([[...]])}]]"


@dataclass(frozen=True, eq=False)
class Layer:
    """One sampling pass: what it was (key), how much it replaced (strength), where (mask)."""

    key: str
    strength: float
    mask: Image.Image | None = None


@dataclass(frozen=True, eq=False)
class Latent:
    """LATENT: latent size (pixels / 8), batch, the encoded image if any, the passes so far
    and the inpainting noise mask."""

    width8: int
    height8: int
    batch: int = 1
    source: Image.Image | None = None
    layers: tuple[Layer, ...] = ()
    noise_mask: Image.Image | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.width8 * 8, self.height8 * 8

    @property
    def key(self) -> str:
        source = "" if self.source is None else hashlib.sha256(self.source.tobytes()).hexdigest()
        return repr((self.size, self.batch, source, [(layer.key, layer.strength) for layer in self.layers]))

    def __str__(self) -> str:
        shape = [self.batch, 4, self.height8, self.width8]
        return f"{{'samples': tensor(<{shape}>)}}"


def pattern(key: str, size: tuple[int, int]) -> Image.Image:
    """A smooth colour field derived from ``key``: deterministic, different for every key."""
    digest = hashlib.sha256(key.encode()).digest()
    rng = random.Random(digest)
    tint = digest[:3]
    grid = Image.new("RGB", (8, 8))
    grid.putdata([tuple((rng.randrange(256) + t) // 2 for t in tint) for _ in range(64)])
    return grid.resize(size, Image.Resampling.BICUBIC)


def render(latent: Latent, size: tuple[int, int] | None = None) -> Image.Image:
    """The image a VAE would decode: the encoded source, painted over by each pass."""
    size = size or latent.size
    if latent.source is not None:
        image = latent.source.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    else:
        image = Image.new("RGB", size, NEUTRAL)
    for layer in latent.layers:
        painted = pattern(layer.key, size)
        if layer.strength < 1:
            painted = Image.blend(image, painted, layer.strength)
        if layer.mask is not None:
            image = Image.composite(painted, image, layer.mask.resize(size, Image.Resampling.NEAREST))
        else:
            image = painted
    return image


def upscale_factor(name: str) -> int:
    """The scale an upscale model's file name promises ("4x-UltraSharp", "RealESRGAN_x2plus")."""
    base = name.rsplit("/", 1)[-1].lower()
    found = re.search(r"(?<![a-z0-9])(\d+)x", base) or re.search(r"x(\d+)", base)
    factor = int(found.group(1)) if found else 4
    return factor if 1 <= factor <= 8 else 4


def _crop_to_8(image: Image.Image) -> Image.Image:
    """VAE.vae_encode_crop_pixels: centre-crop each side to a multiple of 8."""
    width, height = (image.width // 8) * 8, (image.height // 8) * 8
    x, y = (image.width % 8) // 2, (image.height % 8) // 2
    if (width, height) == image.size:
        return image
    return image.crop((x, y, x + width, y + height))


def _digest(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


# --- loaders ----------------------------------------------------------------------------------


class _Loader(Node):
    """A classic loader: one combo input naming a file of one folder."""

    FOLDER: ClassVar[str] = ""
    INPUT: ClassVar[str] = ""
    KIND: ClassVar[str] = ""

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        name = inputs[self.INPUT]
        ctx.models.full_path_or_raise(self.FOLDER, name)
        return NodeResult((Loaded(self.KIND, name, weight_files=(f"{self.FOLDER}/{name}",)),))


class CheckpointLoaderSimple(Node):
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    SOURCE = ("/opt/ComfyUI/nodes.py", 577, "load_checkpoint")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        name = inputs["ckpt_name"]
        ctx.models.full_path_or_raise("checkpoints", name)
        files = (f"checkpoints/{name}",)
        return NodeResult(tuple(Loaded(kind, name, weight_files=files) for kind in ("MODEL", "CLIP", "VAE")))


class LoraLoader(Node):
    RETURN_TYPES: ClassVar[tuple[str, ...]] = ("MODEL", "CLIP")
    SOURCE = ("/opt/ComfyUI/nodes.py", 666, "load_lora")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        model: Loaded | None = inputs["model"]
        clip: Loaded | None = inputs.get("clip")
        strength_model, strength_clip = inputs["strength_model"], inputs.get("strength_clip", 0)
        if strength_model == 0 and strength_clip == 0:
            return NodeResult((model, clip))
        name = inputs["lora_name"]
        ctx.models.full_path_or_raise("loras", name)
        file = f"loras/{name}"
        if model is not None:
            model = replace(
                model, loras=(*model.loras, (name, strength_model)), weight_files=(*model.weight_files, file)
            )
        if clip is not None:
            clip = replace(
                clip, loras=(*clip.loras, (name, strength_clip)), weight_files=(*clip.weight_files, file)
            )
        return NodeResult((model, clip))


class LoraLoaderModelOnly(LoraLoader):
    RETURN_TYPES = ("MODEL",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 692, "load_lora_model_only")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        result = super().run(ctx, **{**inputs, "clip": None, "strength_clip": 0})
        return NodeResult(result.outputs[:1])


class VAELoader(Node):
    RETURN_TYPES = ("VAE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 782, "load_vae")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        name = inputs["vae_name"]
        if name in ("pixel_space", "taesd", "taesdxl", "taesd3", "taef1"):
            return NodeResult((Loaded("VAE", name),))  # small or no weights: never a load cost
        ctx.models.full_path_or_raise("vae", name)
        return NodeResult((Loaded("VAE", name, weight_files=(f"vae/{name}",)),))


class ControlNetLoader(_Loader):
    RETURN_TYPES = ("CONTROL_NET",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 799, "load_controlnet")
    FOLDER, INPUT, KIND = "controlnet", "control_net_name", "CONTROL_NET"


class UNETLoader(_Loader):
    RETURN_TYPES = ("MODEL",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 924, "load_unet")
    FOLDER, INPUT, KIND = "diffusion_models", "unet_name", "MODEL"


class CLIPLoader(_Loader):
    RETURN_TYPES = ("CLIP",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 951, "load_clip")
    FOLDER, INPUT, KIND = "text_encoders", "clip_name", "CLIP"


class DualCLIPLoader(Node):
    RETURN_TYPES = ("CLIP",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 975, "load_clip")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        first, second = inputs["clip_name1"], inputs["clip_name2"]
        ctx.models.full_path_or_raise("text_encoders", first)
        ctx.models.full_path_or_raise("text_encoders", second)
        files = (f"text_encoders/{first}", f"text_encoders/{second}")
        return NodeResult((Loaded("CLIP", f"{first}+{second}", weight_files=files),))


class CLIPVisionLoader(_Loader):
    RETURN_TYPES = ("CLIP_VISION",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 996, "load_clip")
    FOLDER, INPUT, KIND = "clip_vision", "clip_name", "CLIP_VISION"


class UpscaleModelLoader(_Loader):
    """V3: its combo is not checked at POST /prompt, so a missing file fails here."""

    RETURN_TYPES = ("UPSCALE_MODEL",)
    V3 = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_upscale_model.py", 35, "execute")
    FOLDER, INPUT, KIND = "upscale_models", "model_name", "UPSCALE_MODEL"


# --- conditioning and latents -----------------------------------------------------------------


class CLIPTextEncode(Node):
    RETURN_TYPES = ("CONDITIONING",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 72, "encode")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        clip: Loaded | None = inputs["clip"]
        if clip is None:
            raise RuntimeError(
                "ERROR: clip input is invalid: None\n\nIf the clip is from a checkpoint loader node "
                "your checkpoint does not contain a valid clip or text encoder model."
            )
        return NodeResult((Conditioning(inputs["text"], clip),))


class EmptyLatentImage(Node):
    RETURN_TYPES = ("LATENT",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1185, "generate")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        latent = Latent(inputs["width"] // 8, inputs["height"] // 8, inputs.get("batch_size", 1))
        return NodeResult((latent,))


class LatentUpscale(Node):
    RETURN_TYPES = ("LATENT",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1278, "upscale")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        samples: Latent = inputs["samples"]
        width, height = inputs["width"], inputs["height"]
        if width == 0 and height == 0:
            return NodeResult((samples,))
        if width == 0:
            height = max(64, height)
            width = max(64, round(samples.width8 * height / samples.height8))
        elif height == 0:
            width = max(64, width)
            height = max(64, round(samples.height8 * width / samples.width8))
        else:
            width, height = max(64, width), max(64, height)
        return NodeResult((replace(samples, width8=width // 8, height8=height // 8),))


class VAEEncode(Node):
    RETURN_TYPES = ("LATENT",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 343, "encode")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        pixels = _crop_to_8(first(inputs["pixels"]).convert("RGB"))
        return NodeResult((Latent(pixels.width // 8, pixels.height // 8, source=pixels),))


class VAEEncodeForInpaint(Node):
    RETURN_TYPES = ("LATENT",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 374, "encode")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image: Image.Image = first(inputs["pixels"]).convert("RGB")
        mask: Image.Image = first(inputs["mask"]).convert("L").resize(image.size, Image.Resampling.BILINEAR)
        pixels, mask = _crop_to_8(image), _crop_to_8(mask)
        hard = mask.point(lambda v: 255 if v >= 128 else 0)
        # Masked pixels go to 0.5 grey before encoding; the noise mask grows by grow_mask_by.
        grey = Image.new("RGB", pixels.size, (128, 128, 128))
        pixels = Image.composite(grey, pixels, hard)
        grow = inputs.get("grow_mask_by", 6)
        noise_mask = hard.filter(ImageFilter.MaxFilter(grow | 1)) if grow > 0 else hard
        latent = Latent(pixels.width // 8, pixels.height // 8, source=pixels, noise_mask=noise_mask)
        return NodeResult((latent,))


class VAEDecode(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 295, "decode")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        return NodeResult((render(inputs["samples"]),))


# --- samplers ---------------------------------------------------------------------------------


class _Sampler(Node):
    """Shared by KSampler and KSamplerAdvanced: one pass over the latent, step by step."""

    RETURN_TYPES = ("LATENT",)
    IS_ASYNC = True
    OWN_DELAY = True
    USES_WEIGHTS = ("model",)

    async def _sample(
        self, ctx: NodeContext, latent: Latent, key: str, steps: int, strength: float
    ) -> NodeResult:
        if steps <= 0:
            return NodeResult((latent,))
        has_content = latent.source is not None or bool(latent.layers)
        out = replace(
            latent, layers=(*latent.layers, Layer(key, strength if has_content else 1.0, latent.noise_mask))
        )
        width, height = max(1, latent.width8), max(1, latent.height8)
        scale = min(1.0, PREVIEW_SIDE / max(width, height))
        small = (max(1, round(width * scale)), max(1, round(height * scale)))
        start, goal = render(latent, small), render(out, small)
        noise = pattern(key + ":noise", small)

        def preview(step: int) -> Image.Image:
            done = (step + 1) / steps
            return Image.blend(Image.blend(start, noise, 0.6 * (1 - done)), goal, done)

        await sample_steps(ctx, steps, ctx.delay / steps, preview, ctx.wait)
        return NodeResult((out,))


def _pass_key(inputs: dict[str, Any], latent: Latent, seed: int | None, extra: Any) -> str:
    model: Loaded = inputs["model"]
    positive: Conditioning = inputs["positive"]
    negative: Conditioning = inputs["negative"]
    return _digest(
        latent.key,
        model.key,
        seed,
        positive.text,
        negative.text,
        inputs["cfg"],
        inputs["sampler_name"],
        inputs["scheduler"],
        extra,
    )


class KSampler(_Sampler):
    SOURCE = ("/opt/ComfyUI/nodes.py", 1525, "sample")

    async def run_async(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        latent: Latent = inputs["latent_image"]
        steps, denoise = inputs["steps"], inputs.get("denoise", 1.0)
        key = _pass_key(inputs, latent, inputs["seed"], (steps, denoise))
        return await self._sample(ctx, latent, key, steps if denoise > 0 else 0, denoise)


class KSamplerAdvanced(_Sampler):
    SOURCE = ("/opt/ComfyUI/nodes.py", 1559, "sample")

    async def run_async(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        latent: Latent = inputs["latent_image"]
        steps = inputs["steps"]
        # comfy/samplers.py: sigmas cut to [start_at_step, end_at_step]; the bar counts what is left.
        last = min(inputs["end_at_step"], steps)
        start = inputs["start_at_step"]
        run = last - start if start < last else 0
        seed = inputs["noise_seed"] if inputs["add_noise"] == "enable" else None
        key = _pass_key(inputs, latent, seed, (steps, start, last))
        return await self._sample(ctx, latent, key, run, run / steps)


# --- images -----------------------------------------------------------------------------------


class ImageScaleToTotalPixels(Node):
    RETURN_TYPES = ("IMAGE",)
    V3 = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_post_processing.py", 232, "execute")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image = first(inputs["image"])
        total = int(inputs["megapixels"] * 1024 * 1024)
        scale_by = math.sqrt(total / (image.width * image.height))
        size = (round(image.width * scale_by), round(image.height * scale_by))
        method = UPSCALE_METHODS.get(inputs["upscale_method"], Image.Resampling.BILINEAR)
        return NodeResult((map_frames(inputs["image"], lambda frame: frame.resize(size, method)),))


class ImageUpscaleWithModel(Node):
    """Scales by the factor in the model's file name; capped at MAX_UPSCALED_PIXELS."""

    RETURN_TYPES = ("IMAGE",)
    IS_ASYNC = True
    V3 = True
    USES_WEIGHTS = ("upscale_model",)  # it moves the model to the GPU itself
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_upscale_model.py", 85, "execute")

    async def run_async(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        model: Loaded = inputs["upscale_model"]
        image = first(inputs["image"])
        factor = float(upscale_factor(model.name))
        area = image.width * image.height * factor * factor
        if area > MAX_UPSCALED_PIXELS:
            factor *= math.sqrt(MAX_UPSCALED_PIXELS / area)
        size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
        # comfy.utils.get_tiled_scale_steps: one progress tick per tile, no previews.
        tiles = math.ceil(image.height / (TILE - OVERLAP)) * math.ceil(image.width / (TILE - OVERLAP))
        for tile in range(tiles):
            await ctx.progress(tile + 1, tiles, None)
        result = await asyncio.to_thread(map_frames, inputs["image"], lambda frame: _upscale(frame, size))
        return NodeResult((result,))


def _upscale(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


SD_NODES: dict[str, type[Node]] = {
    "CheckpointLoaderSimple": CheckpointLoaderSimple,
    "LoraLoader": LoraLoader,
    "LoraLoaderModelOnly": LoraLoaderModelOnly,
    "VAELoader": VAELoader,
    "ControlNetLoader": ControlNetLoader,
    "UNETLoader": UNETLoader,
    "CLIPLoader": CLIPLoader,
    "DualCLIPLoader": DualCLIPLoader,
    "CLIPVisionLoader": CLIPVisionLoader,
    "UpscaleModelLoader": UpscaleModelLoader,
    "CLIPTextEncode": CLIPTextEncode,
    "EmptyLatentImage": EmptyLatentImage,
    "LatentUpscale": LatentUpscale,
    "VAEEncode": VAEEncode,
    "VAEEncodeForInpaint": VAEEncodeForInpaint,
    "VAEDecode": VAEDecode,
    "KSampler": KSampler,
    "KSamplerAdvanced": KSamplerAdvanced,
    "ImageScaleToTotalPixels": ImageScaleToTotalPixels,
    "ImageUpscaleWithModel": ImageUpscaleWithModel,
}
