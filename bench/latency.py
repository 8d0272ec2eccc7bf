"""Figure 1: time to result through ComfyWeb against a direct client of the same servers.

Both sides run the same closed loop per tab: upload a distinct image, queue the invert graph,
wait for the job to finish on the socket, then download the output. Latency is measured from
the start of the upload to the last byte of the output, on both sides; throughput is jobs per
second of wall time over the whole level.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.clients import DirectTab, Session, Tab, distinct_png
from bench.control import bounded
from bench.procs import CpuMeter
from bench.stats import summary_s

_images = itertools.count(1_000_000)


def _cpu_ms_per_job(meter: CpuMeter, wall: float, jobs: int) -> float | None:
    """CPU time of the metered processes, all together, per finished job (ms)."""
    if not jobs or not meter.pids:
        return None
    return round(sum(meter.stop().values()) * wall * 1000 / jobs, 2)


async def direct_level(
    sim_urls: list[str], tabs: int, jobs_per_tab: int, timeout: float, cpu_pids: list[int] = ()
) -> dict[str, Any]:
    """`cpu_pids`: the simulators and this process (the client), metered over the level."""
    clients = [DirectTab(sim_urls[i % len(sim_urls)]) for i in range(tabs)]
    await bounded(clients, lambda c: c.connect(), 32)

    async def one_job(client: DirectTab, image: bytes) -> None:
        await client.run_job(image, timeout)

    result = await _closed_loops(clients, one_job, jobs_per_tab, timeout, cpu_pids)
    await bounded(clients, lambda c: c.close(), 64)
    return result


async def comfyweb_level(
    web_urls: list[str], tabs: int, jobs_per_tab: int, timeout: float, cpu_pids: list[int] = ()
) -> dict[str, Any]:
    """One session per tab (spread over the web processes), each with its tab socket open.
    `cpu_pids`: ComfyWeb's processes (web, relay), metered over the level."""
    sessions = [Session(web_urls[i % len(web_urls)]) for i in range(tabs)]
    await bounded(sessions, lambda s: s.open(), 16)
    sockets = [Tab(s, s.base_url.replace("http://", "ws://")) for s in sessions]
    await bounded(sockets, lambda t: t.connect(), 16)

    async def one_job(tab: Tab, image: bytes) -> None:
        await comfyweb_job(tab, image, timeout)

    result = await _closed_loops(sockets, one_job, jobs_per_tab, timeout, cpu_pids)
    result["seq_gaps"] = sum(t.gaps for t in sockets)
    await bounded(sockets, lambda t: t.close(), 64)
    await bounded(sessions, lambda s: s.aclose(), 64)
    return result


async def comfyweb_job(tab: Tab, image: bytes, timeout: float) -> None:
    """One job as a browser tab makes it: upload, submit, wait on the socket, download."""
    upload_id = await tab.session.upload(image)
    job = await tab.session.submit(tab.id, upload_id)
    done = await asyncio.wait_for(tab.finished(job["id"]), timeout)
    if done["status"] != "succeeded" or not done["outputs"]:
        raise RuntimeError(f"job {job['id']} ended {done['status']}: {done.get('error')}")
    for output in done["outputs"]:
        await tab.session.download(output["url"])


async def _closed_loops(
    clients: list[Any],
    one_job: Callable[[Any, bytes], Awaitable[None]],
    jobs_per_tab: int,
    timeout: float,
    cpu_pids: list[int],
) -> dict[str, Any]:
    """Each client runs `jobs_per_tab` jobs one after another, all clients at once; latency is
    from the start of a job to its end, throughput is jobs per second of the whole level."""
    times: list[float] = []
    errors: list[str] = []

    async def loop(client: Any) -> None:
        for _ in range(jobs_per_tab):
            image = distinct_png(next(_images))
            start = time.perf_counter()
            try:
                await one_job(client, image)
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            times.append(time.perf_counter() - start)

    meter = CpuMeter(list(cpu_pids))
    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(loop(c) for c in clients)), timeout * jobs_per_tab + 30)
    wall = time.perf_counter() - start
    return {
        **summary_s(times),
        "cpu_ms_per_job": _cpu_ms_per_job(meter, wall, len(times)),
        "wall_s": round(wall, 3),
        "throughput": round(len(times) / wall, 2),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


async def time_to_result(
    web_urls: list[str],
    sim_urls: list[str],
    levels: list[int],
    jobs: dict[int, int],
    timeout: float,
    *,
    sim_pids: list[int] = (),
    comfyweb_pids: list[int] = (),
) -> list[dict[str, Any]]:
    """Per level, the direct side then ComfyWeb. CPU per job: on the direct side the client and
    the simulators; on ComfyWeb's side its own processes only (what it adds)."""
    rows = []
    for tabs in levels:
        per_tab = jobs[tabs]
        direct = await direct_level(sim_urls, tabs, per_tab, timeout, [*sim_pids, os.getpid()])
        web = await comfyweb_level(web_urls, tabs, per_tab, timeout, list(comfyweb_pids))
        rows.append(
            {"tabs": tabs, "jobs_per_tab": per_tab, "direct": direct, "comfyweb": web, **compare(direct, web)}
        )
    return rows


def compare(direct: dict[str, Any], web: dict[str, Any]) -> dict[str, Any]:
    def minus(key: str) -> float | None:
        if direct[key] is None or web[key] is None:
            return None
        return round(web[key] - direct[key], 2)

    ratio = round(web["throughput"] / direct["throughput"], 3) if direct["throughput"] else None
    cpu_direct, cpu_web = direct.get("cpu_ms_per_job"), web.get("cpu_ms_per_job")
    # ComfyWeb's own processes per job against the direct client and its simulators (issue Y).
    cpu_ratio = round(cpu_web / cpu_direct, 2) if cpu_direct and cpu_web is not None else None
    return {
        "added_p50_ms": minus("p50_ms"),
        "added_p99_ms": minus("p99_ms"),
        "throughput_ratio": ratio,
        "cpu_ratio": cpu_ratio,
    }
