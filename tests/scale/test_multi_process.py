"""Several machines' worth of processes on one: PostgreSQL, Redis, two web processes and
redundant relays, all real and started by the tests (SPEC §2.8, §6)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.clients import Browser, follow_until_done
from tests.factories import png_bytes
from tests.live import REPO, live_cluster
from tests.services import postgres_server, redis_server

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("scale")]


@pytest.fixture(scope="module")
def services():
    with postgres_server() as database_url, redis_server() as redis_url:
        yield database_url, redis_url


def fresh_database(database_url: str, name: str) -> str:
    import psycopg

    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return database_url.rsplit("/", 1)[0] + f"/{name}"


def distinct_png(n: int) -> bytes:
    return png_bytes(width=9 + n, height=7, colour=(n * 41 % 256, n * 17 % 256, 60))


def lease_holders(cluster) -> dict:
    code = (
        "import json; from jobs.relay.leases import holders; "
        "print(json.dumps({k: v[0] for k, v in holders().items()}))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO,
        env=cluster.environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_a_job_submitted_through_one_web_process_reaches_a_tab_on_another(services, tmp_path: Path):
    database_url, redis_url = services
    database_url = fresh_database(database_url, "webs")

    async def scenario(cluster):
        first, second = cluster.webs
        browser = Browser(first)
        tab = str(uuid.uuid4())
        listener = Browser(second)
        listener.http.cookies = browser.http.cookies  # the same person, another machine
        socket = await listener.tab_socket(tab)
        snapshot = json.loads(await socket.recv())
        assert snapshot["type"] == "tab.snapshot"
        await asyncio.sleep(12)  # idle past redis-py's default 5 s socket timeout
        job = browser.submit(tab, browser.upload(distinct_png(1)))
        seen = await follow_until_done(socket, {job["id"]}, timeout=30)
        await socket.close()
        statuses = [m["job"]["status"] for m in seen if m["type"] == "job.updated"]
        assert statuses[-1] == "succeeded", statuses
        assert [m["seq"] for m in seen if "seq" in m] == list(
            range(1, len([m for m in seen if "seq" in m]) + 1)
        )
        final = listener.job(job["id"])
        assert final["status"] == "succeeded" and len(final["outputs"]) == 1
        assert listener.http.get(final["outputs"][0]["url"]).status_code == 200, "files shared by both"
        health = listener.http.get("/healthz").json()
        assert health["ok"] and health["channels"] and health["db"]

    with live_cluster(tmp_path, database_url=database_url, redis_url=redis_url, webs=2, relays=1) as cluster:
        asyncio.run(scenario(cluster))


def test_two_relays_one_killed_mid_queue_every_job_succeeds_exactly_once(services, tmp_path: Path):
    database_url, redis_url = services
    database_url = fresh_database(database_url, "relays")
    env = {"COMFYWEB_RELAY_LEASE": "3"}
    with live_cluster(
        tmp_path, database_url=database_url, redis_url=redis_url, webs=1, relays=2, sim_delay=0.25, env=env
    ) as cluster:
        browser = Browser(cluster.webs[0])
        deadline = time.monotonic() + 20
        while len(lease_holders(cluster)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        holders = lease_holders(cluster)
        assert len(holders) == 2, "every server is watched by a relay"
        tabs = [str(uuid.uuid4()) for _ in range(2)]
        sources = [distinct_png(n) for n in range(8)]
        jobs = [browser.submit(tabs[n % 2], browser.upload(data)) for n, data in enumerate(sources)]
        deadline = time.monotonic() + 30
        while sum(browser.job(j["id"])["status"] == "succeeded" for j in jobs) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        victim = int(next(iter(holders.values())).split(":")[0].rsplit("-", 1)[1])
        cluster.relays[victim].kill()
        cluster.relays[victim].wait(5)
        finished = browser.wait_finished([j["id"] for j in jobs], timeout=90)
        for job in jobs:
            final = finished[job["id"]]
            assert final["status"] == "succeeded", final["error"]
            assert len(final["outputs"]) == 1, "exactly one copy of each output"
            folder = (
                Path(cluster.environment["COMFYWEB_DATA_DIR"])
                / "files"
                / "outputs"
                / uuid.UUID(job["id"]).hex
            )
            assert len(list(folder.iterdir())) == 1
        survivors = set(lease_holders(cluster).values())
        assert all(h.startswith(f"relay-{1 - victim}:") for h in survivors), "the other relay took over"
