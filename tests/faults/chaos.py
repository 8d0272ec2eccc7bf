"""One bounded chaos run against real processes: a pool of three simulators and one ComfyWeb
process, under a random but seeded schedule of faults, while several sessions and tabs submit
`invert` jobs in closed loops. Nothing acknowledged may be lost, doubled, wrong, delivered to
another tab, split across servers, or leave a lock behind (docs/api.md §2).

Used by tests/faults/test_chaos.py (about two minutes of faults) and by `make soak`:

    .venv/bin/python -m tests.faults.chaos --minutes 30 --fault-rate 6 --seed 1234

Every job uploads its own random 8×8 image, is submitted over `POST /api/jobs/`, is followed
on its tab's socket (snapshot first, `seq` numbering, resync on a gap, reconnect with backoff)
and, once it ends, its one output is downloaded and compared pixel by pixel with the inverse
of its input. A job counts as acknowledged once the API answered 201 with its id; refusals
(429) and submissions the web process never answered are not, and are tried again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from PIL import Image

from bench.clients import JobWaiters
from jobs.management.simulators import start_simulator
from tests.live import LiveApp, live_app, profile_of

FINISHED = ("succeeded", "failed", "cancelled")
ACTIVE = ("pending", "queued", "running")
KINDS = (
    "kill_sim",
    "drop_sockets",
    "stall_ws",
    "http_500",
    "lose_queue",
    "slow_history",
    "kill_web",
    "kill_both",  # a simulator and the web process at once: the web restarts with stale status
)
SIZE = (8, 8)


@dataclass
class Config:
    minutes: float = 2.0  # of faults; the drain comes after
    fault_rate: float = 8.0  # faults per minute
    seed: int = 0
    sessions: int = 3
    tabs_per_session: int = 3
    loops_per_tab: int = 2  # jobs each tab keeps in flight (closed loops sharing the tab)
    jobs_per_tab: int = 150  # a tab that had this many jobs is retired and a fresh one opened
    sim_delay: float = 0.05  # seconds per simulated node
    failover_after: float = 5.0
    warmup: float = 5.0  # seconds of load before the first fault
    drain_timeout: float = 120.0
    job_timeout: float = 60.0  # a loop stops waiting for its job after this and submits another
    sample_interval: float = 0.5  # seconds between reads of each tab (one-server check)
    data_dir: Path | None = None
    verbose: bool = True


# --- the fault schedule --------------------------------------------------------------------------


@dataclass
class Fault:
    at: float  # seconds after the load started
    kind: str
    target: int | None  # simulator index; None for kill_web
    duration: float = 0.0  # how long it lasts (0 for one-shot faults)
    value: float = 0.0  # slow_history: seconds per /history answer; kill_both: the web's downtime
    started: float | None = None  # as it ran
    outcome: str = ""

    @property
    def where(self) -> str:
        return "web" if self.target is None else f"sim-{self.target}"

    def describe(self) -> str:
        text = f"t={self.at:7.1f}s  {self.kind:<13} {self.where:<6}"
        if self.duration:
            text += f" for {self.duration:.1f}s"
        if self.kind == "slow_history":
            text += f" ({self.value:.1f}s per answer)"
        if self.kind == "kill_both":
            text += f", web for {self.value:.1f}s"
        return text


def fault_schedule(seed: int, seconds: float, rate: float, sims: int = 3, warmup: float = 5.0) -> list[Fault]:
    """The faults of a run, drawn from `random.Random(seed)`: every kind once (in a random
    order) before kinds repeat, `rate` per minute on average, never two at once on one target
    (a simulator or the web process), each target left alone for a second after a fault."""
    if rate <= 0:
        return []
    rng = random.Random(seed)
    gap = 60.0 / rate
    first = list(KINDS)
    rng.shuffle(first)
    busy: dict[int | None, float] = {None: 0.0, **{i: 0.0 for i in range(sims)}}
    faults: list[Fault] = []
    at = warmup + rng.uniform(0.2, 1.0) * gap
    while at < warmup + seconds:
        kind = first.pop(0) if first else rng.choice(KINDS)
        if kind == "kill_web":
            target: int | None = None
        else:
            free = [i for i in range(sims) if busy[i] <= at]
            target = rng.choice(free) if free else min(range(sims), key=lambda i: busy[i])
        at = max(at, busy[target], busy[None] if kind == "kill_both" else 0.0)
        if at >= warmup + seconds:
            break
        duration, value = 0.0, 0.0
        if kind == "kill_sim":
            duration = rng.uniform(2.0, 8.0)  # below and above COMFYWEB_FAILOVER_AFTER
        elif kind == "kill_web":
            duration = rng.uniform(0.5, 3.0)
        elif kind == "kill_both":
            duration, value = rng.uniform(3.0, 10.0), rng.uniform(0.5, 3.0)
        elif kind == "stall_ws":
            duration = rng.uniform(3.0, 10.0)
        elif kind == "http_500":
            duration = rng.uniform(1.0, 8.0)
        elif kind == "slow_history":
            duration, value = rng.uniform(5.0, 15.0), rng.uniform(1.0, 4.0)
        faults.append(Fault(round(at, 2), kind, target, round(duration, 2), round(value, 2)))
        busy[target] = at + duration + 1.0
        if kind == "kill_both":
            busy[None] = at + value + 5.0  # its restart included
        at += rng.uniform(0.5, 1.5) * gap
    return faults


# --- what the run found ----------------------------------------------------------------------------


@dataclass
class JobRecord:
    id: str
    tab: str
    session: int
    pixels: bytes  # the input's RGB bytes
    acked_at: float
    history: list[tuple[float, str, str | None, int, str | None]] = field(default_factory=list)
    final: dict | None = None  # the JOB once finished (from the socket or HTTP)
    checked: str | None = None  # "ok", or the output problem found


@dataclass
class Report:
    seed: int
    minutes: float
    fault_rate: float
    faults: Counter = field(default_factory=Counter)  # kind → applied
    fault_errors: list[str] = field(default_factory=list)
    acknowledged: int = 0
    succeeded: int = 0
    lost: int = 0
    outputs_missing: int = 0
    outputs_wrong: int = 0
    outputs_doubled: int = 0
    cross_talk: int = 0
    one_server_violations: int = 0
    locks_left: int = 0
    # Reported, not part of the verdict:
    refused_429: int = 0
    submit_unanswered: int = 0  # the web process died or answered 5xx: maybe created, not ours
    submit_refused_other: int = 0
    unacknowledged_seen: int = 0  # jobs a tab's socket showed that the API never acknowledged
    socket_stale: int = 0  # finished jobs a tab's socket still showed active after the drain
    finals_by_http: int = 0  # job ends a loop learned by polling, not from its socket
    reconnects: int = 0
    gaps: int = 0
    resyncs: int = 0
    samples: int = 0
    attempts: Counter = field(default_factory=Counter)  # attempt number of each ended job → jobs
    moved: int = 0  # succeeded jobs whose attempts ran on more than one server
    endings: Counter = field(default_factory=Counter)  # how the lost jobs ended: status/code
    seconds: float = 0.0
    drain_seconds: float = 0.0
    details: list[str] = field(default_factory=list)

    VERDICT = (
        "lost",
        "outputs_missing",
        "outputs_wrong",
        "outputs_doubled",
        "cross_talk",
        "one_server_violations",
        "locks_left",
    )

    def problems(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.VERDICT if getattr(self, name)}

    def summary(self) -> str:
        lines = [
            f"chaos run: seed {self.seed}, {self.minutes:g} min of faults at {self.fault_rate:g}/min,"
            f" {self.seconds:.0f} s in all (drain {self.drain_seconds:.1f} s)",
            "faults: " + ", ".join(f"{kind} {self.faults.get(kind, 0)}" for kind in KINDS),
            f"jobs acknowledged {self.acknowledged}, succeeded {self.succeeded}, lost {self.lost}",
            f"outputs missing {self.outputs_missing}, wrong {self.outputs_wrong},"
            f" doubled {self.outputs_doubled}",
            f"cross-talk {self.cross_talk}, one-server violations {self.one_server_violations}"
            f" ({self.samples} samples), locks left {self.locks_left}",
            f"(refused 429: {self.refused_429}, submits unanswered: {self.submit_unanswered},"
            f" other refusals: {self.submit_refused_other}, unacknowledged jobs seen:"
            f" {self.unacknowledged_seen}, socket views stale: {self.socket_stale},"
            f" ends learned by polling: {self.finals_by_http}, reconnects: {self.reconnects},"
            f" gaps: {self.gaps}, resyncs: {self.resyncs})",
        ]
        lines.append(
            "attempts of the acknowledged jobs: "
            + ", ".join(f"{n}: {c}" for n, c in sorted(self.attempts.items()))
            + f"; jobs that moved server: {self.moved}"
        )
        if self.endings:
            lines.append("lost jobs ended as: " + ", ".join(f"{k} {v}" for k, v in self.endings.items()))
        if self.fault_errors:
            lines.append("faults that could not be applied: " + "; ".join(self.fault_errors))
        problems = self.problems()
        lines.append("verdict: " + ("OK" if not problems else f"FAILED {problems}"))
        lines.extend(self.details)
        return "\n".join(lines)


# --- clients -----------------------------------------------------------------------------------------


def random_png(rng: random.Random) -> tuple[bytes, bytes]:
    """A random 8×8 RGB image: (PNG bytes, raw RGB bytes)."""
    pixels = bytes(rng.getrandbits(8) for _ in range(SIZE[0] * SIZE[1] * 3))
    buffer = io.BytesIO()
    Image.frombytes("RGB", SIZE, pixels).save(buffer, format="PNG")
    return buffer.getvalue(), pixels


class Session:
    """One browser session over async HTTP: cookies from `GET /`, CSRF on unsafe calls."""

    def __init__(self, run: Chaos, index: int) -> None:
        self.run = run
        self.index = index
        self.http = httpx.AsyncClient(base_url=run.app.url, timeout=httpx.Timeout(15, connect=3))
        self.csrf = ""

    async def open(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                answer = await self.http.get("/")
                if answer.status_code == 200:
                    self.csrf = self.http.cookies["csrftoken"]
                    return
            await asyncio.sleep(0.5)

    @property
    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    async def get(self, path: str, deadline: float | None = None) -> httpx.Response | None:
        """GET, tried again over a dead web process and 5xx until `deadline` (monotonic)."""
        while True:
            try:
                answer = await self.http.get(path)
                if answer.status_code < 500:
                    return answer
            except httpx.HTTPError:
                pass
            if deadline is not None and time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.3)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.post(path, headers={"X-CSRFToken": self.csrf}, **kwargs)

    async def aclose(self) -> None:
        await self.http.aclose()


class TabClient:
    """One tab's socket as the page keeps it (docs/api.md §6): snapshot, numbered events
    applied in order, a resync on a gap, a reconnect with backoff whenever it drops."""

    def __init__(self, run: Chaos, session: Session) -> None:
        self.run = run
        self.session = session
        self.id = str(uuid.uuid4())
        self.view: dict[str, dict] = {}  # job id → latest JOB as the socket told it
        self.seq: int | None = None
        self.ws: Any = None
        self.known: set[str] = set()  # jobs of this tab (acknowledged, or shown with this tab)
        self.progress_ids: set[str] = set()  # job ids of job.progress / job.preview frames
        self.waiters = JobWaiters()
        self.connected = asyncio.Event()
        self.closing = False
        self.last_resync = 0.0
        self.task: asyncio.Task | None = None
        self.pending: set[asyncio.Task] = set()
        self.acked = 0

    def start(self) -> None:
        self.task = asyncio.create_task(self._keep_open())

    async def _keep_open(self) -> None:
        backoff = 0.2
        first = True
        while not self.closing:
            try:
                self.ws = await websockets.connect(
                    f"{self.run.app.ws_url}/ws/tabs/{self.id}/",
                    additional_headers={"Cookie": self.session.cookie},
                    origin=self.run.app.url,
                    open_timeout=5,
                    max_queue=None,
                    max_size=None,
                )
            except (OSError, websockets.WebSocketException, TimeoutError):
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if not first:
                self.run.report.reconnects += 1
            first = False
            backoff = 0.2
            try:
                async for raw in self.ws:
                    try:
                        self._on_message(json.loads(raw))
                    except Exception as error:  # a frame not as docs/api.md says: note it, go on
                        self.run.note(f"tab {self.id}: bad frame {str(raw)[:200]}: {error!r}")
            except (OSError, websockets.WebSocketException):
                pass
            finally:
                self.connected.clear()
                self.seq = None
            if self.ws.close_code == 4403:
                self.run.note(f"tab {self.id} refused with 4403")
                await asyncio.sleep(2)

    async def send(self, message: dict) -> bool:
        if self.ws is not None and self.connected.is_set():
            with contextlib.suppress(OSError, websockets.WebSocketException):
                await self.ws.send(json.dumps(message))
                return True
        return False

    async def resync(self) -> None:
        if time.monotonic() - self.last_resync < 1.0:
            return
        self.last_resync = time.monotonic()
        if await self.send({"type": "tab.resync"}):
            self.run.report.resyncs += 1

    def _on_message(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "tab.snapshot":
            if message.get("tab") != self.id:
                self.run.cross_talk(self, {"id": "(snapshot)", "tab": message.get("tab")})
            self.view = {}
            for job in message.get("jobs") or []:
                self._apply(job)
            self.seq = int(message.get("seq") or 0)
            self.connected.set()
            return
        if kind in ("job.progress", "job.preview"):
            if isinstance(message.get("job"), str):
                self.progress_ids.add(message["job"])
            return
        seq = message.get("seq")
        if not isinstance(seq, int) or self.seq is None:
            return
        if seq <= self.seq:
            return
        if seq > self.seq + 1:
            self.run.report.gaps += 1
            task = asyncio.get_running_loop().create_task(self.resync())
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            return
        self.seq = seq
        if kind == "job.updated":
            self._apply(message["job"])

    def _apply(self, job: dict) -> None:
        if job.get("tab") != self.id:
            self.run.cross_talk(self, job)
            return
        self.known.add(job["id"])
        self.view[job["id"]] = job
        record = self.run.ledger.get(job["id"])
        if record is not None:
            step = (
                self.run.now(),
                job["status"],
                job["server"],
                job["attempt"],
                (job["error"] or {}).get("code"),
            )
            if not record.history or record.history[-1][1:] != step[1:]:
                record.history.append(step)
        self.waiters.seen(job)

    def finished(self, job_id: str) -> asyncio.Future:
        return self.waiters.finished(job_id, self.view.get(job_id))

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


# --- the run -----------------------------------------------------------------------------------------


class Chaos:
    def __init__(self, app: LiveApp, config: Config) -> None:
        self.app = app
        self.config = config
        self.report = Report(config.seed, config.minutes, config.fault_rate)
        self.schedule = fault_schedule(
            config.seed, config.minutes * 60, config.fault_rate, len(app.simulators), config.warmup
        )
        # One fault at a time per target, as the schedule means it: a restart that takes longer
        # than the schedule's gap (a slow machine starting a simulator) delays the next fault
        # on that target instead of meeting it half up.
        self.targets: dict[str, asyncio.Lock] = {}
        self.ledger: dict[str, JobRecord] = {}
        self.unacknowledged: dict[str, dict] = {}  # job id → JOB
        self.tabs: list[TabClient] = []  # every tab ever opened
        self.live_tabs: set[TabClient] = set()
        self.sessions: list[Session] = []
        self.images = random.Random(f"images-{config.seed}")
        self.stop = asyncio.Event()
        self.t0 = time.monotonic()
        self.sim_delay = config.sim_delay
        self.web_down = False

    # -- bookkeeping

    def now(self) -> float:
        return time.monotonic() - self.t0

    def say(self, text: str) -> None:
        if self.config.verbose:
            print(f"[chaos {self.now():7.1f}s] {text}", flush=True)

    def note(self, text: str) -> None:
        self.report.details.append(text)
        self.say(text)

    def cross_talk(self, tab: TabClient, job: dict) -> None:
        self.report.cross_talk += 1
        self.note(f"cross-talk: tab {tab.id} was told of job {job.get('id')} of tab {job.get('tab')}")

    # -- processes

    def sim_url(self, index: int) -> str:
        return self.app.simulators[index][0]

    def sim_running(self, index: int) -> bool:
        return self.app.simulators[index][1].poll() is None

    def start_sim(self, index: int) -> None:
        url = self.sim_url(index)
        port = int(url.rsplit(":", 1)[1])
        process = start_simulator(
            port,
            self.app.data_dir / f"sim-{index}",
            delay=self.sim_delay,
            name=f"sim-{index}",
            profile=profile_of(index),
        )
        self.app.simulators[index] = (url, process)

    async def sim_faults(self, index: int, body: dict) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.post(f"{self.sim_url(index)}/_sim/faults", json=body)
            answer.raise_for_status()

    async def start_web(self) -> None:
        await asyncio.to_thread(self.app.start_app)
        self.web_down = False

    # -- faults

    async def run_faults(self) -> None:
        tasks = []
        for fault in self.schedule:
            delay = fault.at - self.now()
            if delay > 0:
                try:
                    await asyncio.wait_for(self.stop.wait(), delay)
                    break  # stopped early
                except TimeoutError:
                    pass
            tasks.append(asyncio.create_task(self.apply(fault)))
        await asyncio.gather(*tasks)

    async def apply(self, fault: Fault) -> None:
        where = sorted({fault.where, *(["web"] if fault.kind == "kill_both" else [])})
        async with contextlib.AsyncExitStack() as held:
            for target in where:
                await held.enter_async_context(self.targets.setdefault(target, asyncio.Lock()))
            await self._apply(fault)

    async def _apply(self, fault: Fault) -> None:
        fault.started = self.now()
        self.say(f"fault {fault.describe()}")
        i = fault.target
        try:
            if fault.kind == "kill_sim":
                assert i is not None
                await asyncio.to_thread(self.app.kill_simulator, i)
                await asyncio.sleep(fault.duration)
                await asyncio.to_thread(self.start_sim, i)
            elif fault.kind == "kill_web":
                self.web_down = True
                await asyncio.to_thread(self.app.kill_app)
                await asyncio.sleep(fault.duration)
                await self.start_web()
            elif fault.kind == "kill_both":
                assert i is not None
                self.web_down = True
                await asyncio.gather(
                    asyncio.to_thread(self.app.kill_simulator, i), asyncio.to_thread(self.app.kill_app)
                )

                async def web_back() -> None:
                    await asyncio.sleep(fault.value)
                    await self.start_web()

                async def sim_back() -> None:
                    await asyncio.sleep(fault.duration)
                    await asyncio.to_thread(self.start_sim, i)

                await asyncio.gather(web_back(), sim_back())
            elif fault.kind in ("drop_sockets", "lose_queue"):
                assert i is not None
                await self.sim_faults(i, {fault.kind: True})
            elif fault.kind in ("stall_ws", "http_500"):
                assert i is not None
                await self.sim_faults(i, {fault.kind: True})
                await asyncio.sleep(fault.duration)
                await self.sim_faults(i, {fault.kind: False})
            elif fault.kind == "slow_history":
                assert i is not None
                await self.sim_faults(i, {"slow_history": fault.value})
                await asyncio.sleep(fault.duration)
                await self.sim_faults(i, {"slow_history": 0})
            fault.outcome = "ok"
            self.report.faults[fault.kind] += 1
        except Exception as error:
            fault.outcome = f"error: {error!r}"
            self.report.fault_errors.append(f"{fault.describe()}: {error!r}")
            self.say(f"fault {fault.kind} on {fault.where} failed: {error!r}")
        self.say(f"fault {fault.kind} on {fault.where} over")

    async def clear_faults(self) -> None:
        """Every simulator running with no fault set, the web process up."""
        for index in range(len(self.app.simulators)):
            if not self.sim_running(index):
                self.say(f"sim-{index} was down: starting it")
                await asyncio.to_thread(self.start_sim, index)
            for _ in range(20):
                try:
                    await self.sim_faults(index, {"http_500": False, "stall_ws": False, "slow_history": 0})
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.5)
        if self.app.process.poll() is not None:
            self.say("the web process was down: starting it")
            await self.start_web()

    # -- load

    async def tab_runner(self, session: Session) -> None:
        """A tab at a time for this slot: `loops_per_tab` closed loops on it; a tab that had
        `jobs_per_tab` jobs is retired (its lock checked once its jobs ended) for a new one."""
        while not self.stop.is_set():
            tab = TabClient(self, session)
            self.tabs.append(tab)
            tab.start()
            await tab.connected.wait()
            self.live_tabs.add(tab)
            await asyncio.gather(*(self.job_loop(tab) for _ in range(self.config.loops_per_tab)))
            self.live_tabs.discard(tab)
            if not self.stop.is_set():
                await tab.close()

    async def job_loop(self, tab: TabClient) -> None:
        while not self.stop.is_set() and tab.acked < self.config.jobs_per_tab:
            record = await self.submit(tab)
            if record is None:
                continue
            await self.follow(tab, record)

    async def submit(self, tab: TabClient) -> JobRecord | None:
        """Upload a fresh image and submit it until the API acknowledges a job (or we stop)."""
        session = tab.session
        png, pixels = random_png(self.images)
        upload_id = None
        while not self.stop.is_set():
            try:
                if upload_id is None:
                    answer = await session.post("/api/uploads/", files={"file": ("in.png", png, "image/png")})
                    if answer.status_code != 201:
                        await asyncio.sleep(0.5)
                        continue
                    upload_id = answer.json()["id"]
                body = {"tab": tab.id, "workflow": "invert", "params": {"image": upload_id}}
                answer = await session.post("/api/jobs/", json=body)
            except httpx.ConnectError:
                await asyncio.sleep(0.5)  # nothing sent: the web process is down
                continue
            except httpx.HTTPError:
                # Sent, unanswered: a job may exist that nobody acknowledged. Start afresh.
                self.report.submit_unanswered += 1
                png, pixels = random_png(self.images)
                upload_id = None
                await asyncio.sleep(0.5)
                continue
            if answer.status_code == 201:
                job = answer.json()["job"]
                record = JobRecord(job["id"], tab.id, session.index, pixels, self.now())
                record.history.append((self.now(), job["status"], job["server"], job["attempt"], None))
                self.ledger[job["id"]] = record
                tab.known.add(job["id"])
                tab.acked += 1
                self.report.acknowledged += 1
                return record
            if answer.status_code == 429:
                self.report.refused_429 += 1
            elif answer.status_code >= 500:
                self.report.submit_unanswered += 1
                png, pixels = random_png(self.images)
                upload_id = None
            else:
                self.report.submit_refused_other += 1
                self.note(f"submit refused: {answer.status_code} {answer.text[:200]}")
                upload_id = None
            await asyncio.sleep(0.5)
        return None

    async def follow(self, tab: TabClient, record: JobRecord) -> None:
        """Wait for the job's end on the tab's socket; every 10 s without it, resync and ask
        over HTTP. Then check its output at once."""
        deadline = time.monotonic() + self.config.job_timeout
        waiter = tab.finished(record.id)
        while time.monotonic() < deadline:
            try:
                job = await asyncio.wait_for(asyncio.shield(waiter), 10)
                break
            except TimeoutError:
                await tab.resync()
                answer = await tab.session.get(f"/api/jobs/{record.id}/", deadline=time.monotonic() + 5)
                if answer is not None and answer.status_code == 200:
                    job = answer.json()["job"]
                    if job["status"] in FINISHED:
                        self.report.finals_by_http += 1
                        break
        else:
            return  # the drain will wait for it
        record.final = job
        if job["status"] == "succeeded":
            record.checked = await self.check_output(tab.session, record, job)

    async def check_output(self, session: Session, record: JobRecord, job: dict) -> str:
        """'ok', or what is wrong with the one output a succeeded invert must have."""
        outputs = job["outputs"]
        if not outputs:
            return "missing"
        if len(outputs) > 1:
            return "doubled"
        folder = self.app.data_dir / "files" / "outputs" / uuid.UUID(record.id).hex
        if folder.exists() and len(list(folder.iterdir())) > 1:
            return "doubled"
        answer = await session.get(outputs[0]["url"], deadline=time.monotonic() + 30)
        if answer is None or answer.status_code != 200:
            return "missing"
        try:
            image = Image.open(io.BytesIO(answer.content)).convert("RGB")
        except Exception:
            return "wrong"
        expected = bytes(255 - b for b in record.pixels)
        # ComfyUI inverts in float32 (1 - x), so a channel may be one below 255 - v.
        if image.size != SIZE or any(abs(a - b) > 1 for a, b in zip(image.tobytes(), expected, strict=True)):
            return "wrong"
        return "ok"

    async def sample(self) -> None:
        """Each live tab, read now and then: its active jobs bound to one server, the lock's."""
        while not self.stop.is_set():
            for tab in list(self.live_tabs):
                answer = await tab.session.get(f"/api/tabs/{tab.id}/", deadline=time.monotonic())
                if answer is None or answer.status_code != 200:
                    continue
                self.report.samples += 1
                problem = self.one_server_problem(answer.json())
                if problem is None:
                    continue
                # The lock and the jobs are two reads: a failover between them is no violation.
                # Servers split among the jobs are (one read); so is a mismatch that stays.
                await asyncio.sleep(0.3)
                again = await tab.session.get(f"/api/tabs/{tab.id}/", deadline=time.monotonic())
                if "several servers" in problem or (
                    again is not None and again.status_code == 200 and self.one_server_problem(again.json())
                ):
                    self.report.one_server_violations += 1
                    self.note(f"one-server violation, tab {tab.id}: {problem}")
            await asyncio.sleep(self.config.sample_interval)

    @staticmethod
    def one_server_problem(state: dict) -> str | None:
        bound = {j["id"]: j["server"] for j in state["jobs"] if j["status"] in ACTIVE and j["server"]}
        servers = set(bound.values())
        if len(servers) > 1:
            return f"active jobs on several servers: {bound}"
        lock = (state.get("lock") or {}).get("server")
        if servers and lock not in servers:
            return f"lock {lock} but active jobs on {servers}: {bound}"
        return None

    async def progress(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 10)
            done = sum(1 for r in self.ledger.values() if r.final is not None)
            ok = sum(1 for r in self.ledger.values() if r.checked == "ok")
            self.say(f"{self.report.acknowledged} acknowledged, {done} ended ({ok} checked ok)")

    # -- the end

    async def drain(self) -> None:
        """Wait (bounded) until every acknowledged job, and every job a tab showed, ended."""
        started = time.monotonic()
        deadline = started + self.config.drain_timeout
        by_session = {s.index: s for s in self.sessions}
        while True:
            open_jobs = [r for r in self.ledger.values() if r.final is None]
            for record in open_jobs:
                answer = await by_session[record.session].get(
                    f"/api/jobs/{record.id}/", deadline=time.monotonic() + 5
                )
                if answer is not None and answer.status_code == 200:
                    job = answer.json()["job"]
                    if job["status"] in FINISHED:
                        record.final = job
            open_jobs = [r for r in open_jobs if r.final is None]
            strays = await self.strays()
            if not open_jobs and not [job for job in strays.values() if job["status"] in ACTIVE]:
                break
            if time.monotonic() > deadline:
                self.say(f"drain timed out: {len(open_jobs)} acknowledged jobs still active")
                break
            await asyncio.sleep(1)
        self.report.drain_seconds = time.monotonic() - started

    async def strays(self) -> dict[str, dict]:
        """Jobs a tab showed that the API never acknowledged (a submit the web process took
        but did not answer), as they are now."""
        for tab in self.tabs:
            for job_id, job in tab.view.items():
                if job_id in self.ledger:
                    continue
                known = self.unacknowledged.get(job_id, job)
                if known["status"] in ACTIVE:
                    answer = await tab.session.get(f"/api/jobs/{job_id}/", deadline=time.monotonic() + 5)
                    if answer is not None and answer.status_code == 200:
                        known = answer.json()["job"]
                self.unacknowledged[job_id] = known
        return self.unacknowledged

    async def verify(self) -> None:
        report = self.report
        by_session = {s.index: s for s in self.sessions}
        for tab in self.tabs:  # the sockets' last word, current (a resync on each open one)
            tab.last_resync = 0
            await tab.resync()
        await asyncio.sleep(2)
        gate = asyncio.Semaphore(8)

        async def final(record: JobRecord) -> dict | None:
            async with gate:
                path = f"/api/jobs/{record.id}/"
                answer = await by_session[record.session].get(path, deadline=time.monotonic() + 30)
            return answer.json()["job"] if answer is not None and answer.status_code == 200 else record.final

        records = list(self.ledger.values())
        finals = await asyncio.gather(*(final(record) for record in records))
        for record, job in zip(records, finals, strict=True):
            session = by_session[record.session]
            if job is not None:
                report.attempts[job["attempt"]] += 1
            if job is None or job["status"] != "succeeded":
                report.lost += 1
                ending = "no answer" if job is None else job["status"]
                if job is not None and job["error"]:
                    ending += f"/{job['error']['code']}"
                report.endings[ending] += 1
                self.describe_lost(record, job)
                continue
            report.succeeded += 1
            if len({step[2] for step in record.history if step[2]} | {job["server"]}) > 1:
                report.moved += 1
            if record.checked is None or record.final is None or record.final["outputs"] != job["outputs"]:
                record.checked = await self.check_output(session, record, job)
            if record.checked != "ok":
                setattr(report, f"outputs_{record.checked}", getattr(report, f"outputs_{record.checked}") + 1)
                self.note(f"output {record.checked}: job {record.id} outputs {job['outputs']}")
        for tab in self.tabs:
            strange = tab.progress_ids - tab.known
            for job_id in strange:
                report.cross_talk += 1
                self.note(f"cross-talk: tab {tab.id} got progress of job {job_id}, not its own")
            for job_id, job in tab.view.items():
                if job_id in self.ledger and job["status"] in ACTIVE:
                    final = self.ledger[job_id].final
                    if final is not None and final["status"] in FINISHED and tab.connected.is_set():
                        report.socket_stale += 1
        strays = await self.strays()
        report.unacknowledged_seen = len(strays)
        for job_id, job in strays.items():
            self.note(f"unacknowledged job {job_id} of tab {job['tab']}: {job['status']} {job['error']}")
        for tab in self.tabs:  # every lock released once the tab's jobs ended
            deadline = time.monotonic() + 10
            while True:
                answer = await tab.session.get(f"/api/tabs/{tab.id}/", deadline=time.monotonic() + 10)
                state = answer.json() if answer is not None and answer.status_code == 200 else None
                if state is not None and state["lock"] is None:
                    break
                if time.monotonic() > deadline:
                    active = [j for j in (state or {}).get("jobs", []) if j["status"] in ACTIVE]
                    report.locks_left += 1
                    self.note(
                        f"lock left: tab {tab.id} still locked {state and state['lock']},"
                        f" {len(active)} active jobs {[(j['id'], j['status'], j['server']) for j in active]}"
                    )
                    break
                await asyncio.sleep(0.5)

    def describe_lost(self, record: JobRecord, job: dict | None) -> None:
        """What happened to a lost job: its end, its history, the faults around it, the log."""
        if job is None:
            self.note(f"LOST job {record.id} (tab {record.tab}): no answer about it")
            return
        self.note(
            f"LOST job {record.id} (tab {record.tab}): status {job['status']}, error {job['error']},"
            f" attempt {job['attempt']}, server {job['server']}, acknowledged at t={record.acked_at:.1f}s"
        )
        for step in record.history:
            self.note(
                f"    t={step[0]:7.1f}s {step[1]:<9} server={step[2]} attempt={step[3]} error={step[4]}"
            )
        last = record.history[-1][0] if record.history else record.acked_at
        near = [
            f
            for f in self.schedule
            if f.started is not None
            and f.started - 2 <= last
            and f.started + f.duration + 2 >= record.acked_at
        ]
        for fault in near:
            self.note(f"    near fault (started t={fault.started:.1f}s): {fault.describe()}")
        lines = [
            line
            for line in self.app.log.splitlines()
            if record.id in line or record.id.replace("-", "") in line
        ]
        for line in lines[-12:]:
            self.note(f"    log: {line[:300]}")

    # -- all of it

    async def run(self) -> Report:
        config = self.config
        self.say(f"seed {config.seed}; {len(self.schedule)} faults scheduled:")
        for fault in self.schedule:
            self.say("  " + fault.describe())
        self.sessions = [Session(self, n) for n in range(config.sessions)]
        for session in self.sessions:
            await session.open()
        self.t0 = time.monotonic()
        runners = [
            asyncio.create_task(self.tab_runner(session))
            for session in self.sessions
            for _ in range(config.tabs_per_session)
        ]
        helpers = [asyncio.create_task(self.sample()), asyncio.create_task(self.progress())]
        faults = asyncio.create_task(self.run_faults())
        end = config.warmup + config.minutes * 60
        await asyncio.sleep(max(0.0, end - self.now()))
        self.say("faults over: waiting for the last ones to end")
        await faults
        self.say("clearing every fault")
        await self.clear_faults()
        self.say("stopping the load, draining")
        self.stop.set()
        await self.drain()
        await asyncio.wait(runners, timeout=config.job_timeout + 15)
        for task in runners:
            task.cancel()
        await asyncio.gather(*runners, *helpers, return_exceptions=True)
        self.say("verifying")
        await self.verify()
        for tab in self.tabs:
            await tab.close()
        for session in self.sessions:
            await session.aclose()
        self.report.seconds = self.now()
        return self.report


