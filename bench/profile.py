"""Where ComfyWeb's own CPU goes per job: `make profile`.

Issue Y asks to profile before changing the hot path, and each attempt rebuilt the same
script: start the latency bench's stack, run its closed loop of zero-delay jobs against
ComfyWeb only, and sample the web process (relay inside) with py-spy meanwhile. This is that
script. It prints the functions ranked by their own samples and by their inclusive samples,
ComfyWeb's own modules apart, and keeps py-spy's raw file (one line per stack:
`frame;frame;... count`) for a flame graph.

py-spy counts a thread while it runs or waits for the GIL, not only while it spends CPU: a
worker thread's wake-up of the loop (`_write_to_self`) shows large because it waits there for
the GIL. `--gil` samples only the thread that holds it, closer to CPU but blind to system
calls made without it (socket writes, SQLite's file I/O).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import latency
from bench.procs import REPO, Stack

OURS = ("jobs/", "comfyweb/")  # a frame of ComfyWeb's own code names a file under these


@dataclass
class Ranking:
    total: int
    own: list[tuple[int, str]]  # samples whose innermost frame is the function
    inclusive: list[tuple[int, str]]  # samples with the function anywhere on the stack


def rank(lines: list[str], top: int) -> Ranking:
    """Rank py-spy's raw stacks. A function counts once per stack however deep it recurses."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples, frames = int(count), stack.split(";")
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return Ranking(
        total,
        [(n, frame) for frame, n in own.most_common(top)],
        [(n, frame) for frame, n in inclusive.most_common() if any(part in frame for part in OURS)][:top],
    )


def render(ranking: Ranking) -> str:
    def table(title: str, rows: list[tuple[int, str]]) -> list[str]:
        share = max(ranking.total, 1)
        return [title, *(f"{n:6d} {100 * n / share:5.1f} %  {frame}" for n, frame in rows), ""]

    return "\n".join(
        [
            f"{ranking.total} samples of the web process (relay inside)",
            "",
            *table("by own samples (the innermost frame):", ranking.own),
            *table("ComfyWeb's functions by inclusive samples:", ranking.inclusive),
        ]
    )


def _py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is missing: `make install` installs it (the test extra)")
    return found


async def profile(args: argparse.Namespace) -> Path:
    root = args.work_dir
    shutil.rmtree(root, ignore_errors=True)  # a fresh database and files each run
    root.mkdir(parents=True)
    raw = root / "profile.raw"
    with Stack(root) as stack:
        web = stack.embedded([stack.simulator(f"sim-{n}") for n in range(args.sims)])
        await latency.comfyweb_level([web.url], args.tabs, args.warmup, args.timeout)  # warm caches
        argv = [_py_spy(), "record", "-p", str(web.pid), "-r", str(args.rate), "-f", "raw", "-o", str(raw)]
        argv += ["--nonblocking", *(["--gil"] if args.gil else [])]
        # Its messages go to a file: a pipe nobody reads while the jobs run could fill and stall it.
        log = root / "py-spy.log"
        with log.open("wb") as out:
            spy = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        await asyncio.sleep(1)  # py-spy attaches
        if spy.poll() is not None:
            raise SystemExit(f"py-spy could not attach (ptrace allowed?): {log.read_text()[-500:]}")
        try:
            level = await latency.comfyweb_level([web.url], args.tabs, args.jobs, args.timeout, [web.pid])
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait(60)
    print(f"{args.tabs} tab(s) × {args.jobs} jobs: {level['cpu_ms_per_job']} ms of CPU a job (with py-spy)")
    return raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tabs", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per tab while sampling")
    parser.add_argument("--warmup", type=int, default=20, help="jobs per tab before sampling")
    parser.add_argument("--sims", type=int, default=2)
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--gil", action="store_true", help="only the thread holding the GIL")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--work-dir", type=Path, default=REPO / "var" / "profile")
    args = parser.parse_args(argv)
    raw = asyncio.run(profile(args))
    print(render(rank(raw.read_text().splitlines(), args.top)))
    print(f"raw stacks in {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
