"""What a server offers, read from its /object_info: node classes and model files.

A model file is a choice of a loader's combo input (CheckpointLoaderSimple.ckpt_name lists
the server's checkpoints). Models are keyed by the input that lists them,
"CheckpointLoaderSimple.ckpt_name", not by folder: /object_info does not say the folder, and
a workflow names its model through exactly that input, so placement compares like with like.

Two shapes of combo exist in ComfyUI: the classic `[[choices...], {options}]` and the V3
schema's `["COMBO", {"options": [...]}]`. Upload combos (LoadImage.image, anything marked
`image_upload`, `video_upload`, `audio_upload`…) list the server's *input* files, which
ComfyWeb uploads itself: they are neither inventory nor requirement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Loader inputs that name a model file, whatever the node's category says. Other combos of
# nodes in a loader category count too when their choices look like files (MODEL_SUFFIXES).
KNOWN_MODEL_INPUTS: dict[str, tuple[str, ...]] = {
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CheckpointLoader": ("ckpt_name",),  # its config_name lists the .yaml configs every install ships
    "ImageOnlyCheckpointLoader": ("ckpt_name",),
    "unCLIPCheckpointLoader": ("ckpt_name",),
    "LoraLoader": ("lora_name",),
    "LoraLoaderModelOnly": ("lora_name",),
    "VAELoader": ("vae_name",),
    "UNETLoader": ("unet_name",),
    "CLIPLoader": ("clip_name",),
    "DualCLIPLoader": ("clip_name1", "clip_name2"),
    "TripleCLIPLoader": ("clip_name1", "clip_name2", "clip_name3"),
    "QuadrupleCLIPLoader": ("clip_name1", "clip_name2", "clip_name3", "clip_name4"),
    "ControlNetLoader": ("control_net_name",),
    "DiffControlNetLoader": ("control_net_name",),
    "UpscaleModelLoader": ("model_name",),
    "CLIPVisionLoader": ("clip_name",),
    "StyleModelLoader": ("style_model_name",),
    "GLIGENLoader": ("gligen_name",),
    "HypernetworkLoader": ("hypernetwork_name",),
    "PhotoMakerLoader": ("photomaker_model_name",),
}

# What ComfyUI lists in a model folder (folder_paths.supported_pt_extensions), and GGUF/ONNX
# of the custom loaders. A loader choice without one (VAELoader's "pixel_space", the "taesd"
# decoders it builds from vae_approx) is no file anyone copies: neither inventory nor need.
MODEL_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".pt2", ".bin", ".pkl", ".gguf", ".onnx")
UPLOAD_MARKS = ("image_upload", "video_upload", "audio_upload", "upload", "image_folder", "remote")


def model_key(class_type: str, input_name: str) -> str:
    return f"{class_type}.{input_name}"


def combo_choices(spec: Any) -> tuple[list[str], dict[str, Any]] | None:
    """The choices and options of a combo input spec in either shape, or None if not a combo."""
    if not isinstance(spec, list | tuple) or not spec:
        return None
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
    if isinstance(kind, list | tuple):
        return [str(c) for c in kind], dict(options)
    if kind == "COMBO" and isinstance(options.get("options"), list | tuple):
        return [str(c) for c in options["options"]], dict(options)
    return None


def is_upload(options: Mapping[str, Any]) -> bool:
    return any(options.get(mark) for mark in UPLOAD_MARKS)


def is_model_file(name: str) -> bool:
    return name.lower().endswith(MODEL_SUFFIXES)


def _looks_like_files(choices: list[str]) -> bool:
    """An empty list (a folder with no files) or choices that are file names."""
    return all(is_model_file(c) for c in choices)


def _is_loader(entry: Mapping[str, Any]) -> bool:
    category = str(entry.get("category") or "").lower()
    return any(part.endswith("loaders") for part in category.split("/"))


def model_inputs(class_type: str, entry: Mapping[str, Any]) -> dict[str, list[str]]:
    """Input name → model files, for one node's /object_info entry."""
    found: dict[str, list[str]] = {}
    known = KNOWN_MODEL_INPUTS.get(class_type, ())
    loader = _is_loader(entry)
    inputs = entry.get("input") if isinstance(entry.get("input"), Mapping) else {}
    for section in ("required", "optional"):
        specs = inputs.get(section) if isinstance(inputs, Mapping) else None
        if not isinstance(specs, Mapping):
            continue
        for name, spec in specs.items():
            combo = combo_choices(spec)
            if combo is None or is_upload(combo[1]):
                continue
            choices = combo[0]
            if name in known or (loader and _looks_like_files(choices)):
                found[str(name)] = [c for c in choices if is_model_file(c)]
    return found


@dataclass(frozen=True)
class Inventory:
    """A server's node classes and, per model input ("Class.input"), the files it lists."""

    node_classes: frozenset[str]
    models: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def has_model(self, key: str, file: str) -> bool:
        return file in self.models.get(key, frozenset())

    def files(self) -> set[str]:
        """Every model file name it lists, whatever input lists it."""
        return set().union(*self.models.values()) if self.models else set()

    def models_json(self) -> dict[str, list[str]]:
        return {key: sorted(files) for key, files in sorted(self.models.items())}


def parse_object_info(info: Mapping[str, Any]) -> Inventory:
    """The inventory of one server from its whole /object_info answer."""
    models: dict[str, frozenset[str]] = {}
    for class_type, entry in info.items():
        if not isinstance(entry, Mapping):
            continue
        for name, choices in model_inputs(str(class_type), entry).items():
            models[model_key(str(class_type), name)] = frozenset(choices)
    return Inventory(frozenset(str(c) for c in info), models)


def inventory_from_json(classes: Iterable[str] | None, models: Mapping[str, Any] | None) -> Inventory | None:
    """The stored form back (Server.node_classes, Server.models); None when never read."""
    if classes is None or models is None:
        return None
    return Inventory(
        frozenset(classes),
        {str(k): frozenset(str(f) for f in v) for k, v in models.items() if isinstance(v, list)},
    )


def is_model_input(class_type: str, input_name: str, known_keys: Iterable[str] = ()) -> bool:
    """Whether a graph input names a model file: a known loader input, or one that some
    server's inventory lists as a model input."""
    return input_name in KNOWN_MODEL_INPUTS.get(class_type, ()) or model_key(class_type, input_name) in set(
        known_keys
    )
