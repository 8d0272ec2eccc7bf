"""The simulated VRAM (simulator/residency.py): a model load costs time unless the file is
resident, residency is an LRU of --vram files, and the cost shows between the frames where a
real server spends it. Timing bounds are one-sided and generous: a load is a sleep of at least
its time, so only "at least" is asserted tightly; "no load" allows a wide margin.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulator.__main__ import parse_args
from simulator.residency import Residency
from simulator.testing import RunningSimulator, running_simulator
from tests.simulator.test_models import load_workflow

LOAD = 0.3
PAID = LOAD - 0.02  # a paid load, as the client sees it (frames may arrive a little apart)
FREE = 0.2  # no load: far below LOAD, far above a few small nodes with delay 0
A, B, C = "a.safetensors", "b.safetensors", "c.safetensors"


@dataclass
class Run:
    """The frames of one prompt, each with the time it arrived."""

    frames: list[tuple[float, dict[str, Any]]]

    def executing(self, node: str | None) -> float:
        return next(t for t, f in self.frames if f["type"] == "executing" and f["data"]["node"] == node)

    def after_executing(self, node: str) -> float:
        """The time of the first frame after ``node``'s executing frame that is the next
        node's executing frame or a progress tick."""
        start = next(
            i
            for i, (_, f) in enumerate(self.frames)
            if f["type"] == "executing" and f["data"]["node"] == node
        )
        return next(t for t, f in self.frames[start + 1 :] if f["type"] in ("executing", "progress"))

    def loader_gap(self) -> float:
        """From the checkpoint loader's executing to the next node's: where a load is spent."""
        return self.after_executing("4") - self.executing("4")

    def sampler_gap(self) -> float:
        """From the sampler's executing to its first progress tick."""
        start = self.executing("3")
        first = next(t for t, f in self.frames if f["type"] == "progress" and f["data"]["node"] == "3")
        return first - start

    def total(self) -> float:
        start = next(t for t, f in self.frames if f["type"] == "execution_start")
        return self.executing(None) - start

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [f["data"] for _, f in self.frames if f["type"] == kind]

    def cached(self) -> list[str]:
        nodes: list[str] = self.kinds("execution_cached")[0]["nodes"]
        return nodes


def txt2img(ckpt: str, seed: int = 1) -> dict[str, Any]:
    prompt = load_workflow("default-txt2img")
    prompt["4"]["inputs"]["ckpt_name"] = ckpt
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=2, seed=seed)
    return prompt


async def run(sim: RunningSimulator, session: aiohttp.ClientSession, prompt: dict[str, Any]) -> Run:
    client_id = str(uuid.uuid4())
    frames: list[tuple[float, dict[str, Any]]] = []
    async with session.ws_connect(sim.ws_url(client_id)) as ws:
        body = {"prompt": prompt, "client_id": client_id}
        async with session.post(f"{sim.url}/prompt", json=body) as response:
            assert response.status == 200, await response.text()
            prompt_id = (await response.json())["prompt_id"]
        async with asyncio.timeout(30):
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                frames.append((time.monotonic(), frame))
                if frame["type"] == "executing" and frame["data"] == {"node": None, "prompt_id": prompt_id}:
                    break
    return Run(frames)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def ckpts(*names: str) -> dict[str, list[Any]]:
    return {"checkpoints": list(names)}


def resident(*names: str) -> list[str]:
    return [f"checkpoints/{name}" for name in names]


# --- the cost of a load -----------------------------------------------------------------------


async def test_first_prompt_pays_the_load_and_a_second_on_the_same_model_does_not(
    session: aiohttp.ClientSession,
) -> None:
    async with running_simulator(models=ckpts(A, B), vram=1, load_seconds=LOAD) as sim:
        first = await run(sim, session, txt2img(A, seed=1))
        second = await run(sim, session, txt2img(A, seed=2))
    assert first.loader_gap() >= PAID
    assert first.executing(None) - first.executing("4") >= PAID
    # The second prompt's loader is cached (no executing frame); its sampler finds A resident.
    assert "4" in second.cached()
    assert second.sampler_gap() < FREE
    assert first.total() - second.total() >= PAID - 0.05
    # A load sends no frame of its own in 0.3.64: the loader's frames are as without one.
    assert [p for p in first.kinds("progress") if p["node"] == "4"] == []
    assert all("activity" not in n for f in first.kinds("progress_state") for n in f["nodes"].values())