# --- starting the processes --------------------------------------------------------------------------


@contextmanager
def chaos_stack(data_dir: Path, config: Config) -> Iterator[LiveApp]:
    """Three simulators and one ComfyWeb process with its own SQLite database in `data_dir`."""
    env = {
        "COMFYWEB_FAILOVER_AFTER": str(config.failover_after),
        "COMFYWEB_LOG_LEVEL": "INFO",
    }
    with live_app(data_dir, simulators=3, sim_delay=config.sim_delay, env=env) as app:
        yield app


def run(config: Config) -> Report:
    data_dir = config.data_dir or Path(tempfile.mkdtemp(prefix="comfyweb-chaos-"))
    with chaos_stack(data_dir, config) as app:
        report = asyncio.run(Chaos(app, config).run())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.chaos", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of faults (default 30)")
    parser.add_argument("--fault-rate", type=float, default=6.0, help="faults per minute (default 6)")
    parser.add_argument("--seed", type=int, default=None, help="default: random")
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--tabs", type=int, default=3, help="tabs per session")
    parser.add_argument("--loops", type=int, default=2, help="jobs each tab keeps in flight")
    parser.add_argument("--jobs-per-tab", type=int, default=150, help="then the tab is replaced by a new one")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the data directory even when all is well")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="comfyweb-chaos-"))
    config = Config(
        minutes=args.minutes,
        fault_rate=args.fault_rate,
        seed=seed,
        sessions=args.sessions,
        tabs_per_session=args.tabs,
        loops_per_tab=args.loops,
        jobs_per_tab=args.jobs_per_tab,
        data_dir=data_dir,
        verbose=not args.quiet,
        drain_timeout=180.0,
    )
    print(f"chaos seed {seed} (again: --seed {seed}); data in {data_dir}", flush=True)
    report = run(config)
    print(report.summary(), flush=True)
    failed = bool(report.problems()) or report.acknowledged == 0
    if failed or args.keep:
        print(f"data and logs kept in {data_dir} (serve.log)")
    elif args.data_dir is None:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
