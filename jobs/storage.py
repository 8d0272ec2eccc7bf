"""Private file storage for uploads and results: never served by a public URL.

Outputs are stored under a name fixed by (job, node, index), so completing the same
attempt twice writes the same file again instead of a second copy (SPEC §2.6).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage


def _storage(allow_overwrite: bool = False) -> FileSystemStorage:
    return FileSystemStorage(
        location=settings.COMFYWEB_FILES_DIR, base_url=None, allow_overwrite=allow_overwrite
    )


def save_upload(data: bytes, extension: str) -> str:
    name = f"uploads/{uuid.uuid4().hex}.{extension}"
    return _storage().save(name, ContentFile(data))


def save_output(job_id: uuid.UUID | str, node_id: str, index: int, data: bytes, extension: str) -> str:
    safe_node = "".join(c if c.isalnum() else "_" for c in str(node_id))
    name = f"outputs/{uuid.UUID(str(job_id)).hex}/{safe_node}_{index}.{extension}"
    return _storage(allow_overwrite=True).save(name, ContentFile(data))


def open_file(name: str):
    return _storage().open(name, "rb")


def read_bytes(name: str) -> bytes:
    with _storage().open(name, "rb") as handle:
        return handle.read()


def delete(name: str) -> None:
    _storage().delete(name)


def path(name: str) -> str:
    return _storage().path(name)
