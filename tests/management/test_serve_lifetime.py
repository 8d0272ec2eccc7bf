"""`make run` stopped with SIGTERM stops make alone: the server it started (`serve
--stop-with-parent`) stops once its parent is gone, and its built-in simulators stop with
the server, even one killed outright (jobs.management.lifetime)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jobs.management.simulators import free_port

REPO = Path(__file__).resolve().parents[2]

# A stand-in for make: starts the server, prints its pid, and waits.
PARENT = """
import subprocess, sys
server = subprocess.Popen(sys.argv[1:])
print(server.pid, flush=True)
server.wait()
"""


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _start(tmp_path: Path) -> tuple[subprocess.Popen, int, list[int]]:
    env = {**os.environ, "COMFYWEB_DATA_DIR": str(tmp_path), "COMFYUI_SERVERS": ""}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    serve = [sys.executable, "manage.py", "serve", "--port", str(free_port()), "--simulators", "2"]
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *serve, "--stop-with-parent"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    server = int(parent.stdout.readline())
    assert _wait(lambda: len(_children(server)) >= 2, 60), "the simulators did not start"
    return parent, server, _children(server)


def test_the_server_and_its_simulators_stop_when_what_started_it_is_killed(tmp_path):
    parent, server, simulators = _start(tmp_path)
    try:
        os.kill(parent.pid, signal.SIGKILL)  # make ends; nothing passes a signal on
        parent.wait()
        assert _wait(lambda: not _alive(server), 20), "the server outlived its parent"
        assert _wait(lambda: not any(_alive(s) for s in simulators), 10), "a simulator outlived the server"
    finally:
        for pid in [server, *simulators]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_simulators_stop_with_a_server_killed_outright(tmp_path):
    parent, server, simulators = _start(tmp_path)
    try:
        os.kill(server, signal.SIGKILL)  # no atexit runs
        assert _wait(lambda: not any(_alive(s) for s in simulators), 10), "a simulator outlived the server"
    finally:
        parent.kill()
        parent.wait()
        for pid in simulators:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
