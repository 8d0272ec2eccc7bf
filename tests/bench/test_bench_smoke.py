"""`make bench` in miniature: every part runs at tiny sizes with real processes and produces the
table and the JSON with the figures the targets name. The full benchmark stays out of the suite.

Also the simulator's benchmark controls: the flood's frames are protocol-shaped and carry their
send time in the node id, and /_sim/release ends a held node early.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import aiohttp
import pytest

from bench.clients import distinct_png, flood_stamp, invert_prompt
from simulator.testing import running_simulator
from tests.paths import REPO

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("bench")]

PARTS = ("latency", "hop", "tabs", "redis", "pool")
FIGURES = (
    "added_p50_ms_at_64",
    "added_p99_ms_at_64",
    "throughput_ratio_at_64",
    "added_p50_ms_at_1",
    "cpu_ratio_worst",
    "hop_p50_ms",
    "hop_p99_ms",
    "hop_lost",
    "tabs_rss_mb",
    "tabs_fanout_ms",
    "redis_lost",
    "pool_speedup_vs_model_blind",
    "pool_ratio_to_lower_bound",
)


@pytest.mark.timeout(600)
def test_quick_bench_produces_table_and_json(tmp_path):
    out = tmp_path / "bench-results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--work-dir", str(tmp_path / "work")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    results = json.loads(out.read_text())
    assert results["errors"] == {}
    assert set(results["parts"]) == set(PARTS)
    assert set(FIGURES) <= set(results["figures"])
    assert set(results["targets"]) == set(FIGURES)
    for verdict in results["targets"].values():
        assert verdict["pass"] in (True, False) and verdict["value"] is not None

    for part in ("latency", "redis"):
        for level in results["parts"][part]["levels"]:
            for side in ("direct", "comfyweb"):
                figures = level[side]
                assert figures["errors"] == 0, figures["first_error"]
                assert figures["n"] == level["tabs"] * level["jobs_per_tab"]
                assert 0 < figures["p50_ms"] <= figures["p99_ms"] < 60_000
                assert figures["throughput"] > 0
            assert level["throughput_ratio"] > 0

    pool = results["parts"]["pool"]
    for policy in ("warm", "blind"):
        assert pool[policy]["jobs"] == pool["workload"]["jobs"] and pool[policy]["workload_s"] > 0
    assert pool["lower_bound"]["workload_s"] <= min(pool["warm"]["workload_s"], pool["blind"]["workload_s"])
    assert pool["lower_bound"]["workload_s"] <= pool["clairvoyant"]["workload_s"]

    hops = {**results["parts"]["hop"], "redis": results["parts"]["redis"]["hop"]}
    for name, hop in hops.items():
        assert hop["flood"]["sent"] > 0, name
        assert 0 < hop["received"] <= hop["flood"]["sent"], name
        assert 0 <= hop["p50_ms"] <= hop["p99_ms"] < 30_000, name
        assert all(0 <= cpu < 8 for cpu in hop["cpu_cores"].values()), name
    for name in ("comfyweb", "redis"):  # ComfyWeb's socket counters, read from its /metrics
        assert set(hops[name]["sockets"]) == {"early", "refreshes"}, name
        assert hops[name]["sockets"]["refreshes"] >= hops[name]["states"]["refreshed"] >= 0, name
    assert results["figures"]["hop_lost"] == 0, results["parts"]["hop"]["comfyweb"]["states"]
    assert results["figures"]["redis_lost"] == 0, results["parts"]["redis"]["hop"]["states"]

    for name, tabs in results["parts"]["tabs"].items():
        assert tabs["reached"] == tabs["tabs"], name
        assert 5 < tabs["rss_mb"] < 2000, name
        assert 0 < tabs["fanout_ms"] < 30_000, name

    table = done.stdout
    for heading in ("1. Time to result", "2. Relay hop", "3. Connected tabs", "4a.", "4b.", "Targets"):
        assert heading in table
    assert "PASS" in table or "FAIL" in table


async def test_flood_frames_carry_send_time_and_release_ends_a_held_node():
    async with running_simulator(delay=30.0) as sim, aiohttp.ClientSession() as session:
        async with session.ws_connect(sim.ws_url("bench-client")) as ws:
            await ws.receive_json()  # the on-connect status
            before = time.monotonic_ns()
            body = {"client_id": "bench-client", "prompt_ids": ["p1", "p2"], "rate": 0, "seconds": 5}
            async with session.post(f"{sim.url}/_sim/flood", json=body) as answer:
                assert answer.status == 200
                assert (await answer.json())["count"] == 4
            frames = [await ws.receive_json() for _ in range(4)]
        assert [f["type"] for f in frames] == ["progress_state", "progress"] * 2
        assert [f["data"]["prompt_id"] for f in frames] == ["p1", "p1", "p2", "p2"]
        assert frames[1]["data"]["max"] == 100 and "value" in frames[1]["data"]
        node = frames[0]["data"]["nodes"]
        assert next(iter(node.values()))["state"] == "running"
        stamps = [flood_stamp(f) for f in frames]
        assert [seq for seq, _ in stamps] == [1, 2, 3, 4]
        assert all(before <= sent <= time.monotonic_ns() for _, sent in stamps)
        async with session.get(f"{sim.url}/_sim/flood") as answer:
            (report,) = (await answer.json())["floods"]
        assert report["sent"] == 4 and not report["running"]

        # A job held by a 30 s node delay finishes at once after delay 0 and a release.
        form = aiohttp.FormData()
        form.add_field("image", distinct_png(1), filename="held.png")
        async with session.post(f"{sim.url}/upload/image", data=form) as answer:
            name = (await answer.json())["name"]
        async with session.ws_connect(sim.ws_url("held")) as ws:
            await ws.receive_json()
            prompt = {"prompt": invert_prompt(name), "prompt_id": "held-1", "client_id": "held"}
            async with session.post(f"{sim.url}/prompt", json=prompt) as answer:
                assert answer.status == 200
            async with asyncio.timeout(5):
                while (await ws.receive_json())["type"] != "executing":
                    pass
                await session.post(f"{sim.url}/_sim/faults", json={"delay": 0})
                async with session.post(f"{sim.url}/_sim/release") as answer:
                    assert (await answer.json())["released"] is True
                while True:
                    frame = await ws.receive_json()
                    if frame["type"] == "executing" and frame["data"]["node"] is None:
                        break
