"""Where the shared reference material lives: `../shared` beside the repository (as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COMFYWEB_SHARED", REPO.parent / "shared"))
TRACES = SHARED / "comfyui" / "traces"
WORKFLOWS = SHARED / "comfyui" / "workflows"


def traces_dir() -> Path:
    """The recorded ComfyUI traces; a missing directory is an error, never a skip."""
    if not (TRACES / "01-invert-success.json").is_file():
        raise FileNotFoundError(f"ComfyUI traces not found in {TRACES}; set COMFYWEB_SHARED")
    return TRACES
