"""The run page on its own: a rejected upload, and a reload in the middle of a job."""

from __future__ import annotations

import pytest

from tests.browser.pages import (
    ACTIVE,
    api_json,
    assert_output_inverted,
    card,
    new_context,
    open_run_page,
    scene_png,
    seen,
    send_upload,
    start_job,
    wait_status,
    wait_tab_id,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.4  # invert: 3 nodes × 0.4 s, about 1.5 s from Run to result

NIGHT = ((10, 20, 60), (60, 70, 130), (240, 240, 210), (30, 60, 40), (200, 190, 150))


def test_a_file_that_is_not_an_image_shows_the_api_error_and_runs_nothing(app, browser, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("These are my notes, not a picture.\n")
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        # What the API itself answers for this file, asked with the page's own session.
        answer = send_upload(page, app.url, fake)
        assert answer.status == 400, answer.text()
        message = answer.json()["error"]["message"]

        page.select_option('select[name="workflow"]', "invert")
        page.set_input_files('input[name="image"]', str(fake))
        status = page.locator('input[name="image"]').locator("xpath=..").locator(".field-status")
        page.wait_for_function(
            "(el) => el.classList.contains('is-error')", arg=status.element_handle(), timeout=20_000
        )
        assert status.text_content() == message
        assert status.is_visible()

        page.click('[data-action="run"]')
        form_error = page.locator('[data-role="form-error"]')
        form_error.wait_for(state="visible", timeout=20_000)
        assert "image" in form_error.text_content()
        page.wait_for_timeout(300)  # nothing late either
        assert page.locator("[data-job-id]").count() == 0
        assert api_json(page, f"{app.url}/api/jobs/?tab={tab}")["jobs"] == []


def test_a_reload_mid_job_keeps_the_tab_and_its_running_job(app, browser, tmp_path):
    image = tmp_path / "night.png"
    original = scene_png(160, 100, NIGHT, image)
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        # Reload while ComfyUI is working on it (3 nodes × SIM_DELAY: over a second left).
        job_id = start_job(page, "invert", image)

        page.reload()
        assert wait_tab_id(page) == tab, "a reload keeps the tab id (sessionStorage)"
        page.wait_for_selector(card(job_id), timeout=20_000)
        statuses, _ = seen(page, job_id)
        assert statuses[0] in ACTIVE, f"the snapshot after the reload showed it still active: {statuses}"

        wait_status(page, job_id, "succeeded")
        assert page.locator("[data-job-id]").count() == 1
        assert page.get_attribute("[data-socket]", "data-socket") == "connected"
        assert_output_inverted(page, job_id, original, "after reload")
