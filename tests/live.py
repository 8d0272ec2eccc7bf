"""Real processes for integration and browser tests: ComfyWeb under Daphne and simulators.

Each test module gets its own data directory (SQLite file, private files), free ports, and
processes that it stops itself, so tests run in parallel under pytest-xdist.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from jobs.management.simulators import free_port, start_simulator
from tests.paths import REPO


@dataclass
class LiveApp:
    url: str
    data_dir: Path
    process: subprocess.Popen
    simulators: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    port: int = 0

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def simulator_name(self, index: int) -> str:
        """The server name ComfyWeb gives the simulator (from COMFYUI_SERVERS)."""
        return "127.0.0.1-" + self.simulators[index][0].rsplit(":", 1)[1]

    def kill_simulator(self, index: int) -> None:
        process = self.simulators[index][1]
        process.kill()
        process.wait(5)

    def pause_simulator(self, index: int) -> None:
        """SIGSTOP: the server stops answering without closing its sockets."""
        self.simulators[index][1].send_signal(signal.SIGSTOP)

    def resume_simulator(self, index: int) -> None:
        self.simulators[index][1].send_signal(signal.SIGCONT)

    def manage(self, *args: str) -> str:
        """Run a management command against this app's database (e.g. to configure servers)."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.environment,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def kill_app(self) -> None:
        """SIGKILL the web process: no shutdown handler runs, as in a crash."""
        self.process.kill()
        self.process.wait(10)

    def start_app(self) -> None:
        """Start the web process again on the same port, database and files."""
        log = self.data_dir / "serve.log"
        with log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(self.port), "--simulators", "0"],
                cwd=REPO,
                env=self.environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_http(f"{self.url}/healthz", 30, self.process, log)

    @property
    def log(self) -> str:
        path = self.data_dir / "serve.log"
        return path.read_text() if path.exists() else ""


def _wait_http(url: str, timeout: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


PROFILES = ("0.3.64", "current")


def profile_of(number: int) -> str:
    """The ComfyUI release the simulator at this position answers as."""
    return PROFILES[number % len(PROFILES)]


@contextmanager
def live_app(
    data_dir: Path,
    *,
    simulators: int = 2,
    sim_delay: float = 0.0,
    env: dict | None = None,
    extra_servers: tuple[str, ...] = (),
    seed: str = "",
    models: list[list[str]] | None = None,
    vram: int | None = None,
    load_seconds: float = 0.0,
) -> Iterator[LiveApp]:
    """Start `simulators` simulator processes and `manage.py serve` pointed at them.

    `models`: each simulator's model files ("folder/file"), by position. The simulators answer
    as ComfyUI 0.3.64 and the current release in turn (`profile_of`): every pool of two or more
    is a mixed one, as operators upgrading one server at a time run (issue V).

    `vram`, `load_seconds`: how many model files each simulator holds loaded, and what
    loading one costs (as `make run`'s demo simulators: issue W).

    `extra_servers` are more COMFYUI_SERVERS URLs (dead ones, say); `seed` is Python run with
    `manage.py shell -c` on the migrated database before ComfyWeb starts (an earlier run's rows).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    sims: list[tuple[str, subprocess.Popen]] = []
    app_process = None
    try:
        for number in range(simulators):
            port = free_port()
            process = start_simulator(
                port,
                data_dir / f"sim-{number}",
                delay=sim_delay,
                name=f"sim-{number}",
                models=models[number] if models and number < len(models) else None,
                vram=vram,
                load_seconds=load_seconds,
                profile=profile_of(number),
            )
            sims.append((f"http://127.0.0.1:{port}", process))
        port = free_port()
        environment = {
            **os.environ,
            "COMFYWEB_DATA_DIR": str(data_dir),
            "COMFYUI_SERVERS": ",".join([*(url for url, _ in sims), *extra_servers]),
            "COMFYWEB_RELAY_POLL": "0.2",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        environment.pop("DJANGO_SETTINGS_MODULE", None)
        python = sys.executable
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=environment, check=True
        )
        if seed:
            subprocess.run([python, "manage.py", "shell", "-c", seed], cwd=REPO, env=environment, check=True)
        log = data_dir / "serve.log"
        with log.open("w") as out:
            app_process = subprocess.Popen(
                [python, "manage.py", "serve", "--port", str(port), "--simulators", "0"],
                cwd=REPO,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/healthz", 30, app_process, log)
        app = LiveApp(url, data_dir, app_process, sims, environment, port)
        yield app
        app_process = app.process
    finally:
        if app_process is not None:
            _stop(app_process)
        for _, process in sims:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
            _stop(process)


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Cluster:
    """Several web processes and relay processes sharing PostgreSQL, Redis and a data dir."""

    webs: list[LiveApp]
    relays: list[subprocess.Popen]
    simulators: list[tuple[str, subprocess.Popen]]
    environment: dict

    def simulator_name(self, index: int) -> str:
        return "127.0.0.1-" + self.simulators[index][0].rsplit(":", 1)[1]


@contextmanager
def live_cluster(
    data_dir: Path,
    *,
    database_url: str,
    redis_url: str,
    webs: int = 2,
    relays: int = 1,
    simulators: int = 2,
    sim_delay: float = 0.0,
    env: dict | None = None,
) -> Iterator[Cluster]:
    """`webs` Daphne processes without a relay, `relays` `manage.py relay` processes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    sims: list[tuple[str, subprocess.Popen]] = []
    processes: list[subprocess.Popen] = []
    try:
        for number in range(simulators):
            port = free_port()
            process = start_simulator(
                port,
                data_dir / f"sim-{number}",
                delay=sim_delay,
                name=f"sim-{number}",
                profile=profile_of(number),
            )
            sims.append((f"http://127.0.0.1:{port}", process))
        environment = {
            **os.environ,
            "COMFYWEB_DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "COMFYUI_SERVERS": ",".join(url for url, _ in sims),
            "COMFYWEB_RELAY_POLL": "0.2",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        environment.pop("DJANGO_SETTINGS_MODULE", None)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=REPO,
            env=environment,
            check=True,
        )
        relay_processes = []
        for number in range(relays):
            with (data_dir / f"relay-{number}.log").open("w") as out:
                relay = subprocess.Popen(
                    [sys.executable, "manage.py", "relay"],
                    cwd=REPO,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**environment, "COMFYWEB_RELAY_ID": f"relay-{number}"},
                )
            relay_processes.append(relay)
            processes.append(relay)
        apps = []
        for number in range(webs):
            port = free_port()
            log = data_dir / f"web-{number}.log"
            with log.open("w") as out:
                web = subprocess.Popen(
                    [sys.executable, "manage.py", "serve", "--port", str(port), "--simulators", "0"],
                    cwd=REPO,
                    env=environment,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            processes.append(web)
            url = f"http://127.0.0.1:{port}"
            _wait_http(f"{url}/healthz", 30, web, log)
            apps.append(LiveApp(url, data_dir, web, sims, environment, port))
        yield Cluster(apps, relay_processes, sims, environment)
    finally:
        for process in processes:
            _stop(process)
        for _, process in sims:
            _stop(process)
