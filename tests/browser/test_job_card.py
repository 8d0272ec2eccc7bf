"""The job card while a slow job runs: live previews, one bar per node with its title, elapsed
time, cancel and retry, and a failed node named in the error. Right again after a reload."""

from __future__ import annotations

import pytest

from tests.browser.pages import (
    ARTIFACTS,
    add_workflow,
    api_json,
    card,
    card_ids,
    choose_image,
    click_run,
    new_context,
    open_run_page,
    recorded,
    scene_png,
    start_job,
    wait_cards,
    wait_status,
    wait_tab_id,
    wait_workflow,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.2  # per node; preview-demo's sampler adds 12 steps × 0.25 s of its own

MEADOW = ((90, 160, 230), (210, 235, 250), (255, 220, 90), (70, 150, 60), (230, 220, 200))

# LoadImage → ImageToMask(alpha) of an RGB image: node 2 fails the way ComfyUI does (trace 05).
BROKEN = {
    "slug": "alpha-mask",
    "name": "Alpha mask",
    "description": "Takes the alpha channel; fails on an image without one.",
    "graph": {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "Load Image"}},
        "2": {
            "class_type": "ImageToMask",
            "inputs": {"image": ["1", 0], "channel": "alpha"},
            "_meta": {"title": "Convert Image to Mask"},
        },
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}, "_meta": {"title": "Mask to Image"}},
        "4": {
            "class_type": "SaveImage",
            "inputs": {"images": ["3", 0], "filename_prefix": "alpha"},
            "_meta": {"title": "Save Image"},
        },
    },
    "params": [{"name": "image", "type": "image", "node": "1", "input": "image", "label": "Image"}],
}


def test_a_slow_job_shows_live_previews_and_its_running_node_and_again_after_a_reload(app, browser, tmp_path):
    image = tmp_path / "meadow.png"
    scene_png(200, 130, MEADOW, image)
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        wait_workflow(page, app.url, "preview-demo")
        page.reload()  # the form lists the workflows the page was rendered with
        assert wait_tab_id(page) == tab
        choose_image(page, "preview-demo", image)
        job_id = click_run(page)

        # The sampler's node: its own bar, named by its title, while previews come in.
        sampler = page.locator(f'{card(job_id)} .job-node[data-node="2"][data-node-state="running"]')
        sampler.wait_for(timeout=15_000)
        assert sampler.locator(".job-node-title").text_content() == "Simulated sampler"
        assert sampler.locator('[role="progressbar"]').get_attribute("aria-label") == "Simulated sampler"
        page.wait_for_function(
            """(id) => {
              const shots = (window.__comfyweb.previews || {})[id] || [];
              return shots.length >= 1;
            }""",
            arg=job_id,
            timeout=20_000,
        )
        preview = page.locator(f"{card(job_id)} img[data-preview]")
        assert preview.is_visible()
        assert preview.get_attribute("src").startswith("data:image/")
        assert page.locator(f'{card(job_id)} [data-role="elapsed"]').text_content().endswith("elapsed")
        overall = page.locator(f'{card(job_id)} .job-progress [role="progressbar"]').first
        assert overall.get_attribute("aria-valuemax") == "3"
        # Screen readers hear the node that runs, not every tick.
        assert "Simulated sampler" in page.locator('[data-role="announcer"]').text_content()
        page.screenshot(path=ARTIFACTS / "run-page-preview.png")

        page.reload()
        assert wait_tab_id(page) == tab
        again = page.locator(f'{card(job_id)} .job-node[data-node-state="running"] .job-node-title')
        again.wait_for(timeout=20_000)
        assert again.text_content() == "Simulated sampler", "the snapshot brings the node's title back"
        page.wait_for_selector(f"{card(job_id)} img[data-preview]:not([hidden])", timeout=15_000)

        wait_status(page, job_id, "succeeded", timeout=20_000)
        assert page.locator(f"{card(job_id)} img[data-preview]").is_hidden(), "no preview once done"
        assert page.locator(f"{card(job_id)} .job-progress").is_hidden()
        assert page.locator(f"{card(job_id)} img[data-output]").count() == 1
        assert page.locator(f'{card(job_id)} [data-role="elapsed"]').text_content().startswith("took ")


def test_cancel_stops_a_running_job_and_retry_runs_it_again_in_this_tab(app, browser, tmp_path):
    image = tmp_path / "meadow.png"
    scene_png(120, 80, MEADOW, image)
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        wait_workflow(page, app.url, "preview-demo")
        page.reload()
        wait_tab_id(page)
        first = start_job(page, "preview-demo", image)

        cancel = page.locator(f'{card(first)} [data-action="cancel"]')
        assert cancel.get_attribute("aria-label") == "Cancel Preview demo (simulator)"
        cancel.focus()
        page.keyboard.press("Enter")  # keyboard works as well as a click
        wait_status(page, first, "cancelled", timeout=20_000)
        retry = page.locator(f'{card(first)} [data-action="retry"]')
        assert retry.is_visible()
        assert page.evaluate("() => document.activeElement.dataset.action") == "retry", (
            "focus stays on the card's button when Cancel turns into Retry"
        )

        retry.click()
        wait_cards(page, 2)
        second = next(i for i in card_ids(page) if i != first)
        job = api_json(page, f"{app.url}/api/jobs/{second}/")["job"]
        assert job["tab"] == tab and job["workflow"] == "preview-demo"
        assert page.locator("[data-job-id]").first.get_attribute("data-job-id") == second, "newest first"
        wait_status(page, second, "running", timeout=20_000)
        page.click(f'{card(second)} [data-action="cancel"]')
        wait_status(page, second, "cancelled", timeout=20_000)


def test_a_failed_job_names_the_node_that_failed(app, browser, tmp_path):
    add_workflow(app.data_dir, BROKEN)
    image = tmp_path / "meadow.png"
    scene_png(64, 48, MEADOW, image)
    with new_context(browser) as context:
        page, _ = open_run_page(context, app.url)
        job_id = start_job(page, "alpha-mask", image, "failed", timeout=15_000)

        error = page.locator(f'{card(job_id)} [data-role="error"]')
        assert error.is_visible()
        assert error.get_attribute("data-error-node") == "2"
        assert error.get_attribute("role") == "alert"
        title = error.locator(".job-error-title").text_content()
        assert title.startswith("Failed at node 2"), title
        job = api_json(page, f"{app.url}/api/jobs/{job_id}/")["job"]
        assert error.locator(".job-error-message").text_content() == job["error"]["message"]
        assert page.locator(f'{card(job_id)} [data-action="retry"]').is_visible()

        page.reload()
        page.wait_for_selector(f'{card(job_id)}[data-status="failed"] [data-role="error"]', timeout=20_000)
        assert page.locator(f'{card(job_id)} [data-role="error"]').get_attribute("data-error-node") == "2"
        assert recorded(page)["statuses"][job_id] == ["failed"]
