"""The tab life cycle people produce: duplicate a tab mid-job, close a tab mid-job (SPEC §1, §2)."""

from __future__ import annotations

import pytest

from tests.browser.pages import (
    api_json,
    assert_inverted,
    assert_output_inverted,
    fetch_image,
    new_context,
    open_run_page,
    scene_png,
    start_job,
    wait_image_loaded,
    wait_jobs_done,
    wait_status,
    wait_tab_id,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.5  # invert: 3 nodes × 0.5 s, time enough to act while it runs

DAWN = ((250, 200, 150), (230, 120, 90), (255, 250, 200), (90, 120, 60), (120, 80, 60))

# What the browser's "Duplicate" does: the new tab starts with a copy of sessionStorage.
DUPLICATE = """
(() => {
  if (!sessionStorage.getItem("test.duplicated")) {
    sessionStorage.setItem("comfyweb.tab", %r);
    sessionStorage.setItem("test.duplicated", "1");
  }
})();
"""


def test_a_duplicated_tab_takes_a_fresh_id_and_the_original_keeps_its_job(app, browser, tmp_path):
    image = tmp_path / "dawn.png"
    original = scene_png(128, 96, DAWN, image)
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        job_id = start_job(page, "invert", image)

        twin = context.new_page()
        twin.add_init_script(DUPLICATE % tab)
        twin.goto(f"{app.url}/")
        twin_tab = wait_tab_id(twin)
        assert twin_tab != tab, "the duplicate detected the clash and took a fresh id"
        assert twin.evaluate("() => sessionStorage.getItem('comfyweb.tab')") == twin_tab
        assert page.evaluate("() => document.body.dataset.tab") == tab, "the original keeps its id"

        wait_status(page, job_id, "succeeded")
        assert_output_inverted(page, job_id, original, "original tab")
        assert twin.locator("[data-job-id]").count() == 0, "the duplicate shows none of the original's jobs"
        assert [j["id"] for j in api_json(page, f"{app.url}/api/tabs/{tab}/")["jobs"]] == [job_id]
        assert api_json(page, f"{app.url}/api/tabs/{twin_tab}/")["jobs"] == []
        assert twin.get_attribute("[data-socket]", "data-socket") == "connected"


def test_closing_a_tab_mid_job_keeps_the_job_and_its_result_lands_in_the_gallery(app, browser, tmp_path):
    image = tmp_path / "dawn.png"
    original = scene_png(140, 90, DAWN, image)
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        job_id = start_job(page, "invert", image)
        locked = api_json(page, f"{app.url}/api/tabs/{tab}/")["lock"]
        assert locked is not None, "the running job holds the tab's lock"
        page.close()

        other = context.new_page()
        other.goto(f"{app.url}/gallery/")
        [job] = wait_jobs_done(other, app.url, [job_id], timeout=30)
        assert job["status"] == "succeeded" and len(job["outputs"]) == 1
        assert api_json(other, f"{app.url}/api/tabs/{tab}/")["lock"] is None, "released when the job ended"
        other.goto(f"{app.url}/gallery/")
        srcs = wait_image_loaded(other, "img[data-output]")
        output_url = job["outputs"][0]["url"]
        assert any(output_url in src for src in srcs), "the closed tab's result is in the gallery"
        assert_inverted(fetch_image(other, f"{app.url}{output_url}"), original, "closed tab")
