"""Uploads by name, as ComfyUI's /upload/image names them (PROTOCOL.md §1), per owner.

A ComfyUI client refers to its upload by the name the server answered, `[subfolder/]file`.
ComfyWeb keeps the file as any upload (jobs.core.uploads: checked, stored under a name it
makes) and records that name per owner: the same bytes under a taken name give the same
name back and keep nothing new; other bytes get "stem (1).ext", unless `overwrite`, which
moves the name to the new upload. The relay sends the file to whichever server runs the
job, under a name of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from jobs.core import storage
from jobs.core.errors import ServiceError
from jobs.core.models import Upload
from jobs.core.uploads import accept_upload, display_name

MAX_SUBFOLDER = 100


@dataclass(frozen=True)
class Named:
    upload: Upload
    name: str  # the file's name, without the subfolder
    subfolder: str

    @property
    def input_name(self) -> str:
        return f"{self.subfolder}/{self.name}" if self.subfolder else self.name


def clean_subfolder(subfolder: str) -> str:
    """A subfolder as sent, refused when it would leave the folder (ComfyUI answers 400)."""
    parts = [p for p in subfolder.replace("\\", "/").split("/") if p not in ("", ".")]
    if subfolder.startswith("/") or ".." in parts or len(subfolder) > MAX_SUBFOLDER:
        raise ServiceError("invalid_upload", "The subfolder leaves the input folder.")
    return "/".join(parts)


def _variant(name: str, number: int) -> str:
    stem, dot, extension = name.rpartition(".")
    return f"{stem} ({number}).{extension}" if dot and stem else f"{name} ({number})"


def accept_named(
    owner: str, data: bytes, filename: str, subfolder: str = "", overwrite: bool = False
) -> Named:
    folder = clean_subfolder(subfolder)
    name = display_name(filename)
    upload = accept_upload(owner, data, name)
    with transaction.atomic():
        number = 0
        while True:
            candidate = _variant(name, number) if number else name
            wanted = f"{folder}/{candidate}" if folder else candidate
            taken = Upload.objects.filter(session_key=owner, input_name=wanted).exclude(id=upload.id).first()
            if taken is None:
                break
            if taken.sha256 == upload.sha256:  # the same bytes: that upload, nothing new kept
                Upload.objects.filter(id=upload.id).delete()
                storage.delete(upload.file)
                return Named(taken, candidate, folder)
            if overwrite:
                Upload.objects.filter(id=taken.id).update(input_name="")
                break
            number += 1
        Upload.objects.filter(id=upload.id).update(input_name=wanted)
        upload.input_name = wanted
    return Named(upload, candidate, folder)
