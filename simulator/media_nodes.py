"""The model-free media nodes of ComfyUI 0.3.64, executed for real: batches, animated WEBP and
PNG, video (CreateVideo, SaveVideo, LoadVideo, GetVideoComponents), audio (LoadAudio,
SaveAudio, PreviewAudio), PreviewAny, the primitives and LoadImageMask.

Each node writes the files the real one writes (names, counters, subfolders, formats) and
reports the same ``ui`` dict: SaveAnimated* {"images", "animated"}, SaveVideo
{"images", "animated": [True]} (ui.PreviewVideo), audio {"audio"}, PreviewAny {"text"}.
Ported from comfy_extras/nodes_images.py, nodes_video.py, nodes_audio.py,
nodes_preview_any.py, nodes_primitive.py and nodes.py; the PyAV work is in video.py.
"""

from __future__ import annotations

import json
import os
import random
from fractions import Fraction
from typing import Any, ClassVar

from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

from simulator.errors import tensor_repr
from simulator.files import Storage, file_sha256
from simulator.image_batch import batch_of, frames, map_frames
from simulator.node_base import ONE_MINUS, Node, NodeContext, NodeResult, compute_vars
from simulator.video import (
    Audio,
    Components,
    Video,
    VideoFromComponents,
    VideoFromFile,
    decode_audio,
    encode_audio,
)

_TEMP_LETTERS = "abcdefghijklmnopqrstupvxyz"  # sic: ComfyUI's PreviewImage/PreviewAudio alphabet
WEBP_METHODS = {"default": 4, "fastest": 0, "slowest": 6}


def _save_path(
    ctx: NodeContext, prefix: str, dir_type: str, size: tuple[int, int]
) -> tuple[str, str, int, str]:
    """get_save_image_path with the image's width and height for %width% / %height%."""
    return ctx.storage.save_image_path(compute_vars(prefix, *size), dir_type)


def _saved(name: str, subfolder: str, dir_type: str) -> dict[str, str]:
    return {"filename": name, "subfolder": subfolder, "type": dir_type}


# --- batches and primitives -------------------------------------------------------------------


class RepeatImageBatch(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_images.py", 58, "repeat")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        # image.repeat((amount, 1, 1, 1)): the whole batch, amount times over.
        return NodeResult((batch_of(frames(inputs["image"]) * inputs["amount"]),))


class BatchImages(Node):
    """Two IMAGE batches joined; the second is scaled (bilinear, centre crop) to the first's size."""

    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1857, "batch")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        first_batch, second = frames(inputs["image1"]), frames(inputs["image2"])
        size = first_batch[0].size
        if second[0].size != size:
            second = [ImageOps.fit(image, size, Image.Resampling.BILINEAR) for image in second]
        return NodeResult((batch_of(first_batch + second),))


