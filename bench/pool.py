"""The pool part (issue W): warm models pay, on a fixed workload.

Four simulators, each holding two of three checkpoints (every checkpoint on at least two
servers), VRAM for one model, a load of 3 s and sampling of 1 s; 60 text-to-image jobs from
three sessions, with a seeded random model mix, arriving in four bursts. The same workload runs
with ComfyWeb's policy (COMFYWEB_WARM_PLACEMENT on) and placed warmth-blind (the least
outstanding work among servers that have the model: issue P's policy), for three seeds fixed
in advance (SEEDS: one draw of a model mix is luck; the first seed alone happened to put ten
of the first fifteen jobs on one checkpoint, which flatters blind placement). Beside them, a
lower bound: every server loads each model it uses at most once, and the work is spread
perfectly. The figures compare the means over the seeds; each seed's run is reported too,
with the loads the simulators counted (GET /_sim/models).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from bench.clients import Session
from bench.pool_reference import clairvoyant
from bench.procs import PYTHON, Proc, Stack, comfyweb_env, free_port, wait_port

CHECKPOINTS = ("ckpt-a.safetensors", "ckpt-b.safetensors", "ckpt-c.safetensors")
HOLDS = ((0, 1), (1, 2), (2, 0), (0, 1))  # each server's two checkpoints
LOAD_SECONDS = 3.0
SAMPLE_SECONDS = 1.0
JOBS = 60
SESSIONS = 3
BURSTS = 4
BURST_GAP = 2.0  # seconds between bursts: the pool stays busy, so placement decides
SEED = 20261201
SEEDS = (SEED, SEED + 1, SEED + 2)  # fixed before any was run with the policy
MAX_QUEUED = 2

WORKFLOW = "pool-t2i"
SEED_WORKFLOW = f"""
from jobs.core.builtin_workflows import txt2img_graph
from jobs.core.models import Workflow
params = [{{"name": "model", "type": "choice", "node": "4", "input": "ckpt_name",
            "choices": {list(CHECKPOINTS)!r}, "default": {CHECKPOINTS[0]!r}}},
          {{"name": "seed", "type": "seed", "node": "3", "input": "seed"}}]
Workflow.objects.update_or_create(slug={WORKFLOW!r}, defaults={{
    "name": "pool", "graph": txt2img_graph({CHECKPOINTS[0]!r}, 64, "pool"), "params": params}})
"""


def workload(jobs: int = JOBS, seed: int = SEED) -> list[tuple[float, int, str]]:
    """(arrival second, session, checkpoint) of every job: bursts, a seeded model mix."""
    rng = random.Random(seed)
    per_burst = -(-jobs // BURSTS)
    plan = []
    for number in range(jobs):
        burst = number // per_burst
        plan.append((burst * BURST_GAP, number % SESSIONS, rng.choice(CHECKPOINTS)))
    return plan


def lower_bound(plan: list[tuple[float, int, str]], servers: int = len(HOLDS)) -> dict[str, float]:
    """The fastest any placement could be. Each server used loads at least one model (VRAM
    starts empty) and each model it uses at most once, so k servers load at least max(k,
    models) times; the sampling and those loads spread perfectly over them, with no queueing
    beyond that (the best k wins). And each job's time to result at least its sampling and its
    place in its burst, plus its share of the loads."""
    models = len({m for _, _, m in plan})
    work = min(
        (len(plan) * SAMPLE_SECONDS + max(k, models) * LOAD_SECONDS) / k for k in range(1, servers + 1)
    )
    last_arrival = max(t for t, _, _ in plan)
    per_burst = [sum(1 for t, _, _ in plan if t == start) for start in sorted({t for t, _, _ in plan})]
    # Each burst needs at least its jobs' sampling spread over the servers.
    burst_span = max(n * SAMPLE_SECONDS / servers for n in per_burst)
    makespan = max(work, last_arrival + burst_span)
    # Mean time to result: a burst of n jobs on `servers` servers, jobs one after another.
    waits = []
    for n in per_burst:
        for position in range(n):
            waits.append((position // servers + 1) * SAMPLE_SECONDS)
    mean = statistics.mean(waits) + max(servers, models) * LOAD_SECONDS / len(plan)
    return {"workload_s": round(makespan, 2), "mean_result_s": round(mean, 2)}


def simulator(stack: Stack, index: int, held: tuple[int, int]) -> Proc:
    port = free_port()
    name = f"pool-{index}"
    models = ",".join(f"checkpoints/{CHECKPOINTS[i]}" for i in held)
    argv = [
        PYTHON, "-m", "simulator", "--port", str(port), "--data-dir", str(stack.root / name), "--name", name,
        "--models", models, "--vram", "1", "--load-seconds", str(LOAD_SECONDS),
        "--sampler-seconds", str(SAMPLE_SECONDS),
    ]  # fmt: skip
    proc = stack.spawn(name, argv, port=port)
    wait_port(proc, 20, "/system_stats")
    return proc


async def run_policy(
    root: Path, warm: bool, plan: list[tuple[float, int, str]], timeout: float
) -> dict[str, Any]:
    with Stack(root) as stack:
        sims = [simulator(stack, i, held) for i, held in enumerate(HOLDS)]
        stack.env = comfyweb_env(root, sims) | {"COMFYWEB_WARM_PLACEMENT": "1" if warm else "0"}
        stack.comfyweb_db(sims, MAX_QUEUED)
        stack.manage("shell", "-c", SEED_WORKFLOW)
        web = stack.web("web")
        sessions = [await Session(web.url).open() for _ in range(SESSIONS)]
        try:
            await _wait_inventories(sessions[0], timeout)
            result = await _drive(sessions, plan, timeout)
            result["loads"] = await _loads(sessions[0], sims)
            return result
        finally:
            for session in sessions:
                await session.aclose()


async def _loads(session: Session, sims: list[Proc]) -> int:
    """Model loads the simulators counted over the run."""
    total = 0
    for sim in sims:
        total += (await session.http.get(f"{sim.url}/_sim/models")).json()["loads"]
    return total


async def _wait_inventories(session: Session, timeout: float) -> None:
    """Until every server's models are read: a job the pool cannot place yet would wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = (await session.http.get("/healthz")).json()
        if health["servers"] and all(s["status"] == "online" for s in health["servers"]):
            await asyncio.sleep(1.0)  # the relay reads /object_info right after connecting
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the pool's servers did not come online")


