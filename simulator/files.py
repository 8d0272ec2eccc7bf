"""The input, output and temp directories, with ComfyUI's naming and path rules.

Path checks mirror server.py (upload, /view) and folder_paths.get_save_image_path,
including their use of os.path.commonpath on absolute path strings.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}

# What the recording host's mimetypes (Debian's /etc/mime.types, plus server.py's image/webp)
# says of media files: fixed here so /view and the LoadVideo / LoadAudio lists do not depend
# on the machine the simulator runs on. Other names go through mimetypes as before.
MEDIA_TYPES = {
    ".webp": "image/webp",
    ".apng": "image/apng",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".flac": "audio/flac",
    ".wav": "audio/x-wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
}


class PathEscape(Exception):
    """A name that would leave its base directory."""


class Storage:
    """Owns the three directories of one simulated server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirs = {
            "input": os.path.abspath(root / "input"),
            "output": os.path.abspath(root / "output"),
            "temp": os.path.abspath(root / "temp"),
        }
        for path in self.dirs.values():
            os.makedirs(path, exist_ok=True)

    def directory(self, dir_type: str | None) -> str | None:
        return self.dirs.get(dir_type or "")

    # --- uploads ---------------------------------------------------------------------------

    def store_upload(
        self, data: bytes, filename: str, subfolder: str, upload_dir: str, overwrite: bool
    ) -> str:
        """Store an upload and return the name ComfyUI reports (see PROTOCOL §1 upload).

        Same name with identical bytes: nothing written, same name back. Different bytes:
        "stem (1).ext", "(2)", ... Raises PathEscape for names that leave the directory.
        """
        full_folder = os.path.join(upload_dir, os.path.normpath(subfolder))
        filepath = os.path.abspath(os.path.join(full_folder, filename))
        if os.path.commonpath((upload_dir, filepath)) != upload_dir:
            raise PathEscape(filename)
        os.makedirs(full_folder, exist_ok=True)
        stem, ext = os.path.splitext(filename)
        if not overwrite:
            i = 1
            while os.path.exists(filepath):
                if _sha256_file(filepath) == hashlib.sha256(data).hexdigest():
                    return filename
                filename = f"{stem} ({i}){ext}"
                filepath = os.path.join(full_folder, filename)
                i += 1
        with open(filepath, "wb") as handle:
            handle.write(data)
        return filename

    # --- annotated names as LoadImage takes them -------------------------------------------

    def annotated_path(self, name: str) -> str:
        """Resolve "sub/name.png" or "name.png [output]" like folder_paths does."""
        name, dir_type = split_annotation(name)
        return os.path.join(self.dirs[dir_type or "input"], name)

    def exists_annotated(self, name: str) -> bool:
        return os.path.exists(self.annotated_path(name))

    def input_images(self) -> list[str]:
        """Files LoadImage offers: top-level image files of the input dir, sorted."""
        folder = self.dirs["input"]
        names = [f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f))]
        return sorted(n for n in names if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS)

    def input_files(self, kinds: tuple[str, ...] | None = None) -> list[str]:
        """Top-level files of the input dir, sorted; with ``kinds``, only those whose MIME main
        type is one of them (folder_paths.filter_files_content_types: LoadVideo asks for
        "video", LoadAudio for "audio" and "video"; LoadImageMask lists every file)."""
        folder = self.dirs["input"]
        names = sorted(f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f)))
        if kinds is None:
            return names
        return [n for n in names if guess_type(n).split("/")[0] in kinds]

    # --- /view ------------------------------------------------------------------------------

    def view_path(self, filename: str, subfolder: str | None, dir_type: str) -> str | int:
        """The file to serve, or the HTTP status to answer (400, 403, 404) as server.py does."""
        filename, annotated_type = split_annotation(filename)
        base = self.dirs[annotated_type] if annotated_type else None
        if not filename or filename[0] == "/" or ".." in filename:
            return 400
        if base is None:
            base = self.directory(dir_type)
            if base is None:
                return 400
        if subfolder is not None:
            full = os.path.join(base, subfolder)
            if os.path.commonpath((os.path.abspath(full), base)) != base:
                return 403
            base = full
        path = os.path.join(base, os.path.basename(filename))
        return path if os.path.isfile(path) else 404

    # --- SaveImage / PreviewImage -----------------------------------------------------------

    def save_image_path(self, filename_prefix: str, dir_type: str) -> tuple[str, str, int, str]:
        """(folder, filename stem, next counter, subfolder), as get_save_image_path computes.

        The counter is one more than the highest "<stem>_NNNNN_" already in the folder, so
        it is per prefix and survives restarts of the simulator with the same data dir.
        """
        output_dir = self.dirs[dir_type]
        subfolder = os.path.dirname(os.path.normpath(filename_prefix))
        filename = os.path.basename(os.path.normpath(filename_prefix))
        full_folder = os.path.join(output_dir, subfolder)
        if os.path.commonpath((output_dir, os.path.abspath(full_folder))) != output_dir:
            raise Exception(
                "**** ERROR: Saving image outside the output folder is not allowed."
                f"\n full_output_folder: {os.path.abspath(full_folder)}"
                f"\n         output_dir: {output_dir}"
            )
        try:
            counter = max(_counters(filename, os.listdir(full_folder)), default=0) + 1
        except FileNotFoundError:
            os.makedirs(full_folder, exist_ok=True)
            counter = 1
        return full_folder, filename, counter, subfolder


def split_annotation(name: str) -> tuple[str, str | None]:
    """ "x.png [output]" -> ("x.png", "output"), as folder_paths.annotated_filepath."""
    for tag, dir_type in (("[output]", "output"), ("[input]", "input"), ("[temp]", "temp")):
        if name.endswith(tag):
            return name[: -len(tag) - 1], dir_type
    return name, None


def _counters(filename: str, names: list[str]) -> list[int]:
    """Counters of existing files named "<filename>_<digits>_..." (map_filename in ComfyUI)."""
    found = []
    for name in names:
        prefix = name[: len(filename) + 1]
        if os.path.normcase(prefix[:-1]) != os.path.normcase(filename) or prefix[-1:] != "_":
            continue
        try:
            found.append(int(name[len(filename) + 1 :].split("_")[0]))
        except ValueError:
            found.append(0)
    return found


def _sha256_file(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def file_sha256(path: str) -> str:
    """LoadImage's IS_CHANGED value: the SHA-256 of the file."""
    return _sha256_file(path)


def guess_type(filename: str) -> str:
    """The MIME type of a file name, "" when unknown."""
    media = MEDIA_TYPES.get(os.path.splitext(filename)[1].lower())
    return media or mimetypes.guess_type(filename)[0] or ""


def content_type(filename: str) -> str:
    """/view's Content-Type: guessed, with active types forced to a download."""
    guessed = guess_type(filename) or "application/octet-stream"
    risky = {"text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css"}
    return "application/octet-stream" if guessed in risky else guessed
