"""The nodes the simulator really executes, with Pillow images standing in for tensors.

IMAGE is a Pillow image (RGB, as LoadImage always converts; RGBA is accepted), MASK is an
"L" image (255 = 1.0); a batch of more than one is an ImageBatch (image_batch.py) and the
per-image nodes work frame by frame. Each class names the ComfyUI source frame its function
lives in, so tracebacks look like the real ones (trace 05). The Stable Diffusion stand-ins
live in sd_nodes.py, the media nodes in media_nodes.py; NODES holds all of them.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from PIL import Image, ImageFilter, ImageOps, ImageSequence
from PIL.PngImagePlugin import PngInfo

from simulator.files import Storage, file_sha256
from simulator.image_batch import batch_of, first, frames, map_frames
from simulator.media_nodes import MEDIA_NODES
from simulator.node_base import (
    ONE_MINUS,
    UPSCALE_METHODS,
    Node,
    NodeContext,
    NodeResult,
    Progress,
    compute_vars,
    sample_steps,
)
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
        images: list[Image.Image] = []
        masks: list[Image.Image] = []
        with Image.open(ctx.storage.annotated_path(inputs["image"])) as opened:
            # Every frame of an animation (GIF, animated WEBP/PNG) becomes one of the batch;
            # frames of another size than the first are skipped, MPO keeps its first frame.
            for page in ImageSequence.Iterator(opened):
                image, mask = _load_frame(page)
                if images and image.size != images[0].size:
                    continue
                images.append(image)
                masks.append(mask)
            if opened.format == "MPO":
                images, masks = images[:1], masks[:1]
        return NodeResult((batch_of(images), batch_of(masks)))


def _load_frame(page: Image.Image) -> tuple[Image.Image, Image.Image]:
    img = ImageOps.exif_transpose(page)
    if img.mode == "I":
        img = img.point(lambda i: i * (1 / 255))
    image = img.convert("RGB")
    if "A" in img.getbands():
        mask = ImageOps.invert(img.getchannel("A"))
    elif img.mode == "P" and "transparency" in img.info:
        mask = ImageOps.invert(img.convert("RGBA").getchannel("A"))
    else:
        mask = Image.new("L", (64, 64), 0)
    return image, mask


class ImageInvert(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1751, "invert")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        return NodeResult((map_frames(inputs["image"], _invert),))


def _invert(image: Image.Image) -> Image.Image:
    """1.0 - image on float32 tensors, as saved: ONE_MINUS per channel, alpha kept."""
    if image.mode == "RGBA":
        r, g, b, a = image.split()
        rgb = Image.merge("RGB", (r, g, b)).point(ONE_MINUS * 3)
        return Image.merge("RGBA", (*rgb.split(), a))
    return image.convert("RGB").point(ONE_MINUS * 3)


class ImageBlur(Node):
    RETURN_TYPES = ("IMAGE",)
    V3 = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_post_processing.py", 92, "execute")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        if inputs["blur_radius"] == 0:
            return NodeResult((inputs["image"],))
        blur = ImageFilter.GaussianBlur(radius=inputs["sigma"])
        return NodeResult((map_frames(inputs["image"], lambda image: image.filter(blur)),))


class ImageScaleBy(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1733, "upscale")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        image = first(inputs["image"])
        size = (round(image.width * inputs["scale_by"]), round(image.height * inputs["scale_by"]))
        method = UPSCALE_METHODS[inputs["upscale_method"]]
        return NodeResult((map_frames(inputs["image"], lambda frame: frame.resize(size, method)),))


class ImageScale(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1708, "upscale")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        if inputs["width"] == 0 and inputs["height"] == 0:
            return NodeResult((inputs["image"],))
        return NodeResult((map_frames(inputs["image"], lambda image: self._scale(image, inputs)),))

    @staticmethod
    def _scale(image: Image.Image, inputs: dict[str, Any]) -> Image.Image:
        width, height = inputs["width"], inputs["height"]
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
        return image.resize((width, height), UPSCALE_METHODS[inputs["upscale_method"]])


class EmptyImage(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1788, "generate")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        color = inputs.get("color", 0)
        rgb = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
        image = Image.new("RGB", (inputs["width"], inputs["height"]), rgb)
        return NodeResult((batch_of([image] * inputs.get("batch_size", 1)),))


class ImageToMask(Node):
    RETURN_TYPES = ("MASK",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_mask.py", 137, "image_to_mask")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        index = ["red", "green", "blue", "alpha"].index(inputs["channel"])
        bands = len(first(inputs["image"]).getbands())
        if index >= bands:
            # torch indexing image[:, :, :, 3] of an RGB tensor (trace 05).
            raise IndexError(f"index {index} is out of bounds for dimension 3 with size {bands}")
        return NodeResult((map_frames(inputs["image"], lambda image: image.getchannel(index)),))


class MaskToImage(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_mask.py", 118, "mask_to_image")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        return NodeResult((map_frames(inputs["mask"], _mask_to_rgb),))


def _mask_to_rgb(mask: Image.Image) -> Image.Image:
    mask = mask.convert("L")
    return Image.merge("RGB", (mask, mask, mask))


class SaveImage(Node):
    OUTPUT_NODE = True
    SOURCE = ("/opt/ComfyUI/nodes.py", 1582, "save_images")
    dir_type = "output"
    compress_level = 4

    def __init__(self) -> None:
        self.prefix_append = ""

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        images = frames(inputs["images"])
        prefix = inputs.get("filename_prefix", "ComfyUI") + self.prefix_append
        prefix = compute_vars(prefix, images[0].width, images[0].height)
        folder, stem, counter, subfolder = ctx.storage.save_image_path(prefix, self.dir_type)
        metadata = PngInfo()
        metadata.add_text("prompt", json.dumps(ctx.prompt))
        for key, value in (ctx.extra_pnginfo or {}).items():
            metadata.add_text(key, json.dumps(value))
        results = []
        # One file per image of the batch, the counter going up by one each.
        for batch_number, image in enumerate(images):
            name = f"{stem.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
            image.save(os.path.join(folder, name), pnginfo=metadata, compress_level=self.compress_level)
            results.append({"filename": name, "subfolder": subfolder, "type": self.dir_type})
            counter += 1
        return NodeResult((), {"images": results})


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
        image = inputs["image"]
        preview = first(image).convert("RGB").resize((16, 16)) if inputs.get("preview", True) else None
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
    **MEDIA_NODES,
}

__all__ = ["NODES", "UPSCALE_METHODS", "Node", "NodeContext", "NodeResult", "Progress"]
