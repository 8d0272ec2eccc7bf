"""Assets as the ``current`` profile shows them (docs/comfyui-versions.md §6); 0.3.64 has none.

- ``register_upload``: the "asset" block of POST /upload/image (server.py image_upload).
- ``with_metadata`` / ``with_ids``: output entries gain "metadata" (media_enrichment, cached
  with the UI) and fresh "id"/"preview_id" on every emit, a cached replay included
  (asset_enrichment.register_executed_outputs / register_cached_outputs).
- ``seed_frames``: the assets.seed.started / completed pair a scan broadcasts (app/assets/
  seeder.py), started by GET /object_info. The scans ComfyUI also queues after prompts
  (prompt_worker queue_output_scan) and the progress / fast_complete / enrich frames are left
  out: a client must ignore every assets.* frame anyway.

ComfyUI hashes with BLAKE3, which the standard library lacks; ``asset_hash`` is "blake3:" and
64 hex digits of BLAKE2b-256 instead: the same shape, not the same value.
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
import uuid
from typing import Any

from PIL import Image

from simulator.files import Storage, guess_type


def _digest(path: str) -> str:
    with open(path, "rb") as handle:
        return "blake3:" + hashlib.blake2b(handle.read(), digest_size=32).hexdigest()


class Assets:
    """The asset ids handed out, and the files the seeder has seen."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.seen: set[str] = set()

    def register_upload(self, path: str, name: str, upload_type: str, subfolder: str) -> dict[str, Any]:
        self.seen.add(os.path.abspath(path))
        tags = [upload_type, *[part for part in subfolder.split("/") if part]]
        return {
            "id": str(uuid.uuid4()),
            "name": name,
            "asset_hash": _digest(path),
            "size": os.path.getsize(path),
            "mime_type": guess_type(name) or None,
            "tags": tags,
        }

    def _entry_path(self, entry: Any) -> str | None:
        """The file an output entry names, when it is a {filename, type} dict whose file lies
        inside its base directory and exists."""
        if not isinstance(entry, dict) or "filename" not in entry or "type" not in entry:
            return None
        base = self.storage.directory(entry["type"])
        if base is None:
            return None
        path = os.path.abspath(os.path.join(base, entry.get("subfolder") or "", entry["filename"]))
        if os.path.commonpath((base, path)) != base or not os.path.isfile(path):
            return None
        return path

    def with_metadata(self, ui: dict[str, Any]) -> dict[str, Any]:
        """The UI with "metadata" on each file entry (best effort: an image's size)."""
        out = copy.deepcopy(ui)
        for items in out.values():
            for entry in items if isinstance(items, list) else []:
                path = self._entry_path(entry)
                if path is None:
                    continue
                metadata: dict[str, Any] = {}
                try:
                    with Image.open(path) as image:
                        metadata = {"width": image.width, "height": image.height}
                except Exception:
                    metadata = {}
                entry["metadata"] = metadata
        return out

    def with_ids(self, ui: dict[str, Any] | None) -> dict[str, Any] | None:
        """The UI with a fresh asset "id" (and "preview_id", the same for a plain file) on each
        file entry, old ids dropped."""
        if ui is None:
            return None
        out = copy.deepcopy(ui)
        for items in out.values():
            for entry in items if isinstance(items, list) else []:
                if isinstance(entry, dict):
                    entry.pop("id", None)
                    entry.pop("preview_id", None)
                path = self._entry_path(entry)
                if path is None:
                    continue
                self.seen.add(path)
                asset_id = str(uuid.uuid4())
                entry["id"] = asset_id
                entry["preview_id"] = asset_id
        return out

    def seed_frames(self, roots: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
        """One scan of ``roots`` (name -> directory): the frames it broadcasts."""
        started = time.monotonic()
        files = [
            os.path.abspath(os.path.join(folder, name))
            for directory in roots.values()
            if os.path.isdir(directory)
            for folder, _, names in os.walk(directory)
            for name in names
        ]
        created = [f for f in files if f not in self.seen]
        self.seen.update(created)
        names = list(roots)
        return [
            ("assets.seed.started", {"roots": names, "total": len(files), "phase": "fast"}),
            (
                "assets.seed.completed",
                {
                    "phase": "fast",
                    "total": len(files),
                    "created": len(created),
                    "enriched": 0,
                    "skipped": len(files) - len(created),
                    "elapsed": round(time.monotonic() - started, 3),
                },
            ),
        ]
