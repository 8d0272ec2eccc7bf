"""Servers of an earlier run and a dead URL beside live servers lose no job (issue R).

The database still lists the two built-in simulators of an earlier `make run`, enabled and
"online" as that run left them, with a tab locked to one, and a server of an older
COMFYUI_SERVERS, dead now; COMFYUI_SERVERS names two live simulators and a URL nothing
listens on. Every job runs to success on the live servers, in one attempt each.
"""

from __future__ import annotations

import uuid

import pytest

from tests.clients import Browser
from tests.factories import png_bytes
from tests.faults.test_faults import assert_inverted
from tests.live import live_app

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("faults")]

DEAD = "http://127.0.0.1:9"
LOCKED_TAB = "6f0a8a43-4d4e-4c53-9a55-3b0e1c1f5e11"

EARLIER_RUN = f"""
from django.utils import timezone
from jobs.core.models import RelayLease, Server, Tab
for number, port in ((1, 1), (2, 7)):
    server = Server.objects.create(
        name=f"sim-{{number}}", url=f"http://127.0.0.1:{{port}}", status="online",
        status_by="laptop-web:4242:0ld", last_seen=timezone.now(), builtin=True, max_queued=2,
    )
    RelayLease.objects.create(server=server, holder="laptop-web:4242:0ld", expires_at=timezone.now())
Server.objects.create(
    name="gpu-old", url="http://127.0.0.1:5", status="online", status_by="laptop-web:4242:0ld",
    last_seen=timezone.now(),
)
Tab.objects.create(id="{LOCKED_TAB}", session_key="gone", server=Server.objects.get(name="sim-1"))
"""


def test_servers_of_an_earlier_run_and_a_dead_url_lose_no_job(tmp_path):
    with live_app(tmp_path, simulators=2, sim_delay=0.05, extra_servers=(DEAD,), seed=EARLIER_RUN) as app:
        assert "disabled 2 built-in simulator(s) of an earlier run" in app.log
        live = {app.simulator_name(0), app.simulator_name(1)}
        browser = Browser(app)
        tabs = [str(uuid.uuid4()) for _ in range(6)]
        sources = {}
        jobs = []
        for n, tab in enumerate(tabs):
            for k in range(2):
                data = png_bytes(width=9 + n, height=7 + k, colour=(n * 40 % 256, k * 90, 77))
                job = browser.submit(tab, browser.upload(data))
                sources[job["id"]] = data
                jobs.append(job["id"])
        finished = browser.wait_finished(jobs, timeout=90)
        for job_id in jobs:
            final = finished[job_id]
            assert final["status"] == "succeeded", final["error"]
            assert final["server"] in live and final["attempt"] == 1, final
            assert_inverted(browser, final, sources[job_id])
        health = browser.http.get("/healthz").json()
        status = {s["name"]: s["status"] for s in health["servers"]}
        assert status["127.0.0.1-9"] == "offline" and status["gpu-old"] == "offline"
        assert not any(s["name"].startswith("sim-") and s["enabled"] for s in health["servers"])
