"""Hostile uploads (SPEC §4, SECURITY.md): the decoded image decides, limits hold, the client's
file name is never a path, every refusal is JSON, and nothing half-written stays in storage."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import DatabaseError
from PIL import Image

from jobs.core import sql
from jobs.core.models import Upload
from tests.factories import png_bytes
from tests.security.clients import browser, error_of, upload

pytestmark = pytest.mark.django_db


def stored_files() -> list[Path]:
    root = Path(django_settings.COMFYWEB_FILES_DIR)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def encoded(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def test_the_type_comes_from_decoding_not_the_name_or_header():
    client = browser()
    jpeg = encoded(Image.new("RGB", (5, 4), (1, 2, 3)), "JPEG")
    answer = upload(client, jpeg, name="evil.html", content_type="text/html")
    assert answer.status_code == 201, answer.content
    stored = Upload.objects.get()
    assert stored.content_type == "image/jpeg" and stored.file.endswith(".jpg")
    served = client.get(answer.json()["url"])
    assert served["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "x.png"),
        (b"<html><script>alert(1)</script></html>", "x.jpg"),
        (b"GIF89a this is not really an image", "x.gif"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "x.png"),  # EPS would run Ghostscript
        (b"8BPS\x00\x01" + b"\x00" * 40, "x.png"),  # PSD: a parser we do not accept
        (b"MZ\x90\x00" + b"\x00" * 100, "x.png"),
        (png_bytes()[:-30], "truncated.png"),
        (png_bytes()[:40], "header-only.png"),
        (encoded(Image.new("RGB", (4, 4)), "TIFF"), "x.png"),  # decodable, but not an accepted type
        (encoded(Image.new("RGB", (4, 4)), "ICO"), "x.png"),
    ],
)
def test_what_does_not_decode_as_an_accepted_image_is_refused_and_writes_nothing(data, name):
    answer = upload(browser(), data, name=name)
    assert answer.status_code == 400 and error_of(answer)["code"] == "invalid_upload"
    assert not Upload.objects.exists() and stored_files() == []


def test_an_empty_file_is_refused():
    answer = upload(browser(), b"")
    assert answer.status_code == 400 and error_of(answer)["code"] in ("invalid_upload", "invalid_request")
    assert stored_files() == []


def test_too_many_bytes_is_413_and_writes_nothing(settings):
    settings.COMFYWEB_MAX_UPLOAD_BYTES = 1000
    big = encoded(Image.effect_noise((64, 64), 100).convert("RGB"), "PNG")
    assert len(big) > 1000
    answer = upload(browser(), big)
    assert answer.status_code == 413 and error_of(answer)["code"] == "upload_too_large"
    assert stored_files() == []


def test_too_many_pixels_is_413_and_writes_nothing(settings):
    settings.COMFYWEB_MAX_UPLOAD_PIXELS = 100
    answer = upload(browser(), png_bytes(11, 10))
    assert answer.status_code == 413 and error_of(answer)["code"] == "upload_too_large"
    assert upload(browser(), png_bytes(10, 10)).status_code == 201


@pytest.mark.parametrize("kind", ["PNG", "GIF"])
def test_a_decompression_bomb_is_refused_by_our_pixel_limit(kind):
    """A few kilobytes that would decode to 400 million pixels."""
    bomb = encoded(Image.new("1" if kind == "PNG" else "P", (20_000, 20_000)), kind)
    assert len(bomb) < 400_000
    answer = upload(browser(), bomb)
    assert answer.status_code == 413 and error_of(answer)["code"] == "upload_too_large"
    assert stored_files() == []


def test_a_decompression_bomb_is_refused_by_pillow_even_with_a_huge_pixel_limit(settings):
    settings.COMFYWEB_MAX_UPLOAD_PIXELS = 10**12
    bomb = encoded(Image.new("1", (12_000, 12_000)), "PNG")  # over Pillow's MAX_IMAGE_PIXELS
    answer = upload(browser(), bomb)
    assert answer.status_code == 413 and error_of(answer)["code"] == "upload_too_large"
    assert stored_files() == []


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../../../etc/passwd.png", "passwd.png"),
        ("..\\..\\windows\\win.ini.png", "win.ini.png"),
        ("/absolute/path.png", "path.png"),
        ("a\x00b\x1b[31m.png", "ab[31m.png"),
        ("...png", "...png"),
        ("‮gnp.exe", "gnp.exe"),
    ],
)
def test_the_file_name_is_never_a_path(name, shown):
    client = browser()
    answer = upload(client, png_bytes(), name=name)
    assert answer.status_code == 201, answer.content
    stored = Upload.objects.get()
    files = stored_files()
    assert len(files) == 1 and files[0].parent.name == "uploads"
    assert files[0].name == Path(stored.file).name and files[0].stem == files[0].stem.lower()
    assert len(files[0].stem) == 32, "the stored name is ours: a random hex id"
    assert stored.original_name == shown


def test_display_names_lose_directories_and_control_characters():
    from jobs.core.uploads import display_name

    assert display_name("") == "upload"
    assert display_name("x" * 1000 + ".png") == ("x" * 1000 + ".png")[:255]
    assert display_name("dir/sub\\file\u202e.png") == "file.png"


def test_a_database_failure_after_the_file_was_saved_deletes_the_file(monkeypatch):
    from jobs.core.uploads import accept_upload

    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(sql, "insert_rows", broken)  # where accept_upload stores the row
    with pytest.raises(DatabaseError):
        accept_upload("session", png_bytes(), "in.png")
    assert stored_files() == []


def test_a_database_failure_through_the_api_is_500_json_and_leaves_no_file(monkeypatch):
    client = browser()

    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(sql, "insert_rows", broken)  # where accept_upload stores the row
    answer = upload(client)
    assert answer.status_code == 500 and error_of(answer)["code"] == "internal"
    assert b"disk full" not in answer.content
    assert stored_files() == []


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"data": {}},
        {"data": {"not_file": "x"}},
        {"data": '{"file": "x"}', "content_type": "application/json"},
        {"data": b"--x\r\nbroken", "content_type": "multipart/form-data; boundary=x"},
        {"data": b"abc", "content_type": "multipart/form-data"},
    ],
)
def test_a_request_without_a_file_is_400_json(request_kwargs):
    client = browser()
    answer = client.post("/api/uploads/", HTTP_X_CSRFTOKEN=client.csrf, **request_kwargs)
    assert answer.status_code == 400, answer.content
    assert error_of(answer)["code"] in ("invalid_request", "bad_request")
    assert stored_files() == []
