"""How a ComfyUI client names a result ComfyWeb keeps: `subfolder` is the job's id.

ComfyUI names results per server (`ComfyUI_00001_.png` repeats on every server), and a job
may have run on a server that is gone. So the names a ComfyUI client sees, in `executed`
frames, in /history and in /view, carry the job: `{"filename": <the server's>, "subfolder":
<job id>, "type": "output"|"temp"}`, and /view finds the stored output by that job, that
file name and that type (jobs.comfyapi). The name is known from the frame alone, before the
output is stored, so the relay rewrites frames without a database read.
"""

from __future__ import annotations

from typing import Any


def rewrite_ui(output: Any, job_id: Any) -> Any:
    """An `executed` frame's `output` with every file's subfolder replaced by the job's id."""
    if not isinstance(output, dict):
        return output
    rewritten: dict[str, Any] = {}
    for key, items in output.items():
        if isinstance(items, list):
            items = [
                {**item, "subfolder": str(job_id)} if isinstance(item, dict) and "filename" in item else item
                for item in items
            ]
        rewritten[key] = items
    return rewritten


# The key of ComfyUI's UI output each kind of stored result is listed under.
UI_KEYS = {"audio": "audio", "text": "text"}


def ui_key(media: str) -> str:
    return UI_KEYS.get(media, "images")
