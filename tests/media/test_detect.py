"""The media detector on real files of each kind: the bytes decide, never the name."""

import pytest

from jobs.media.detect import describe
from jobs.media.poster import first_frame
from tests import media_files

CASES = [
    # name the server gave, bytes, media, content type, extension
    ("ComfyUI_00001_.png", media_files.still("PNG"), "image", "image/png", "png"),
    ("x.jpg", media_files.still("JPEG"), "image", "image/jpeg", "jpg"),
    ("ComfyUI_00001_.webp", media_files.animation("WEBP"), "animated", "image/webp", "webp"),
    ("ComfyUI_00001_.png", media_files.animation("PNG"), "animated", "image/png", "png"),
    ("a.gif", media_files.animation("GIF"), "animated", "image/gif", "gif"),
    ("ComfyUI_00001_.mp4", media_files.mp4(), "video", "video/mp4", "mp4"),
    ("ComfyUI_00001_.flac", media_files.flac(), "audio", "audio/flac", "flac"),
    ("speech.wav", media_files.wav(), "audio", "audio/wav", "wav"),
    ("mesh.glb", media_files.glb(), "3d", "model/gltf-binary", "glb"),
    ("caption.txt", "a caption, ünïcode".encode(), "text", "text/plain; charset=utf-8", "txt"),
    ("blob.bin", bytes(range(256)) * 4, "file", "application/octet-stream", "bin"),
]


@pytest.mark.parametrize(
    ("name", "data", "media", "content_type", "extension"), CASES, ids=[c[2] + ":" + c[0] for c in CASES]
)
def test_each_kind_is_told_from_its_bytes(tmp_path, name, data, media, content_type, extension):
    path = tmp_path / "f"
    path.write_bytes(data)
    info = describe(path, name)
    assert (info.media, info.content_type, info.extension) == (media, content_type, extension)


@pytest.mark.parametrize(
    ("name", "data", "media", "content_type", "extension"), CASES, ids=[c[2] + ":" + c[0] for c in CASES]
)
def test_an_open_file_is_told_as_its_path_is(tmp_path, name, data, media, content_type, extension):
    """A result held in memory (jobs.relay.completion) is described from the open file, read
    from its start wherever it stands, with the same figures as from a path."""
    import tempfile

    path = tmp_path / "f"
    path.write_bytes(data)
    with tempfile.SpooledTemporaryFile(1 << 20) as part:
        part.write(data)  # left at its end, as a download leaves it
        assert describe(part, name) == describe(path, name)


@pytest.mark.parametrize("data", [c[1] for c in CASES], ids=[c[2] + ":" + c[0] for c in CASES])
def test_the_quick_signatures_say_what_puremagics_table_says(data):
    from jobs.media import detect

    head = data[: detect.HEAD_BYTES]
    assert detect._magic(head)[0] == detect._table(head)[0]


def test_a_name_never_overrules_the_bytes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(media_files.mp4())
    assert describe(path, "ComfyUI_00001_.png").media == "video", "an MP4 reported as an image"
    path.write_bytes(media_files.still("PNG"))
    assert describe(path, "clip.mp4").media == "image"


def test_figures_of_each_media(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(media_files.mp4(count=8, fps=8, size=(32, 24)))
    video = describe(path)
    assert (video.width, video.height, video.frames) == (32, 24, 8)
    assert video.duration == pytest.approx(1.0, abs=0.15)
    assert first_frame(path, video).size == (32, 24)
    path.write_bytes(media_files.flac(seconds=2.0))
    audio = describe(path)
    assert audio.duration == pytest.approx(2.0, abs=0.05) and first_frame(path, audio) is None
    path.write_bytes(media_files.animation("WEBP", count=4))
    animated = describe(path)
    assert animated.frames == 4 and animated.duration == pytest.approx(0.5)
    assert first_frame(path, animated).size == (32, 24)


def test_broken_and_empty_files_are_plain_downloads(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"")
    assert describe(path).media == "file"
    path.write_bytes(media_files.mp4()[:200])  # a truncated video: the container is unreadable
    assert describe(path, "clip.mp4").media in ("file", "video")
    path.write_bytes(media_files.still("PNG")[:60])
    assert describe(path).media == "file"
