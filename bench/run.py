"""The benchmark of issue 7: starts everything it needs, measures side by side, prints a table
and writes it as JSON (`bench-results.json` at the repo root by default).

    python -m bench              # the full run (about 10 minutes on 2 cores)
    python -m bench --quick      # tiny sizes: a smoke run
    python -m bench --only hop,tabs --hop-seconds 5

Parts: `latency` (time to result vs a direct client), `hop` (relay hop at a fixed frame rate,
beside two floors), `tabs` (many connected tabs on one web process), `redis` (the first two with
REDIS_URL, two web processes and a relay process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import platform
import resource
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import fanout, hop, latency, pool, report
from bench.control import SimControl
from bench.procs import REPO, Stack, comfyweb_env

PARTS = ("latency", "hop", "tabs", "redis", "pool")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run of every part)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results.json")
    parser.add_argument("--work-dir", type=Path, default=REPO / "var" / "bench", help="logs and data")
    parser.add_argument("--levels", default="1,16,64,256", help="concurrent tabs for time to result")
    # 1,000 a side: 128 took two seconds on ComfyWeb's side at 16 and 64 tabs, and the CPU
    # ratio of one level moved by 0.4 from run to run (1.74 to 2.19 at 16 tabs on one day).
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per level at least (2 per tab at least)")
    parser.add_argument("--sims", type=int, default=2, help="simulators for time to result")
    parser.add_argument("--max-queued", type=int, default=100_000, help="Server.max_queued for the run")
    parser.add_argument("--hop-tabs", type=int, default=200)
    parser.add_argument("--hop-rate", type=float, default=2000.0, help="frames per second in total")
    parser.add_argument("--hop-seconds", type=float, default=10.0)
    parser.add_argument(
        "--release-at", type=float, default=0.6, help="fraction of the flood at which jobs end"
    )
    parser.add_argument("--tabs", type=int, default=1000, help="connected tabs on one web process")
    parser.add_argument("--tabs-per-session", type=int, default=20)
    parser.add_argument("--redis-levels", default="64", help="concurrent tabs for time to result with Redis")
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on any one wait")
    args = parser.parse_args(argv)
    if args.quick:
        args.levels, args.jobs, args.redis_levels = "1,4", 8, "4"
        args.hop_tabs, args.hop_rate, args.hop_seconds = 20, 200.0, 2.0
        args.tabs, args.tabs_per_session, args.timeout = 40, 10, 60.0
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    return args


def _levels(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _jobs_per_tab(levels: list[int], jobs: int) -> dict[int, int]:
    return {tabs: max(2, math.ceil(jobs / tabs)) for tabs in levels}


def _client_ids(stack: Stack) -> dict[str, str]:
    code = (
        "import json; from jobs.core.models import Server; "
        "print(json.dumps({s.url: s.client_id for s in Server.objects.all()}))"
    )
    return json.loads(stack.manage("shell", "-c", code).strip().splitlines()[-1])


# --- the parts ---------------------------------------------------------------------------------


async def part_latency(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    with Stack(root) as stack:
        sims = [stack.simulator(f"sim-{n}") for n in range(args.sims)]
        web = stack.embedded(sims, args.max_queued)
        levels = _levels(args.levels)
        rows = await latency.time_to_result(
            [web.url],
            [s.url for s in sims],
            levels,
            _jobs_per_tab(levels, args.jobs),
            args.timeout,
            sim_pids=[s.pid for s in sims],
            comfyweb_pids=[web.pid],
        )
        return {"sims": args.sims, "max_queued": args.max_queued, "levels": rows}


@contextlib.asynccontextmanager
async def _one_sim_stack(args: argparse.Namespace, root: Path, sim_name: str):
    """One simulator and one web process (relay inside), and the relay's socket on it:
    yields (stack, simulator process, web process, its control, the relay's client id)."""
    with Stack(root) as stack:
        sim_proc = stack.simulator(sim_name)
        web = stack.embedded([sim_proc], args.max_queued)
        sim = SimControl(sim_proc.url)
        try:
            relay_client = await sim.wait_socket(_client_ids(stack)[sim_proc.url])
            yield stack, sim_proc, web, sim, relay_client
        finally:
            await sim.aclose()


FLOORS = (("channels", "bench.floor_channels"), ("websockets", "bench.floor_ws"))


async def part_hop(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    async with _one_sim_stack(args, root, "sim-hop") as (stack, sim_proc, web, sim, relay_client):
        sizes = {"rate": args.hop_rate, "seconds": args.hop_seconds}
        result = {
            "comfyweb": await hop.comfyweb_hop(
                [web.url],
                sim,
                relay_client,
                {"web": web.pid},
                tabs=args.hop_tabs,
                tabs_per_session=args.tabs_per_session,
                release_at=args.release_at,
                timeout=args.timeout,
                **sizes,
            ),
        }
        for name, module in FLOORS:
            result[name] = await hop.floor_hop(stack, module, sim_proc, sim, tabs=args.hop_tabs, **sizes)
        return result


async def part_tabs(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    async with _one_sim_stack(args, root, "sim-tabs") as (stack, sim_proc, web, sim, relay_client):
        result = {
            "comfyweb": await fanout.comfyweb_tabs(
                [web.url],
                sim,
                relay_client,
                web.pid,
                tabs=args.tabs,
                tabs_per_session=args.tabs_per_session,
                timeout=args.timeout,
            )
        }
        for name, module in FLOORS:
            result[name] = await fanout.floor_tabs(stack, module, sim_proc, sim, tabs=args.tabs)
        return result


async def part_redis(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Two web processes and a relay process on Redis: time to result and the relay hop."""
    with Stack(root) as stack:
        redis = stack.redis()
        sims = [stack.simulator(f"sim-{n}") for n in range(args.sims)]
        hop_sim_proc = stack.simulator("sim-hop")
        stack.env = comfyweb_env(root, [*sims, hop_sim_proc], redis_url=f"redis://127.0.0.1:{redis.port}/0")
        stack.comfyweb_db([*sims, hop_sim_proc], args.max_queued)
        webs = [stack.web("web-1", relay="no"), stack.web("web-2", relay="no")]
        relay = stack.relay()
        sim = SimControl(hop_sim_proc.url)
        try:
            server_client = _client_ids(stack)[hop_sim_proc.url]
            await sim.wait_socket(server_client, timeout=30)
            # The hop simulator takes no time-to-result jobs: disabled while those run.
            stack.manage("shell", "-c", _enable(hop_sim_proc.url, False))
            levels = _levels(args.redis_levels)
            rows = await latency.time_to_result(
                [w.url for w in webs],
                [s.url for s in sims],
                levels,
                _jobs_per_tab(levels, args.jobs),
                args.timeout,
                sim_pids=[s.pid for s in sims],
                comfyweb_pids=[*(w.pid for w in webs), relay.pid],
            )
            stack.manage("shell", "-c", _enable(hop_sim_proc.url, True, others=False))
            relay_client = await sim.wait_socket(server_client, timeout=30)
            pids = {"web-1": webs[0].pid, "web-2": webs[1].pid, "relay": relay.pid, "redis": redis.pid}
            result_hop = await hop.comfyweb_hop(
                [w.url for w in webs],
                sim,
                relay_client,
                pids,
                tabs=args.hop_tabs,
                tabs_per_session=args.tabs_per_session,
                rate=args.hop_rate,
                seconds=args.hop_seconds,
                release_at=args.release_at,
                timeout=args.timeout,
            )
            return {"max_queued": args.max_queued, "levels": rows, "hop": result_hop}
        finally:
            await sim.aclose()


def _enable(url: str, enabled: bool, others: bool | None = None) -> str:
    code = "from jobs.core.models import Server; "
    code += f"Server.objects.filter(url={url!r}).update(enabled={enabled})"
    if others is not None:
        code += f"; Server.objects.exclude(url={url!r}).update(enabled={others})"
    return code


# --- the run -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": _cpus(), "python": platform.python_version(), "platform": platform.platform()},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "parts": {},
        "errors": {},
    }
    functions = {
        "latency": part_latency,
        "hop": part_hop,
        "tabs": part_tabs,
        "redis": part_redis,
        "pool": pool.part_pool,
    }
    for part in args.parts:
        started = time.monotonic()
        print(f"[bench] {part} ...", file=sys.stderr, flush=True)
        try:
            results["parts"][part] = await functions[part](args, args.work_dir / part)
        except Exception as error:
            results["errors"][part] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        print(f"[bench] {part} done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    results["figures"] = report.figures(results["parts"])
    results["targets"] = report.verdicts(results["figures"])
    return results


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _raise_file_limit()
    started = time.monotonic()
    results = asyncio.run(run(args))
    results["duration_s"] = round(time.monotonic() - started, 1)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(report.render(results))
    print(f"\nwritten to {args.out} ({results['duration_s']} s)")
    return 1 if results["errors"] else 0
