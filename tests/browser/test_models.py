"""Models in the browser (issue P): the checkpoint list is the pool's, each job runs where its
checkpoint is, and a job whose only server is offline says so on its card."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from jobs.core.builtin_workflows import DEMO_MODELS
from tests.browser.pages import (
    ARTIFACTS,
    api_json,
    card,
    new_context,
    open_run_page,
    run_with_model,
    select_offered_workflow,
    wait_status,
)
from tests.live import LiveApp, live_app

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[LiveApp]:
    """Two simulators with make run's model sets: SD 1.5 on the first, SDXL on the second."""
    folder = tmp_path_factory.mktemp("models")
    models = [DEMO_MODELS["sim-1"], DEMO_MODELS["sim-2"]]
    with live_app(folder, simulators=2, sim_delay=0.05, models=models) as running:
        yield running


def _name(app: LiveApp, index: int) -> str:
    return "127.0.0.1-" + app.simulators[index][0].rsplit(":", 1)[1]


def test_the_checkpoint_list_is_the_pools_and_each_job_runs_where_its_checkpoint_is(app, browser):
    with new_context(browser) as context:
        page, _ = open_run_page(context, app.url)
        select_offered_workflow(page, app.url, "txt2img-demo")
        offered = page.eval_on_selector_all(
            'select[name="model"] option', "options => options.map(o => o.value)"
        )
        assert offered == [
            "DreamShaper_8_pruned.safetensors",
            "sd_xl_base_1.0.safetensors",
            "sd_xl_refiner_1.0.safetensors",
            "v1-5-pruned-emaonly-fp16.safetensors",
        ], "the union over the pool, never a path or a URL"
        for model, server in (("sd_xl_base_1.0.safetensors", 1), ("v1-5-pruned-emaonly-fp16.safetensors", 0)):
            job_id = run_with_model(page, model)
            wait_status(page, job_id, "succeeded", timeout=30_000)
            job = api_json(page, f"{app.url}/api/jobs/{job_id}/")["job"]
            assert job["server"] == _name(app, server), model
        page.screenshot(path=str(ARTIFACTS / "models-placed.png"))

        sdxl = app.simulators[1][1]
        sdxl.send_signal(signal.SIGSTOP)  # the only server with the SDXL checkpoint stops answering
        try:
            deadline = time.monotonic() + 30

            def status() -> str:
                servers = api_json(page, f"{app.url}/healthz")["servers"]
                return next(s["status"] for s in servers if s["name"] == _name(app, 1))

            while status() != "offline":
                assert time.monotonic() < deadline, "the server never went offline"
                page.wait_for_timeout(250)
            job_id = run_with_model(page, "sd_xl_base_1.0.safetensors")
            notice = f"{card(job_id)} .job-queue.stranded"
            page.wait_for_selector(notice, timeout=10_000)
            waiting = "Waiting for a server with sd_xl_base_1.0.safetensors"
            assert page.inner_text(notice) == f"{waiting}: {_name(app, 1)} has it and is offline."
            page.screenshot(path=str(ARTIFACTS / "models-waiting.png"))
        finally:
            sdxl.send_signal(signal.SIGCONT)
        wait_status(page, job_id, "succeeded", timeout=40_000)
