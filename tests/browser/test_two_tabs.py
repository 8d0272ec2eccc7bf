"""One person, two tabs: both run `invert` at once and each tab gets its own result."""

from __future__ import annotations

import pytest

from tests.browser.pages import (
    ACTIVE,
    ARTIFACTS,
    api_json,
    assert_output_inverted,
    card,
    choose_image,
    new_context,
    newest_job,
    open_run_page,
    scene_png,
    seen,
    wait_image_loaded,
    wait_status,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.4  # 3 nodes × 0.4 s: progress is on screen for over a second

# Two landscapes of different sizes and colours: a result that crossed tabs could not pass.
DAY = ((70, 150, 235), (200, 230, 255), (255, 215, 60), (90, 170, 70), (240, 230, 210))
DUSK = ((40, 20, 90), (250, 130, 80), (255, 240, 200), (60, 80, 60), (120, 100, 160))


def test_two_tabs_run_invert_at_once_and_each_shows_its_own_result(app, browser, tmp_path):
    inputs = [tmp_path / "day.png", tmp_path / "dusk.png"]
    originals = [scene_png(256, 160, DAY, inputs[0]), scene_png(192, 144, DUSK, inputs[1])]

    # One browser context: one cookie jar, one Django session, like one person with two tabs.
    with new_context(browser) as context:
        pages, tabs = [], []
        for _ in range(2):  # one after the other: the first page view starts the session
            page, tab = open_run_page(context, app.url)
            pages.append(page)
            tabs.append(tab)
        assert tabs[0] != tabs[1], "two tabs must have two tab ids"

        for page, image in zip(pages, inputs, strict=True):
            choose_image(page, "invert", image)
        # Both Run clicks before waiting on either: the jobs run at the same time.
        for page in pages:
            page.click('[data-action="run"]')
        job_ids = [newest_job(page) for page in pages]
        assert job_ids[0] != job_ids[1]

        for page, tab, job_id, original, label in zip(
            pages, tabs, job_ids, originals, ("tab 1", "tab 2"), strict=True
        ):
            wait_status(page, job_id, "succeeded")
            assert page.locator("[data-job-id]").count() == 1, f"{label}: exactly one job card"
            statuses, progress = seen(page, job_id)
            assert statuses[-1] == "succeeded", f"{label}: {statuses}"
            assert statuses[0] in ACTIVE and "running" in statuses, f"{label}: {statuses}"
            assert any(p["status"] in ACTIVE for p in progress), f"{label}: progress never shown"
            running = [p for p in progress if p["status"] == "running" and p["now"] is not None]
            assert running, f"{label}: no measured progress while running: {progress}"
            assert all(p["max"] == "3" for p in running), f"{label}: invert has 3 nodes: {running}"
            assert page.get_attribute("[data-socket]", "data-socket") == "connected"

            job = api_json(page, f"{app.url}/api/jobs/{job_id}/")["job"]
            assert job["tab"] == tab and job["workflow"] == "invert" and job["status"] == "succeeded"

            src = assert_output_inverted(page, job_id, original, label)
            assert src.endswith(job["outputs"][0]["url"])

        pages[0].bring_to_front()
        pages[0].screenshot(path=ARTIFACTS / "run-page.png")
        card_srcs = {
            pages[i].eval_on_selector(f"{card(job_ids[i])} img[data-output]", "(i) => i.src")
            for i in range(2)
        }

        gallery = context.new_page()
        gallery.goto(f"{app.url}/gallery/")
        assert gallery.locator("img[data-output]").count() == 2
        assert set(wait_image_loaded(gallery, "img[data-output]")) == card_srcs
        gallery.screenshot(path=ARTIFACTS / "gallery.png")