async def _drive(
    sessions: list[Session], plan: list[tuple[float, int, str]], timeout: float
) -> dict[str, Any]:
    """Submit the jobs at their arrival times while polling every submitted job's state, so
    that a job's time to result is measured when it ends, not after the last arrival."""
    started = time.monotonic()
    submitted: dict[str, tuple[int, float]] = {}
    finished: dict[str, float] = {}
    servers: dict[str, str] = {}
    done_submitting = asyncio.Event()

    async def submit_all() -> None:
        for arrival, who, model in plan:
            await asyncio.sleep(max(0.0, started + arrival - time.monotonic()))
            session = sessions[who]
            body = {"tab": str(uuid.uuid4()), "workflow": WORKFLOW, "params": {"model": model}}
            answer = await session.http.post("/api/jobs/", headers={"X-CSRFToken": session.csrf}, json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"submit: {answer.status_code} {answer.text[:300]}")
            submitted[answer.json()["job"]["id"]] = (who, time.monotonic())
        done_submitting.set()

    async def poll_all() -> None:
        deadline = started + max(t for t, _, _ in plan) + timeout
        while not (done_submitting.is_set() and len(finished) == len(submitted)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(submitted) - len(finished)} jobs unfinished after {timeout} s")
            for job_id, (who, _) in list(submitted.items()):
                if job_id in finished:
                    continue
                job = (await sessions[who].http.get(f"/api/jobs/{job_id}/")).json()["job"]
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    if job["status"] != "succeeded":
                        raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
                    finished[job_id] = time.monotonic()
                    servers[job_id] = job["server"]
            await asyncio.sleep(0.1)

    await asyncio.gather(submit_all(), poll_all())
    results = [finished[j] - submitted[j][1] for j in submitted]
    return {
        "workload_s": round(max(finished.values()) - started, 2),
        "mean_result_s": round(statistics.mean(results), 2),
        "p90_result_s": round(sorted(results)[int(0.9 * (len(results) - 1))], 2),
        "jobs": len(results),
        "per_server": {name: list(servers.values()).count(name) for name in sorted(set(servers.values()))},
    }


async def part_pool(args: Any, root: Path) -> dict[str, Any]:
    jobs = 12 if args.quick else JOBS
    seeds = SEEDS[:1] if args.quick else SEEDS
    runs = []
    for seed in seeds:
        plan = workload(jobs, seed)
        warm = await run_policy(root / f"warm-{seed}", True, plan, args.timeout * 3)
        blind = await run_policy(root / f"blind-{seed}", False, plan, args.timeout * 3)
        reference = clairvoyant(
            plan, [[CHECKPOINTS[i] for i in held] for held in HOLDS], LOAD_SECONDS, SAMPLE_SECONDS
        )
        runs.append(
            {
                "seed": seed,
                "warm": warm,
                "blind": blind,
                "lower_bound": lower_bound(plan),
                "clairvoyant": reference,
            }
        )
    mean = {
        policy: {
            figure: round(statistics.mean(run[policy][figure] for run in runs), 2)
            for figure in runs[0][policy]
            if figure not in ("per_server", "jobs")
        }
        | ({"jobs": jobs} if policy in ("warm", "blind") else {})
        for policy in ("warm", "blind", "lower_bound", "clairvoyant")
    }
    return {
        "workload": {
            "servers": len(HOLDS),
            "checkpoints": len(CHECKPOINTS),
            "holds": [[CHECKPOINTS[i] for i in held] for held in HOLDS],
            "vram_models": 1,
            "load_s": LOAD_SECONDS,
            "sample_s": SAMPLE_SECONDS,
            "jobs": jobs,
            "sessions": SESSIONS,
            "bursts": BURSTS,
            "burst_gap_s": BURST_GAP,
            "seeds": list(seeds),
        },
        "runs": runs,
        **mean,
        "speedup_vs_model_blind": round(mean["blind"]["workload_s"] / mean["warm"]["workload_s"], 2),
        "ratio_to_lower_bound": round(mean["warm"]["workload_s"] / mean["lower_bound"]["workload_s"], 2),
        # The most any policy could gain over blind placement: blind / the clairvoyant schedule.
        "blind_over_clairvoyant": round(mean["blind"]["workload_s"] / mean["clairvoyant"]["workload_s"], 2),
        "ratio_to_clairvoyant": round(mean["warm"]["workload_s"] / mean["clairvoyant"]["workload_s"], 2),
    }
