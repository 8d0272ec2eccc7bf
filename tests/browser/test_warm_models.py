"""Warm models in the browser (issue W), as `make run` shows them: a model load says "loading
model…" on the card while it runs, and the next job for that model goes where it is warm
and loads nothing."""

from __future__ import annotations

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

LOAD_SECONDS = 2.0
DREAMSHAPER = "DreamShaper_8_pruned.safetensors"  # on both servers, as in make run


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[LiveApp]:
    """make run's two simulators: their model sets, one model loaded at a time, loads of 2 s."""
    models = [DEMO_MODELS["sim-1"], DEMO_MODELS["sim-2"]]
    folder = tmp_path_factory.mktemp("warm")
    with live_app(
        folder, simulators=2, sim_delay=0.05, models=models, vram=1, load_seconds=LOAD_SECONDS
    ) as running:
        yield running


def _loading_seconds(page, job_id: str) -> float:
    """How long the card said "loading model…", watched until the job ended."""
    return page.evaluate(
        """id => new Promise(resolve => {
            const text = () => document.querySelector(`[data-job-id="${id}"] .progress-text`)?.textContent;
            const ended = () => ["succeeded", "failed", "cancelled"].includes(
                document.querySelector(`[data-job-id="${id}"]`)?.dataset.status);
            let first = null, last = null;
            const look = () => {
                if ((text() || "").includes("loading model")) { last = performance.now(); first ??= last; }
                if (ended()) { resolve(first === null ? 0 : (last - first) / 1000); return; }
                setTimeout(look, 20);
            };
            look();
        })""",
        job_id,
    )


def test_a_cold_load_says_loading_model_and_the_next_job_goes_where_the_model_is_warm(app, browser):
    with new_context(browser) as context:
        page, _ = open_run_page(context, app.url)
        select_offered_workflow(page, app.url, "txt2img-demo")
        cold = run_with_model(page, DREAMSHAPER)
        shown = _loading_seconds(page, cold)
        assert shown >= LOAD_SECONDS / 2, f"'loading model…' shown {shown:.2f} s of a {LOAD_SECONDS} s load"
        wait_status(page, cold, "succeeded", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "warm-models.png"))
        warm = run_with_model(page, DREAMSHAPER)
        assert _loading_seconds(page, warm) < LOAD_SECONDS / 2, "the second job loaded the model again"
        wait_status(page, warm, "succeeded", timeout=30_000)
        first, second = (api_json(page, f"{app.url}/api/jobs/{j}/")["job"]["server"] for j in (cold, warm))
        assert first == second, "the warm server was not preferred"
        assert page.locator(card(warm)).get_attribute("data-status") == "succeeded"
