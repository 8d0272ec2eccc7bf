"""jobs.core.storage: files written straight to the local disk, as Django's storage would
write them, and through Django's storage anywhere else."""

from __future__ import annotations

import io
import shutil
import uuid
from pathlib import Path

from django.core.files.storage import storages

from jobs.core import storage


def test_a_result_is_written_under_its_name_and_written_again_in_place(settings):
    job = uuid.uuid4()
    name = storage.save_output(job, "9", 0, b"first", "png")
    assert name == f"outputs/{job.hex}/9_0.png"
    path = Path(settings.COMFYWEB_FILES_DIR) / name
    assert path.read_bytes() == b"first"
    assert storage.save_output(job, "9", 0, b"again", "png") == name, "a repeated completion: one file"
    assert path.read_bytes() == b"again" and storage.read_bytes(name) == b"again"


def test_a_removed_directory_is_made_again_and_a_stream_is_copied_whole(settings):
    job = uuid.uuid4()
    storage.save_output(job, "1", 0, b"x", "txt")
    shutil.rmtree(Path(settings.COMFYWEB_FILES_DIR) / "outputs" / job.hex)
    big = bytes(range(256)) * 10_000  # over one chunk
    name = storage.save_output_file(job, "1", 1, io.BytesIO(big), "bin")
    assert storage.read_bytes(name) == big and storage.size(name) == len(big)


def test_an_upload_is_stored_under_a_fresh_name():
    one, two = storage.save_upload(b"a", "png"), storage.save_upload(b"a", "png")
    assert one != two and one.startswith("uploads/") and storage.read_bytes(one) == b"a"


def test_another_storage_is_written_through_django(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "comfyweb": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    name = storage.save_output(uuid.uuid4(), "9", 0, b"in memory", "png")
    assert storages["comfyweb"].open(name).read() == b"in memory"
    assert not (Path(settings.COMFYWEB_FILES_DIR) / name).exists()
