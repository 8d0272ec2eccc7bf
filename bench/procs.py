"""The processes a benchmark run starts, and what /proc says about them.

Everything listens on 127.0.0.1 on free ports, writes its log into the run's directory and is
stopped by the `Stack` that started it (SIGTERM, then SIGKILL after a bounded wait).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from jobs.management.simulators import free_port

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# --- /proc -------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


class CpuMeter:
    """CPU use of some processes over a window, as a fraction of one core."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.start()

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.c0 = {pid: cpu_seconds(pid) for pid in self.pids}

    def stop(self) -> dict[int, float]:
        wall = max(time.monotonic() - self.t0, 1e-9)
        return {pid: (cpu_seconds(pid) - self.c0[pid]) / wall for pid in self.pids}


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    process: subprocess.Popen
    log: Path
    port: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_port(proc: Proc, timeout: float = 30.0, path: str | None = None) -> None:
    """Until the process answers on its port (HTTP `path` if given, else a TCP connect)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.tail()}")
        try:
            if path is None:
                with socket.create_connection(("127.0.0.1", proc.port), timeout=0.5):
                    return
            elif httpx.get(proc.url + path, timeout=2).status_code < 500:
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer on port {proc.port} in {timeout} s:\n{proc.tail()}")


@dataclass
class Stack:
    """A set of processes for one part of the run; leaving the `with` stops them all."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    repo: Path = REPO  # the tree whose code the processes run (bench.ab: another commit's)
    procs: list[Proc] = field(default_factory=list)
    _exit: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> Stack:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        for proc in reversed(self.procs):
            _stop(proc.process)
        self._exit.close()

    def spawn(self, name: str, argv: list[str], *, port: int = 0, env: dict[str, str] | None = None) -> Proc:
        log = self.root / f"{name}.log"
        out = self._exit.enter_context(log.open("w"))
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env, **(env or {})}
        environment.pop("DJANGO_SETTINGS_MODULE", None)
        process = subprocess.Popen(argv, cwd=self.repo, env=environment, stdout=out, stderr=subprocess.STDOUT)
        proc = Proc(name, process, log, port)
        self.procs.append(proc)
        return proc

    # --- the parts ----------------------------------------------------------------------

    def simulator(self, name: str, delay: float = 0.0) -> Proc:
        port = free_port()
        argv = [PYTHON, "-m", "simulator", "--port", str(port), "--data-dir", str(self.root / name)]
        proc = self.spawn(name, [*argv, "--delay", str(delay), "--name", name], port=port)
        wait_port(proc, 20, "/system_stats")
        return proc

    def redis(self) -> Proc:
        port = free_port()
        argv = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        proc = self.spawn("redis", argv, port=port)
        wait_port(proc, 10)
        return proc

    def manage(self, *args: str) -> str:
        environment = {**os.environ, **self.env}
        environment.pop("DJANGO_SETTINGS_MODULE", None)
        done = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=self.repo,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def comfyweb_db(self, sims: list[Proc], max_queued: int) -> None:
        """Migrate the run's database and register the simulators with `max_queued`."""
        self.manage("migrate", "--noinput", "-v0")
        urls = [sim.url for sim in sims]
        code = (
            "from jobs.core.servers import register_servers; from jobs.core.models import Server; "
            f"register_servers({urls!r}); Server.objects.update(max_queued={max_queued})"
        )
        self.manage("shell", "-c", code)

    def embedded(self, sims: list[Proc], max_queued: int = 100_000) -> Proc:
        """ComfyWeb as `make run` serves it over `sims`: its environment and database, the
        simulators registered, one web process with the relay inside."""
        self.env = comfyweb_env(self.root, sims)
        self.comfyweb_db(sims, max_queued)
        return self.web("web")

    def web(self, name: str, relay: str = "auto") -> Proc:
        port = free_port()
        argv = [PYTHON, "manage.py", "serve", "--port", str(port), "--simulators", "0", "--relay", relay]
        proc = self.spawn(name, argv, port=port)
        wait_port(proc, 40, "/")  # the page: up once Django is, whatever the relay and layer do
        return proc

    def relay(self, name: str = "relay") -> Proc:
        return self.spawn(name, [PYTHON, "manage.py", "relay"])

    def module(self, name: str, module: str, *args: str) -> Proc:
        port = free_port()
        proc = self.spawn(name, [PYTHON, "-m", module, "--port", str(port), *args], port=port)
        wait_port(proc, 20)
        return proc


METRICS_TOKEN = "bench-metrics-token"  # the bench reads each web process's /metrics with it


def comfyweb_env(root: Path, sims: list[Proc], *, redis_url: str = "") -> dict[str, str]:
    """ComfyWeb's environment for a run: its own data dir, limits out of the way, quiet logs."""
    env = {
        "COMFYWEB_DATA_DIR": str(root / "data"),
        "COMFYUI_SERVERS": ",".join(sim.url for sim in sims),
        "COMFYWEB_RELAY_POLL": "0.2",
        "COMFYWEB_MAX_ACTIVE_PER_TAB": "100000",
        "COMFYWEB_MAX_ACTIVE_PER_SESSION": "100000",
        "COMFYWEB_SUBMIT_BURST": "100000",
        "COMFYWEB_SUBMIT_RATE": "100000",
        "COMFYWEB_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "COMFYWEB_METRICS_TOKEN": METRICS_TOKEN,
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env
