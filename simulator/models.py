"""The model files one simulated server holds, with ComfyUI 0.3.64's folder rules (folder_paths.py).

There are no real files: a model is a name in a folder. The rules a client can observe are
kept: the folder names and their order (GET /models), the legacy aliases ``unet`` and
``clip``, the extension filter, sorted lists, ``sub/name.safetensors`` for files in
subfolders, and the FileNotFoundError of get_full_path_or_raise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.errors import with_frames

SUPPORTED_PT_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})

# folder_paths.folder_names_and_paths, in its order (GET /models lists these keys).
FOLDER_NAMES = (
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "custom_nodes",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
)
# folder_paths.map_legacy; models/unet and models/clip are also read for these folders.
ALIASES = {"unet": "diffusion_models", "clip": "text_encoders"}
# Folders whose files are not model weights: a different extension rule, or none to configure.
_EXTENSIONS = {"configs": frozenset({".yaml"})}
_NOT_CONFIGURABLE = frozenset({"diffusers", "custom_nodes", "classifiers"})
# models/configs of a fresh install (shipped in the ComfyUI repository).
DEFAULT_CONFIGS = (
    "anything_v3.yaml",
    "v1-inference.yaml",
    "v1-inference_clip_skip_2.yaml",
    "v1-inference_clip_skip_2_fp16.yaml",
    "v1-inference_fp16.yaml",
    "v1-inpainting-inference.yaml",
    "v2-inference-v.yaml",
    "v2-inference-v_fp32.yaml",
    "v2-inference.yaml",
    "v2-inference_fp32.yaml",
    "v2-inpainting-inference.yaml",
)

# VAELoader.vae_list: a TAESD name is offered when both halves are in vae_approx.
_TAESD = (
    ("taesd", "taesd_decoder.", "taesd_encoder."),
    ("taesdxl", "taesdxl_decoder.", "taesdxl_encoder."),
    ("taesd3", "taesd3_decoder.", "taesd3_encoder."),
    ("taef1", "taef1_decoder.", "taef1_encoder."),
)


_RAISE_FRAME = ("/opt/ComfyUI/folder_paths.py", 308, "get_full_path_or_raise")


class ModelSpecError(ValueError):
    """A model entry that names no known folder or no usable file."""


def canonical_folder(folder: str) -> str:
    """The folder name ComfyUI files a name under (map_legacy), or ModelSpecError."""
    name = ALIASES.get(folder, folder)
    if name not in FOLDER_NAMES or name in _NOT_CONFIGURABLE:
        allowed = ", ".join(f for f in FOLDER_NAMES if f not in _NOT_CONFIGURABLE)
        raise ModelSpecError(f"unknown model folder {folder!r} (known: {allowed}; aliases: unet, clip)")
    return name


def _check_file(folder: str, name: str) -> str:
    """A relative file name with forward slashes, as get_filename_list reports it."""
    clean = name.strip().replace("\\", "/")
    parts = clean.split("/")
    if not clean or any(part in ("", ".", "..") for part in parts):
        raise ModelSpecError(f"bad model file name {name!r} in folder {folder!r}")
    extensions = _EXTENSIONS.get(folder, SUPPORTED_PT_EXTENSIONS)
    if Path(clean).suffix.lower() not in extensions:
        raise ModelSpecError(
            f"{folder}/{clean}: ComfyUI would not list this file; "
            f"the extension must be one of {', '.join(sorted(extensions))}"
        )
    return clean


def split_entry(entry: str) -> tuple[str, str]:
    """ "loras/sub/ink.safetensors" -> ("loras", "sub/ink.safetensors")."""
    folder, sep, name = entry.strip().partition("/")
    if not sep:
        raise ModelSpecError(f"model entry {entry!r} must be folder/file, e.g. checkpoints/sd15.safetensors")
    canonical = canonical_folder(folder)
    return canonical, _check_file(canonical, name)


@dataclass
class ModelSpec:
    """A parsed model set: the files by folder, and the load times given for some of them
    ("folder/file" -> seconds; see simulator.residency)."""

    files: dict[str, list[str]] = field(default_factory=dict)
    load_seconds: dict[str, float] = field(default_factory=dict)


def _entry(item: Any, where: str) -> tuple[str, float | None]:
    """A file entry: a name, or {"name": name, "load_seconds": seconds} (a per-file load time)."""
    if isinstance(item, str):
        return item, None
    if isinstance(item, Mapping):
        unknown = set(item) - {"name", "load_seconds"}
        name, seconds = item.get("name"), item.get("load_seconds")
        if unknown:
            raise ModelSpecError(f"unknown keys {sorted(unknown)} in {where} (allowed: name, load_seconds)")
        if not isinstance(name, str):
            raise ModelSpecError(f"an entry of {where} needs a string name, got {item!r}")
        if seconds is None:
            return name, None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            raise ModelSpecError(f"load_seconds of {name!r} must be a number of seconds >= 0")
        return name, float(seconds)
    raise ModelSpecError(f"file names must be strings, got {item!r} in {where}")


def parse_spec(spec: Any) -> ModelSpec:
    """A model set from {"folder": [files]} or ["folder/file", ...]; a file may also be
    {"name": ..., "load_seconds": s}. ModelSpecError if malformed."""
    result: dict[str, set[str]] = {}
    seconds: dict[str, float] = {}

    def add(folder: str, name: str, load: float | None) -> None:
        result.setdefault(folder, set()).add(name)
        if load is not None:
            seconds[f"{folder}/{name}"] = load

    if isinstance(spec, Mapping):
        for folder, files in spec.items():
            if not isinstance(folder, str) or not isinstance(files, list | tuple):
                raise ModelSpecError(f"folder {folder!r} must map to a list of file names")
            canonical = canonical_folder(folder)
            for item in files:
                name, load = _entry(item, repr(folder))
                add(canonical, _check_file(canonical, name), load)
    elif isinstance(spec, list | tuple):
        for item in spec:
            if not isinstance(item, str | Mapping):
                raise ModelSpecError(f"model entries must be 'folder/file' strings, got {item!r}")
            entry, load = _entry(item, "the model list")
            add(*split_entry(entry), load)
    else:
        raise ModelSpecError("models must be a JSON object {folder: [files]} or a list of 'folder/file'")
    files = {folder: sorted(names) for folder, names in result.items()}
    return ModelSpec(files, seconds)


def normalize(spec: Any) -> dict[str, list[str]]:
    """The files of ``spec`` (parse_spec without the load times)."""
    return parse_spec(spec).files


def parse_cli(value: str) -> ModelSpec:
    """--models: a path to a JSON file, or comma-separated folder/file entries."""
    path = Path(value)
    if value.lower().endswith(".json") or path.is_file():
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except OSError as ex:
            raise ModelSpecError(f"cannot read {value}: {ex.strerror}") from ex
        except json.JSONDecodeError as ex:
            raise ModelSpecError(f"{value} is not JSON: {ex}") from ex
        return parse_spec(spec)
    entries = [entry for entry in value.split(",") if entry.strip()]
    if not entries:
        raise ModelSpecError("no model entries given")
    return parse_spec(entries)


class ModelSet:
    """The model files of one server, changeable while it runs (files copied onto it)."""

    def __init__(self, models: Mapping[str, Iterable[str]] | None = None) -> None:
        self._files: dict[str, set[str]] = {}
        self.replace(normalize(dict(models or {})))

    def replace(self, models: Mapping[str, Iterable[str]]) -> None:
        self._files = {folder: set(files) for folder, files in normalize(dict(models)).items()}

    def add(self, entries: Iterable[str]) -> None:
        for entry in entries:
            folder, name = split_entry(entry)
            self._files.setdefault(folder, set()).add(name)

    def remove(self, entries: Iterable[str]) -> None:
        for entry in entries:
            folder, name = split_entry(entry)
            self._files.get(folder, set()).discard(name)

    def files(self, folder: str) -> list[str]:
        """folder_paths.get_filename_list: sorted, aliases mapped."""
        name = ALIASES.get(folder, folder)
        found = set(self._files.get(name, ()))
        if name == "configs":
            found.update(DEFAULT_CONFIGS)
        return sorted(found)

    def as_dict(self) -> dict[str, list[str]]:
        return {folder: sorted(files) for folder, files in self._files.items() if files}

    def vae_list(self) -> list[str]:
        """nodes.py VAELoader.vae_list (the taef1 flags are swapped there; both halves count)."""
        vaes = self.files("vae")
        approx = self.files("vae_approx")
        for name, decoder, encoder in _TAESD:
            has_dec = any(v.startswith(decoder) for v in approx)
            has_enc = any(v.startswith(encoder) for v in approx)
            if has_dec and has_enc:
                vaes.append(name)
        vaes.append("pixel_space")
        return vaes

    def full_path_or_raise(self, folder: str, filename: str) -> str:
        """folder_paths.get_full_path_or_raise; the path is made up (there are no files)."""
        name = ALIASES.get(folder, folder)
        if filename not in self.files(name):
            missing = FileNotFoundError(f"Model in folder '{folder}' with filename '{filename}' not found.")
            raise with_frames(missing, _RAISE_FRAME)
        return f"/opt/ComfyUI/models/{name}/{filename}"
