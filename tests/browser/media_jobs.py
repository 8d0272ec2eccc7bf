"""Finished jobs of every media for the browser tests: workflows of the simulator's media nodes
(animated WEBP, MP4 video, FLAC audio, PreviewAny text) run through the API, and a 3D model and a
plain file added as outputs of a finished job (no model-free ComfyUI node writes those)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page

from tests.browser.pages import add_workflow, scene_png, submit, upload, wait_jobs_done
from tests.live import LiveApp
from tests.media_files import glb, wav
from tests.paths import REPO

HARBOUR = ((70, 130, 200), (200, 225, 245), (250, 210, 90), (60, 140, 90), (235, 215, 190))
CAPTION = "A harbour at dawn,\nfour frames long."


def _load_image() -> dict:
    return {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "Load Image"}}


def _frames() -> dict:
    """Nodes 1-4: the picture and its inversion, twice over: four frames that differ."""
    return {
        "1": _load_image(),
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageBatch", "inputs": {"image1": ["1", 0], "image2": ["2", 0]}},
        "4": {"class_type": "RepeatImageBatch", "inputs": {"image": ["3", 0], "amount": 2}},
    }


IMAGE_PARAM = {"name": "image", "type": "image", "node": "1", "input": "image", "label": "Image"}

VIDEO = {
    "slug": "media-video",
    "name": "Blink video",
    "description": "A picture and its inversion as an MP4 video.",
    "graph": {
        **_frames(),
        "5": {"class_type": "CreateVideo", "inputs": {"images": ["4", 0], "fps": 4.0}},
        "6": {
            "class_type": "SaveVideo",
            "inputs": {
                "video": ["5", 0],
                "filename_prefix": "video/ComfyUI",
                "format": "auto",
                "codec": "auto",
            },
        },
    },
    "params": [IMAGE_PARAM],
}

ANIMATED = {
    "slug": "media-animated",
    "name": "Blink animation",
    "description": "A picture and its inversion as an animated WEBP.",
    "graph": {
        **_frames(),
        "5": {
            "class_type": "SaveAnimatedWEBP",
            "inputs": {
                "images": ["4", 0],
                "filename_prefix": "ComfyUI",
                "fps": 4.0,
                "lossless": False,
                "quality": 85,
                "method": "default",
            },
        },
    },
    "params": [IMAGE_PARAM],
}

AUDIO = {
    "slug": "media-audio",
    "name": "Audio copy",
    "description": "Saves a sound as FLAC.",
    "graph": {
        "1": {"class_type": "LoadAudio", "inputs": {"audio": "x.wav"}},
        "2": {"class_type": "SaveAudio", "inputs": {"audio": ["1", 0], "filename_prefix": "audio/ComfyUI"}},
    },
    "params": [{"name": "audio", "type": "audio", "node": "1", "input": "audio", "label": "Sound"}],
}

TEXT = {
    "slug": "media-text",
    "name": "Caption",
    "description": "Shows a text.",
    "graph": {
        "1": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "x"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    },
    "params": [{"name": "caption", "type": "text", "node": "1", "input": "value", "label": "Caption"}],
}

WORKFLOWS = (VIDEO, ANIMATED, AUDIO, TEXT)


def add_media_workflows(app: LiveApp) -> None:
    for spec in WORKFLOWS:
        add_workflow(app.data_dir, dict(spec))


def media_inputs(folder: Path) -> tuple[Path, Path]:
    """A picture and a 1.5 s WAV to feed the media workflows."""
    picture = folder / "harbour.png"
    scene_png(64, 48, HARBOUR, picture)
    sound = folder / "tone.wav"
    sound.write_bytes(wav(seconds=1.5))
    return picture, sound


def add_output(app: LiveApp, job_id: str, node_id: str, filename: str, data: bytes) -> None:
    """Store `data` as one more output of a finished job, described from its bytes as
    completion does (what a SaveGLB or an unknown node's file would be)."""
    code = (
        "import json, sys, tempfile\n"
        "from pathlib import Path\n"
        "from jobs.core import storage\n"
        "from jobs.core.models import Job, Output\n"
        "from jobs.media.detect import describe\n"
        "spec = json.loads(sys.stdin.readline())\n"
        "data = bytes.fromhex(spec['data'])\n"
        "with tempfile.NamedTemporaryFile(suffix=Path(spec['filename']).suffix) as tmp:\n"
        "    tmp.write(data); tmp.flush()\n"
        "    info = describe(Path(tmp.name), spec['filename'])\n"
        "job = Job.objects.get(id=spec['job'])\n"
        "name = storage.save_output(job.id, spec['node'], 0, data, info.extension)\n"
        "Output.objects.create(job=job, node_id=spec['node'], index=0, file=name,\n"
        "    filename=spec['filename'],\n"
        "    media=info.media, content_type=info.content_type, size=len(data))\n"
    )
    environment = {**os.environ, "COMFYWEB_DATA_DIR": str(app.data_dir)}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    spec = {"job": job_id, "node": node_id, "filename": filename, "data": data.hex()}
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        input=json.dumps(spec) + "\n",
        text=True,
        cwd=REPO,
        env=environment,
        check=True,
        capture_output=True,
    )


def run_media_jobs(page: Page, app: LiveApp, tab: str, folder: Path) -> dict[str, dict]:
    """One finished job of each media in `tab`, by media name; "3d" and "file" are one job
    (a text job given a GLB model and an unknown file as more outputs). The page must be
    reloaded to show the added outputs."""
    picture, sound = media_inputs(folder)
    image_id = upload(page, app.url, picture)["id"]
    sound_id = upload(page, app.url, sound, "audio/wav")["id"]
    made = {
        "image": submit(page, app.url, tab, "invert", {"image": image_id}),
        "animated": submit(page, app.url, tab, "media-animated", {"image": image_id}),
        "video": submit(page, app.url, tab, "media-video", {"image": image_id}),
        "audio": submit(page, app.url, tab, "media-audio", {"audio": sound_id}),
        "text": submit(page, app.url, tab, "media-text", {"caption": CAPTION}),
        "3d": submit(page, app.url, tab, "media-text", {"caption": "Model notes"}),
    }
    jobs = wait_jobs_done(page, app.url, [j["id"] for j in made.values()], timeout=60)
    failed = [(j["workflow"], j["error"]) for j in jobs if j["status"] != "succeeded"]
    assert not failed, failed
    add_output(app, made["3d"]["id"], "90", "ComfyUI_00001_.glb", glb())
    add_output(app, made["3d"]["id"], "91", "ComfyUI_00001_.latent", b"\x00latent-bytes" * 40)
    return {media: job for media, job in zip(made, jobs, strict=True)}