class ImageFlip(Node):
    RETURN_TYPES = ("IMAGE",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_images.py", 622, "flip")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        method = inputs["flip_method"]
        # x-axis flips the rows (top to bottom), y-axis the columns (left to right).
        flip = ImageOps.flip if method.startswith("x") else ImageOps.mirror
        return NodeResult((map_frames(inputs["image"], flip),))


class _Primitive(Node):
    V3 = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_primitive.py", 22, "execute")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        return NodeResult((inputs["value"],))


class PrimitiveString(_Primitive):
    RETURN_TYPES = ("STRING",)


class PrimitiveStringMultiline(_Primitive):
    RETURN_TYPES = ("STRING",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_primitive.py", 40, "execute")


class PrimitiveInt(_Primitive):
    RETURN_TYPES = ("INT",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_primitive.py", 58, "execute")


class PrimitiveFloat(_Primitive):
    RETURN_TYPES = ("FLOAT",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_primitive.py", 76, "execute")


class PrimitiveBoolean(_Primitive):
    RETURN_TYPES = ("BOOLEAN",)
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_primitive.py", 94, "execute")


class PreviewAny(Node):
    OUTPUT_NODE = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_preview_any.py", 27, "main")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        return NodeResult((), {"text": [preview_text(inputs.get("source"))]})


def preview_text(source: Any) -> str:
    """PreviewAny.main: strings as they are, numbers and booleans through str(), the rest as
    JSON if it serializes, else str() (a tensor, an AUDIO dict, a VIDEO object)."""
    if isinstance(source, str):
        return source
    if isinstance(source, int | float | bool):
        return str(source)
    if source is None:
        return "None"
    if isinstance(source, Image.Image):
        return tensor_repr(source)
    try:
        return json.dumps(source)
    except (TypeError, ValueError):
        return str(source)


class LoadImageMask(Node):
    RETURN_TYPES = ("MASK",)
    VALIDATE_INPUTS = ("image",)
    SOURCE = ("/opt/ComfyUI/nodes.py", 1723, "load_image")

    def validate(self, storage: Storage, **inputs: Any) -> bool | str:
        image = inputs["image"]
        return True if storage.exists_annotated(image) else f"Invalid image file: {image}"

    def is_changed(self, storage: Storage, inputs: dict[str, Any]) -> Any:
        return file_sha256(storage.annotated_path(inputs["image"]))

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        with Image.open(ctx.storage.annotated_path(inputs["image"])) as opened:
            img = ImageOps.exif_transpose(opened)
            if img.getbands() != ("R", "G", "B", "A"):
                if img.mode == "I":
                    img = img.point(lambda i: i * (1 / 255))
                img = img.convert("RGBA")
            band = inputs["channel"][0].upper()
            if band not in img.getbands():
                return NodeResult((Image.new("L", (64, 64), 0),))
            mask = img.getchannel(band)
            return NodeResult((mask.point(ONE_MINUS) if band == "A" else mask,))


# --- animated images --------------------------------------------------------------------------


class SaveAnimatedWEBP(Node):
    OUTPUT_NODE = True
    THREADED = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_images.py", 151, "save_images")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        images = [
            image.convert("RGB") if image.mode not in ("RGB", "RGBA") else image
            for image in frames(inputs["images"])
        ]
        folder, stem, counter, subfolder = _save_path(
            ctx, inputs["filename_prefix"], "output", images[0].size
        )
        exif = images[0].getexif()
        exif[0x0110] = f"prompt:{json.dumps(ctx.prompt)}"  # EXIF Model
        tag = 0x010F  # EXIF Make, then downwards
        for key, value in (ctx.extra_pnginfo or {}).items():
            exif[tag] = f"{key}:{json.dumps(value)}"
            tag -= 1
        name = f"{stem}_{counter:05}_.webp"
        images[0].save(
            os.path.join(folder, name),
            save_all=True,
            duration=int(1000.0 / inputs["fps"]),
            append_images=images[1:],
            exif=exif,
            lossless=inputs["lossless"],
            quality=inputs["quality"],
            method=WEBP_METHODS[inputs["method"]],
        )
        # num_frames 0 means all frames in one file; "animated" is num_frames != 1.
        ui = {"images": [_saved(name, subfolder, "output")], "animated": [len(images) != 1]}
        return NodeResult((), ui)


class SaveAnimatedPNG(Node):
    OUTPUT_NODE = True
    THREADED = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_images.py", 210, "save_images")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        images = frames(inputs["images"])
        folder, stem, counter, subfolder = _save_path(
            ctx, inputs.get("filename_prefix", "ComfyUI"), "output", images[0].size
        )
        metadata = PngInfo()
        chunks = {"prompt": ctx.prompt, **(ctx.extra_pnginfo or {})}
        for key, value in chunks.items():
            # "comf" chunks after IDAT, so every frame keeps the metadata out of its way.
            metadata.add(
                b"comf", key.encode("latin-1") + b"\0" + json.dumps(value).encode("latin-1"), after_idat=True
            )
        name = f"{stem}_{counter:05}_.png"
        images[0].save(
            os.path.join(folder, name),
            pnginfo=metadata,
            compress_level=inputs["compress_level"],
            save_all=True,
            duration=int(1000.0 / inputs["fps"]),
            append_images=images[1:],
        )
        return NodeResult((), {"images": [_saved(name, subfolder, "output")], "animated": [True]})


# --- video ------------------------------------------------------------------------------------


class CreateVideo(Node):
    RETURN_TYPES = ("VIDEO",)
    V3 = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_video.py", 139, "execute")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        components = Components(inputs["images"], Fraction(inputs["fps"]), inputs.get("audio"))
        return NodeResult((VideoFromComponents(components),))


class SaveVideo(Node):
    OUTPUT_NODE = True
    THREADED = True
    V3 = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_video.py", 109, "execute")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        video: Video = inputs["video"]
        fmt, codec = inputs.get("format", "auto"), inputs.get("codec", "auto")
        folder, stem, counter, subfolder = _save_path(
            ctx, inputs.get("filename_prefix", "video/ComfyUI"), "output", video.get_dimensions()
        )
        metadata: dict[str, Any] = {**(ctx.extra_pnginfo or {}), "prompt": ctx.prompt}
        name = f"{stem}_{counter:05}_.mp4"  # VideoContainer.get_extension: auto and mp4 are "mp4"
        video.save_to(os.path.join(folder, name), format=fmt, codec=codec, metadata=metadata)
        # ui.PreviewVideo: reported as images, always animated.
        return NodeResult((), {"images": [_saved(name, subfolder, "output")], "animated": [True]})


class GetVideoComponents(Node):
    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT")
    THREADED = True
    V3 = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_video.py", 163, "execute")

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        video: Video = inputs["video"]
        components = video.get_components()
        return NodeResult((components.images, components.audio, float(components.frame_rate)))


class LoadVideo(Node):
    RETURN_TYPES = ("VIDEO",)
    VALIDATE_INPUTS = ("file",)
    V3 = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_video.py", 188, "execute")

    def validate(self, storage: Storage, **inputs: Any) -> bool | str:
        file = inputs["file"]
        return True if storage.exists_annotated(file) else f"Invalid video file: {file}"

    def is_changed(self, storage: Storage, inputs: dict[str, Any]) -> Any:
        # fingerprint_inputs: the modification time, not a hash of a possibly large file.
        return os.path.getmtime(storage.annotated_path(inputs["file"]))

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        return NodeResult((VideoFromFile(ctx.storage.annotated_path(inputs["file"])),))


# --- audio ------------------------------------------------------------------------------------


class LoadAudio(Node):
    RETURN_TYPES = ("AUDIO",)
    VALIDATE_INPUTS = ("audio",)
    THREADED = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_audio.py", 333, "load")

    def validate(self, storage: Storage, **inputs: Any) -> bool | str:
        audio = inputs["audio"]
        return True if storage.exists_annotated(audio) else f"Invalid audio file: {audio}"

    def is_changed(self, storage: Storage, inputs: dict[str, Any]) -> Any:
        return file_sha256(storage.annotated_path(inputs["audio"]))

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        return NodeResult((decode_audio(ctx.storage.annotated_path(inputs["audio"])),))


class SaveAudio(Node):
    OUTPUT_NODE = True
    THREADED = True
    SOURCE = ("/opt/ComfyUI/comfy_extras/nodes_audio.py", 218, "save_flac")
    dir_type: ClassVar[str] = "output"

    def __init__(self) -> None:
        self.prefix_append = ""

    def run(self, ctx: NodeContext, **inputs: Any) -> NodeResult:
        audio: Audio = inputs["audio"]
        prefix = inputs.get("filename_prefix", "ComfyUI") + self.prefix_append
        folder, stem, counter, subfolder = _save_path(ctx, prefix, self.dir_type, (0, 0))
        metadata = {"prompt": json.dumps(ctx.prompt)}
        for key, value in (ctx.extra_pnginfo or {}).items():
            metadata[key] = json.dumps(value)
        # One file per waveform of the batch; the simulator's AUDIO is a batch of one.
        name = f"{stem.replace('%batch_num%', '0')}_{counter:05}_.flac"
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(encode_audio(audio, "flac", metadata))
        return NodeResult((), {"audio": [_saved(name, subfolder, self.dir_type)]})


class PreviewAudio(SaveAudio):
    dir_type = "temp"

    def __init__(self) -> None:
        self.prefix_append = "_temp_" + "".join(random.choice(_TEMP_LETTERS) for _ in range(5))


MEDIA_NODES: dict[str, type[Node]] = {
    "RepeatImageBatch": RepeatImageBatch,
    "ImageBatch": BatchImages,
    "ImageFlip": ImageFlip,
    "LoadImageMask": LoadImageMask,
    "SaveAnimatedWEBP": SaveAnimatedWEBP,
    "SaveAnimatedPNG": SaveAnimatedPNG,
    "CreateVideo": CreateVideo,
    "SaveVideo": SaveVideo,
    "GetVideoComponents": GetVideoComponents,
    "LoadVideo": LoadVideo,
    "LoadAudio": LoadAudio,
    "SaveAudio": SaveAudio,
    "PreviewAudio": PreviewAudio,
    "PreviewAny": PreviewAny,
    "PrimitiveString": PrimitiveString,
    "PrimitiveStringMultiline": PrimitiveStringMultiline,
    "PrimitiveInt": PrimitiveInt,
    "PrimitiveFloat": PrimitiveFloat,
    "PrimitiveBoolean": PrimitiveBoolean,
}

__all__ = ["MEDIA_NODES", "preview_text"]
