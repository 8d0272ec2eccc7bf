"""Where the project's own test data lives: `tests/fixtures/` (see its README)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
TRACES = FIXTURES / "comfyui" / "traces"
WORKFLOWS = FIXTURES / "comfyui" / "workflows"
OBJECT_INFO = FIXTURES / "comfyui" / "object_info"


def traces_dir() -> Path:
    """The recorded ComfyUI traces; a missing directory is an error, never a skip."""
    if not (TRACES / "01-invert-success.json").is_file():
        raise FileNotFoundError(f"ComfyUI traces not found in {TRACES}")
    return TRACES
