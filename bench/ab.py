"""Two commits side by side, one job each in turn: `make ab AB_ARGS="--base <commit>"`.

On a shared machine two runs of the latency part minutes apart differed by more than most
changes to the hot path do (issue Y: the direct client alone moved between 13 and 47 ms a job
from one run to the next), so a change measured run against run says little. Here a worktree
of the base commit and this tree each start their own stack (two simulators, one web process
with its relay inside, as `make run` serves), one tab of each is opened, and jobs alternate
between them in the order A B B A, so that both sides meet the same moments of the machine.
Printed: each side's time to result (p50, mean), its web process's CPU per job over the
whole run, and how many of the pairs the tree under test won.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from bench import latency
from bench.clients import Session, Tab, distinct_png
from bench.procs import REPO, CpuMeter, Stack
from bench.stats import percentile, table

_images = itertools.count(3_000_000)


def worktree(commit: str, into: Path) -> Path:
    """The base commit checked out beside this tree (git worktree), removed by the caller."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(into), commit], check=True)
    return into


async def _side(stack: Stack, timeout: float) -> tuple[Tab, int]:
    web = stack.embedded([stack.simulator(f"sim-{n}") for n in range(2)])
    session = await Session(web.url).open()
    tab = await Tab(session, web.url.replace("http://", "ws://")).connect(timeout)
    for _ in range(20):  # warm: caches, connections, the first statements
        await latency.comfyweb_job(tab, distinct_png(next(_images)), timeout)
    return tab, web.pid


async def compare(base_dir: Path, work: Path, pairs: int, timeout: float) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {"base": [], "this": []}
    with ExitStack() as stacks:
        sides = {
            name: await _side(stacks.enter_context(Stack(work / name, repo=repo)), timeout)
            for name, repo in (("base", base_dir), ("this", REPO))
        }
        meters = {name: CpuMeter([pid]) for name, (_, pid) in sides.items()}
        start = time.monotonic()
        for pair in range(pairs):
            order = ("base", "this") if pair % 2 == 0 else ("this", "base")
            for name in order:
                began = time.perf_counter()
                await latency.comfyweb_job(sides[name][0], distinct_png(next(_images)), timeout)
                times[name].append(time.perf_counter() - began)
        wall = time.monotonic() - start
        cpu = {name: sum(meter.stop().values()) * wall for name, meter in meters.items()}
        for tab, _ in sides.values():
            await tab.close()
            await tab.session.aclose()
    won = sum(t < b for b, t in zip(times["base"], times["this"], strict=True))
    return {
        name: {
            "p50_ms": round(1000 * (percentile(values, 50) or 0), 2),
            "mean_ms": round(1000 * statistics.fmean(values), 2),
            "cpu_ms_per_job": round(1000 * cpu[name] / len(values), 2),
            "pairs_won": won if name == "this" else pairs - won,
        }
        for name, values in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="the commit to compare this tree with")
    parser.add_argument("--pairs", type=int, default=400, help="jobs on each side")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--work-dir", type=Path, default=REPO / "var" / "ab")
    args = parser.parse_args(argv)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    base = worktree(args.base, args.work_dir / "tree")
    try:
        found = asyncio.run(compare(base, args.work_dir, args.pairs, args.timeout))
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=False)
    headers = ["side", "time to result p50 ms", "mean ms", "web CPU ms/job", "pairs won"]
    names = {"base": f"base ({args.base})", "this": "this tree"}
    rows = [[names[name], *row.values()] for name, row in found.items()]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
