"""Start built-in ComfyUI simulators as child processes (the embedded default of `make run`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from jobs.management.lifetime import die_with_parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_simulator(
    port: int,
    data_dir: Path,
    *,
    delay: float = 0.0,
    name: str = "sim",
    models: list[str] | None = None,
    vram: int | None = None,
    load_seconds: float = 0.0,
    profile: str = "0.3.64",
    timeout: float = 20.0,
    ends_with_caller: bool = False,
) -> subprocess.Popen:
    """Run `python -m simulator` and wait until it listens; `models`: its model files, as
    "folder/file" (listed in its /object_info); `vram`: how many stay loaded at once, each
    load costing `load_seconds` (none: loads are free); `profile`: the ComfyUI release it
    answers as (0.3.64, or current); `ends_with_caller`: it stops when this process ends,
    however it ends (jobs.management.lifetime; call it from the main thread then)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--delay",
            str(delay),
            "--name",
            name,
            *(["--models", ",".join(models)] if models else []),
            *(["--vram", str(vram), "--load-seconds", str(load_seconds)] if vram else []),
            "--profile",
            profile,
        ],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=die_with_parent if ends_with_caller else None,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"simulator on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"simulator on port {port} did not start in {timeout} s")