async def test_alternating_models_pay_each_time_with_vram_1_and_not_with_vram_2(
    session: aiohttp.ClientSession,
) -> None:
    async with running_simulator(models=ckpts(A, B), vram=1, load_seconds=LOAD) as sim:
        gaps = [
            (await run(sim, session, txt2img(ckpt, seed))).loader_gap()
            for seed, ckpt in enumerate([A, B, A, B])
        ]
        assert (await sim.models())["resident"] == resident(B)
    assert all(gap >= PAID for gap in gaps), gaps

    async with running_simulator(models=ckpts(A, B), vram=2, load_seconds=LOAD) as sim:
        gaps = [
            (await run(sim, session, txt2img(ckpt, seed))).loader_gap()
            for seed, ckpt in enumerate([A, B, A, B])
        ]
        assert (await sim.models())["resident"] == resident(A, B)
    # The classic cache keeps only the last prompt's outputs, so the loader runs every time;
    # with both files resident only the first two runs load.
    assert gaps[0] >= PAID and gaps[1] >= PAID, gaps
    assert gaps[2] < FREE and gaps[3] < FREE, gaps


async def test_a_cached_loader_whose_model_was_evicted_pays_in_the_sampler(
    session: aiohttp.ClientSession,
) -> None:
    async with running_simulator(models=ckpts(A), vram=1, load_seconds=LOAD) as sim:
        await run(sim, session, txt2img(A, seed=1))
        assert (await sim.set_models(evict_all=True))["resident"] == []
        again = await run(sim, session, txt2img(A, seed=2))
        assert (await sim.models())["resident"] == resident(A)
    # The output cache still holds the model object; the VRAM does not: the sampler loads it.
    assert "4" in again.cached()
    assert again.sampler_gap() >= PAID


