"""Settings of one simulator instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from simulator.profiles import Profile


@dataclass
class SimConfig:
    """How to start a simulator. ``data_dir=None`` means a fresh temporary directory."""

    host: str = "127.0.0.1"
    port: int = 8188
    data_dir: Path | None = None
    delay: float = 0.0
    # Seconds a sampler run takes, whatever --delay the other nodes spend (None: --delay).
    sampler_seconds: float | None = None
    name: str = "simulator"
    # Model files by folder, e.g. {"checkpoints": ["sd15.safetensors"]}; see simulator.models.
    models: dict[str, list[str]] = field(default_factory=dict)
    # Simulated VRAM (simulator.residency): how many model files fit at once (None: no limit),
    # the seconds a load of one takes, and per-file load times ("folder/file" -> seconds).
    # The defaults make loads free, as before residency existed.
    vram: int | None = None
    load_seconds: float = 0.0
    model_load_seconds: dict[str, float] = field(default_factory=dict)
    # What the "die" fault does. The CLI exits the process; in-process tests stop the server.
    on_die: Callable[[], None] | None = None
    # Which ComfyUI it answers as: "0.3.64" (the recorded traces) or "current" (the newest
    # confirmed release); a Profile for a variant (simulator.profiles).
    profile: str | Profile = "0.3.64"
