"""Private file storage for uploads and results: never served by a public URL.

Everything goes through Django's storage API (the `comfyweb` entry of STORAGES), so several
machines can share a volume or an object store by configuration alone. Outputs are stored
under a name fixed by (job, node, index), so completing the same attempt twice writes the
same file again instead of a second copy (SPEC §2.6).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages


def _storage() -> Storage:
    # The configured storage must replace a file saved under an existing name (outputs are
    # written again on a repeated completion): FileSystemStorage with allow_overwrite, or an
    # object store, which overwrites by nature.
    return storages["comfyweb"]


def save_upload(data: bytes, extension: str) -> str:
    name = f"uploads/{uuid.uuid4().hex}.{extension}"
    return _storage().save(name, ContentFile(data))


def _output_name(job_id: uuid.UUID | str, node_id: str, index: int, extension: str) -> str:
    safe_node = "".join(c if c.isalnum() else "_" for c in str(node_id))
    return f"outputs/{uuid.UUID(str(job_id)).hex}/{safe_node}_{index}.{extension}"


def save_output(job_id: uuid.UUID | str, node_id: str, index: int, data: bytes, extension: str) -> str:
    return _storage().save(_output_name(job_id, node_id, index, extension), ContentFile(data))


def save_output_file(
    job_id: uuid.UUID | str, node_id: str, index: int, source: IO[bytes], extension: str
) -> str:
    """Store a downloaded result from an open file (from its start), read in chunks (videos
    run to gigabytes)."""
    source.seek(0)
    return _storage().save(_output_name(job_id, node_id, index, extension), File(source))


@contextlib.contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """The stored file as a local path (for PyAV, which reads files), a temporary copy when
    the storage is not the local disk."""
    storage = _storage()
    try:
        local = storage.path(name)
    except NotImplementedError:  # an object store: no local path
        local = None
    if local is not None:
        yield Path(local)
        return
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix) as copy, storage.open(name, "rb") as source:
        shutil.copyfileobj(source, copy)
        copy.flush()
        yield Path(copy.name)


def open_file(name: str):
    return _storage().open(name, "rb")


def read_bytes(name: str) -> bytes:
    with _storage().open(name, "rb") as handle:
        return handle.read()


def size(name: str) -> int:
    return _storage().size(name)


def delete(name: str) -> None:
    _storage().delete(name)