async def test_per_file_load_times_from_the_models_json(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    spec = {"checkpoints": [{"name": A, "load_seconds": 0.6}, B]}
    models_json = tmp_path / "models.json"
    models_json.write_text(json.dumps(spec))
    config = parse_args(["--models", str(models_json), "--vram", "1", "--load-seconds", "0.1"])
    assert config.models == ckpts(A, B)
    assert config.model_load_seconds == {f"checkpoints/{A}": 0.6}
    assert (config.vram, config.load_seconds) == (1, 0.1)

    async with running_simulator(models=spec, vram=1) as sim:
        slow = await run(sim, session, txt2img(A))
        fast = await run(sim, session, txt2img(B))
        # Per-file times can also come with files copied on at runtime.
        await sim.set_models(add=[{"name": f"checkpoints/{C}", "load_seconds": LOAD}])
        later = await run(sim, session, txt2img(C))
    assert slow.loader_gap() >= 0.58
    assert fast.loader_gap() < FREE  # no default load time given: B loads free
    assert later.loader_gap() >= PAID


# --- residency as the controls show it ---------------------------------------------------------


async def test_eviction_is_least_recently_used_and_visible_in_sim_models(
    session: aiohttp.ClientSession,
) -> None:
    async with running_simulator(models=ckpts(A, B, C), vram=2) as sim:
        view = await sim.models()
        assert view == {"checkpoints": [A, B, C], "resident": [], "vram": 2, "loads": 0}
        await run(sim, session, txt2img(A))
        await run(sim, session, txt2img(B))
        assert (await sim.models())["resident"] == resident(A, B)
        await run(sim, session, txt2img(A, seed=5))  # A used again: now the most recent
        assert (await sim.models())["resident"] == resident(B, A)
        await run(sim, session, txt2img(C))  # B was least recently used: out
        assert (await sim.models())["resident"] == resident(A, C)

        assert (await sim.set_models(evict=[f"checkpoints/{A}", f"checkpoints/{B}"]))["resident"] == resident(
            C
        )
        await run(sim, session, txt2img(A))
        assert (await sim.set_models(remove=[f"checkpoints/{C}"]))["resident"] == resident(A)
        async with session.post(f"{sim.url}/_sim/models", json={"evict": ["nowhere/x.safetensors"]}) as r:
            assert r.status == 400
        async with session.post(f"{sim.url}/_sim/models", json={"evict_all": "yes"}) as r:
            assert r.status == 400
        assert (await sim.models())["resident"] == resident(A)
        await sim.reset()  # a restart: the files stay, the VRAM empties; the count of loads stays
        assert await sim.models() == {"checkpoints": [A, B], "resident": [], "vram": 2, "loads": 4}


def test_lru_never_evicts_what_the_loading_node_uses() -> None:
    vram = Residency(vram=1)
    vram.admit("checkpoints/a")
    assert vram.admit("loras/ink", in_use=["checkpoints/a", "loras/ink"]) == []
    assert vram.resident() == ["checkpoints/a", "loras/ink"]  # a model and its LoRA, together
    assert vram.admit("checkpoints/b") == ["checkpoints/a", "loras/ink"]
    assert vram.resident() == ["checkpoints/b"]
    unlimited = Residency()
    for name in "abc":
        unlimited.admit(f"checkpoints/{name}")
    unlimited.touch(["checkpoints/a"])
    assert unlimited.resident() == ["checkpoints/b", "checkpoints/c", "checkpoints/a"]
    with pytest.raises(ValueError):
        Residency(vram=0)


# --- interrupts, release, defaults -------------------------------------------------------------


async def _wait_for_node(sim: RunningSimulator, node: str) -> None:
    deadline = time.monotonic() + 10
    while sim.sim.executor.last_node_id != node:
        assert time.monotonic() < deadline, "the loader never started"
        await asyncio.sleep(0.01)


async def test_an_interrupt_during_a_load_stops_it(session: aiohttp.ClientSession) -> None:
    async with running_simulator(models=ckpts(A), load_seconds=30) as sim:
        job = asyncio.create_task(run(sim, session, txt2img(A)))
        await _wait_for_node(sim, "4")
        await asyncio.sleep(0.1)  # well inside the load
        started = time.monotonic()
        async with session.post(f"{sim.url}/interrupt") as response:
            assert response.status == 200
        result = await asyncio.wait_for(job, 5)
        assert time.monotonic() - started < 2
        assert [i["node_id"] for i in result.kinds("execution_interrupted")] == ["4"]
        assert (await sim.models())["resident"] == []  # a stopped load leaves nothing loaded


async def test_a_release_ends_a_load_and_the_model_is_resident(session: aiohttp.ClientSession) -> None:
    async with running_simulator(models=ckpts(A), load_seconds=30) as sim:
        job = asyncio.create_task(run(sim, session, txt2img(A)))
        await _wait_for_node(sim, "4")
        assert sim.sim.executor.release()
        result = await asyncio.wait_for(job, 5)
        assert result.kinds("execution_success")
        assert (await sim.models())["resident"] == resident(A)


async def test_defaults_cost_no_load_and_still_track_residency(session: aiohttp.ClientSession) -> None:
    async with running_simulator(models=ckpts(A, B)) as sim:
        for ckpt in (A, B, A):
            assert (await run(sim, session, txt2img(ckpt))).loader_gap() < FREE
        assert await sim.models() == {
            "checkpoints": [A, B],
            "resident": resident(B, A),
            "vram": None,
            "loads": 2,
        }
    config = parse_args([])
    assert (config.vram, config.load_seconds, config.model_load_seconds) == (None, 0.0, {})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--vram", "0"], "argument --vram"),
        (["--vram", "two"], "argument --vram"),
        (["--load-seconds", "-1"], "argument --load-seconds"),
        (["--models", "BAD_SECONDS"], "load_seconds of 'a.safetensors' must be a number"),
        (["--models", "BAD_KEY"], "unknown keys ['seconds']"),
    ],
)
def test_cli_rejects_bad_residency_settings(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seconds.json").write_text(json.dumps({"checkpoints": [{"name": A, "load_seconds": -2}]}))
    (tmp_path / "key.json").write_text(json.dumps([{"name": f"checkpoints/{A}", "seconds": 2}]))
    argv = [{"BAD_SECONDS": "seconds.json", "BAD_KEY": "key.json"}.get(arg, arg) for arg in argv]
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


async def test_sampler_seconds_time_the_sampler_alone(session: aiohttp.ClientSession) -> None:
    """--sampler-seconds: a sampler run takes that long while the other nodes take --delay (0),
    so a benchmark can set sampling and loading times apart."""
    async with running_simulator(models=ckpts(A), sampler_seconds=0.4) as sim:
        timed = await run(sim, session, txt2img(A, seed=1))
    assert 0.35 <= timed.total() < 1.5, timed.total()
    assert parse_args(["--sampler-seconds", "1.5"]).sampler_seconds == 1.5
    assert parse_args([]).sampler_seconds is None
