"""The nodes the simulator really executes, with Pillow images standing in for tensors.

IMAGE is a Pillow image (RGB, as LoadImage always converts; RGBA is accepted), MASK is an
"L" image (255 = 1.0). Batches hold one image. Each class names the ComfyUI source frame
its function lives in, so tracebacks look like the real ones (trace 05). The Stable Diffusion
stand-ins live in sd_nodes.py; NODES holds both.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from PIL import Image, ImageFilter, ImageOps
from PIL.PngImagePlugin import PngInfo

from simulator.files import Storage, file_sha256
from simulator.node_base import UPSCALE_METHODS, Node, NodeContext, NodeResult, Progress, sample_steps
from simulator.sd_nodes import SD_NODES


class LoadImage(Node):
    RETURN_TYPES = ("IMAGE", "MASK")
    VALIDATE_INPUTS = ("image",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1680, "load_image")

    def validate(self, storage: Storage, **inputs: Any) -> bool | str:
        image = inputs["image"]
        if not storage.exists_annotated(image):
            return f"Invalid image file: {image}"
        return True

    def is_changed(self, storage: Storage, inputs: dict[str, Any]) -> Any:
        # nodes.py LoadImage.IS_CHANGED: re-uploading other bytes invalidates the cache.
        return file_sha256(storage.annotated_path(inputs["image"]))

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        with Image.open(ctx.storage.annotated_path(inputs["image"])) as opened:
            img = ImageOps.exif_transpose(opened)
            if img.mode == "I":
                img = img.point(lambda i: i * (1 / 255))
            image = img.convert("RGB")
            if "A" in img.getbands():
                mask = ImageOps.invert(img.getchannel("A"))
            elif img.mode == "P" and "transparency" in img.info:
                mask = ImageOps.invert(img.convert("RGBA").getchannel("A"))
            else:
                mask = Image.new("L", (64, 64), 0)
        return NodeResult((image, mask))


class ImageInvert(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1751, "invert")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image: Image.Image = inputs["image"]
        if image.mode == "RGBA":
            r, g, b, a = image.split()
            rgb = ImageOps.invert(Image.merge("RGB", (r, g, b)))
            return NodeResult((Image.merge("RGBA", (*rgb.split(), a)),))
        return NodeResult((ImageOps.invert(image.convert("RGB")),))


class ImageBlur(Node):
    RETURN_TYPES = ("IMAGE",)
    V3 = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_post_processing.py", 92, "execute")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image: Image.Image = inputs["image"]
        if inputs["blur_radius"] == 0:
            return NodeResult((image,))
        return NodeResult((image.filter(ImageFilter.GaussianBlur(radius=inputs["sigma"])),))


class ImageScaleBy(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1733, "upscale")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image: Image.Image = inputs["image"]
        size = (round(image.width * inputs["scale_by"]), round(image.height * inputs["scale_by"]))
        return NodeResult((image.resize(size, UPSCALE_METHODS[inputs["upscale_method"]]),))


class ImageScale(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1708, "upscale")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image: Image.Image = inputs["image"]
        width, height = inputs["width"], inputs["height"]
        if width == 0 and height == 0:
            return NodeResult((image,))
        if width == 0:
            width = max(1, round(image.width * height / image.height))
        elif height == 0:
            height = max(1, round(image.height * width / image.width))
        if inputs["crop"] == "center":
            old_aspect, new_aspect = image.width / image.height, width / height
            x = y = 0
            if old_aspect > new_aspect:
                x = round((image.width - image.width * (new_aspect / old_aspect)) / 2)
            elif old_aspect < new_aspect:
                y = round((image.height - image.height * (old_aspect / new_aspect)) / 2)
            image = image.crop((x, y, image.width - x, image.height - y))
        return NodeResult((image.resize((width, height), UPSCALE_METHODS[inputs["upscale_method"]]),))


class EmptyImage(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1788, "generate")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        color = inputs.get("color", 0)
        rgb = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
        return NodeResult((Image.new("RGB", (inputs["width"], inputs["height"]), rgb),))


class ImageToMask(Node):
    RETURN_TYPES = ("MASK",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_mask.py", 137, "image_to_mask")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image: Image.Image = inputs["image"]
        index = ["red", "green", "blue", "alpha"].index(inputs["channel"])
        bands = len(image.getbands())
        if index >= bands:
            # torch indexing image[:, :, :, 3] of an RGB tensor (trace 05).
            raise IndexError(f"index {index} is out of bounds for dimension 3 with size {bands}")
        return NodeResult((image.getchannel(index),))


class MaskToImage(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_mask.py", 118, "mask_to_image")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        mask: Image.Image = inputs["mask"].convert("L")
        return NodeResult((Image.merge("RGB", (mask, mask, mask)),))


class SaveImage(Node):
    OUTPUT_NODE = True
    SOURCE = ("/opt/ComfyUI/nodes.py", 1582, "save_images")
    dir_type = "output"
    compress_level = 4

    def __init__(self) -> None:
        self.prefix_append = ""

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image: Image.Image = inputs["images"]
        prefix = _compute_vars(inputs.get("filename_prefix", "ComfyUI") + self.prefix_append, image)
        folder, stem, counter, subfolder = ctx.storage.save_image_path(prefix, self.dir_type)
        metadata = PngInfo()
        metadata.add_text("prompt", json.dumps(ctx.prompt))
        for key, value in (ctx.extra_pnginfo or {}).items():
            metadata.add_text(key, json.dumps(value))
        name = f"{stem.replace('%batch_num%', '0')}_{counter:05}_.png"
        image.save(os.path.join(folder, name), pnginfo=metadata, compress_level=self.compress_level)
        ui = {"images": [{"filename": name, "subfolder": subfolder, "type": self.dir_type}]}
        return NodeResult((), ui)


class PreviewImage(SaveImage):
    dir_type = "temp"
    compress_level = 1

    def __init__(self) -> None:
        # One random suffix per node instance; instances live in the object cache (trace 06).
        letters = "abcdefghijklmnopqrstupvxyz"
        self.prefix_append = "_temp_" + "".join(random.choice(letters) for _ in range(5))


class SimSampler(Node):
    """Simulator-only: a sampler stand-in that reports progress and previews per step."""

    RETURN_TYPES = ("IMAGE",)
    IS_ASYNC = True
    SOURCE = ("/opt/ComfyUI/custom_nodes/simulator.py", 40, "sample")

    async def run_async(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image: Image.Image = inputs["image"]
        preview = image.convert("RGB").resize((16, 16)) if inputs.get("preview", True) else None
        seconds = inputs.get("seconds_per_step", 0.05)
        await sample_steps(ctx, inputs.get("steps", 8), seconds, lambda step: preview)
        return NodeResult((image,))


NODES: dict[str, type[Node]] = {
    "LoadImage": LoadImage,
    "ImageInvert": ImageInvert,
    "ImageBlur": ImageBlur,
    "ImageScaleBy": ImageScaleBy,
    "ImageScale": ImageScale,
    "SaveImage": SaveImage,
    "PreviewImage": PreviewImage,
    "EmptyImage": EmptyImage,
    "ImageToMask": ImageToMask,
    "MaskToImage": MaskToImage,
    "SimSampler": SimSampler,
    **SD_NODES,
}

__all__ = ["NODES", "UPSCALE_METHODS", "Node", "NodeContext", "NodeResult", "Progress"]


def _compute_vars(prefix: str, image: Image.Image) -> str:
    """folder_paths.compute_vars: %width%, %height% and the date fields."""
    if "%" not in prefix:
        return prefix
    now = time.localtime()
    values = {
        "%width%": str(image.width),
        "%height%": str(image.height),
        "%year%": str(now.tm_year),
        "%month%": str(now.tm_mon).zfill(2),
        "%day%": str(now.tm_mday).zfill(2),
        "%hour%": str(now.tm_hour).zfill(2),
        "%minute%": str(now.tm_min).zfill(2),
        "%second%": str(now.tm_sec).zfill(2),
    }
    for key, value in values.items():
        prefix = prefix.replace(key, value)
    return prefix
