"""The gallery: thumbnails made once on the server, newest first, 24 a page, filters by tab and
workflow, a full-size view, download, "run again" and delete with confirmation."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page

from tests.browser.pages import (
    ARTIFACTS,
    api_json,
    card_ids,
    new_context,
    open_run_page,
    scene_png,
    submit,
    upload,
    wait_cards,
    wait_image_loaded,
    wait_jobs_done,
    wait_status,
    wait_tab_cards,
    wait_tab_id,
    wait_upload,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.0  # 29 results to page through: as fast as the simulator goes

TABS, PER_TAB = 4, 7
ORCHARD = ((120, 190, 240), (230, 240, 250), (250, 200, 80), (100, 170, 60), (240, 225, 200))


@pytest.fixture(scope="module")
def gallery(app, browser, tmp_path_factory) -> Iterator[tuple[BrowserContext, Page, dict]]:
    """One session with 4 tabs × 7 invert results and one blur result (in the first tab)."""
    folder = tmp_path_factory.mktemp("gallery")
    image = folder / "orchard.png"
    scene_png(480, 360, ORCHARD, image)  # larger than a thumbnail
    with new_context(browser, accept_downloads=True) as context:
        page, first_tab = open_run_page(context, app.url)
        image_id = upload(page, app.url, image)["id"]
        tabs = [first_tab] + [str(uuid.uuid4()) for _ in range(TABS - 1)]
        params = {"image": image_id}
        ids = [submit(page, app.url, tab, "invert", params)["id"] for tab in tabs for _ in range(PER_TAB)]
        blur_params = {"image": image_id, "blur_radius": 6, "sigma": 2.5}
        blur = submit(page, app.url, first_tab, "blur", blur_params)["id"]
        jobs = wait_jobs_done(page, app.url, [*ids, blur], timeout=40)
        assert {j["status"] for j in jobs} == {"succeeded"}, [j["error"] for j in jobs if j["error"]]
        yield context, page, {"tabs": tabs, "blur": blur, "jobs": jobs}


def items(page: Page) -> list[str]:
    return page.eval_on_selector_all("[data-gallery-item]", "(cs) => cs.map((c) => c.dataset.galleryJob)")


def times(page: Page) -> list[str]:
    script = "(ts) => ts.map((t) => t.getAttribute('datetime'))"
    return page.eval_on_selector_all(".gallery-card time", script)


def count(page: Page) -> int:
    return int(page.locator('[data-role="gallery-count"]').text_content().split()[0])


def test_results_are_paged_newest_first_with_thumbnails_made_once(app, gallery):
    _, page, made = gallery
    page.goto(f"{app.url}/gallery/")
    assert page.locator('[data-role="gallery-count"]').text_content().strip() == "29 results, newest first"
    first_page = items(page)
    assert len(first_page) == 24
    stamps = times(page)
    srcs = wait_image_loaded(page, "img[data-output]")
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / "gallery-en.png")
    page.screenshot(path=ARTIFACTS / "gallery-en-full.png", full_page=True)

    shown = page.eval_on_selector_all("img[data-output]", "(is) => is.map((i) => i.currentSrc)")
    assert all(s.endswith("?thumb=1") for s in shown), "the browser shows the server's thumbnail"
    thumb = page.request.get(shown[0])
    assert thumb.headers["content-type"] == "image/webp"
    small = Image.open(io.BytesIO(thumb.body()))
    assert small.format == "WEBP" and max(small.size) == 320 and small.size == (320, 240)
    assert page.request.get(shown[0]).body() == thumb.body()
    files = sorted(app.data_dir.rglob("thumb_*.webp"))
    assert len(files) == 24, "one thumbnail per result shown, each made once"
    # The SPEC §7 hook still serves the result itself.
    full = Image.open(io.BytesIO(page.request.get(srcs[0]).body()))
    assert full.size == (480, 360)

    page.click('[data-action="page-next"]')
    page.wait_for_url("**/gallery/?page=2")
    second_page = items(page)
    assert len(second_page) == 5
    stamps += times(page)
    assert stamps == sorted(stamps, reverse=True), "newest first across pages"
    assert set(first_page + second_page) == {j["id"] for j in made["jobs"]}
    assert page.locator(".pager [aria-current]").text_content().strip() == "Page 2 of 2"
    page.click('[data-action="page-prev"]')
    page.wait_for_url("**/gallery/?page=1")


def test_filters_by_workflow_and_by_tab(app, gallery):
    _, page, made = gallery
    page.goto(f"{app.url}/gallery/")
    page.select_option("#filter-workflow", "blur")
    page.click('[data-action="filter"]')
    page.wait_for_url("**/gallery/?workflow=blur**")
    assert items(page) == [made["blur"]]
    assert "".join(page.locator(".gallery-params").text_content().split()) == "Blurradius6Sigma2.5"

    second_tab = made["tabs"][1]
    page.goto(f"{app.url}/gallery/?tab={second_tab}")
    assert len(items(page)) == PER_TAB
    assert set(page.eval_on_selector_all("[data-gallery-item]", "(cs) => cs.map((c) => c.dataset.tab)")) == {
        second_tab
    }
    assert page.input_value("#filter-tab") == second_tab
    # This page's own browser tab is marked in the list.
    first = page.locator(f'[data-tab-option="{made["tabs"][0]}"]').text_content()
    assert first.endswith("· this tab")
    page.goto(f"{app.url}/gallery/?tab={second_tab}&workflow=blur")
    assert items(page) == []
    assert page.locator(".empty-state-title").text_content() == "Nothing matches these filters"


def test_full_size_view_and_download(app, gallery):
    _, page, _ = gallery
    page.goto(f"{app.url}/gallery/")
    card = page.locator("[data-gallery-item]").first
    card.locator('.gallery-links [data-action="view"]').click()
    dialog = page.locator('[data-role="view-dialog"]')
    dialog.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('[data-full-view]').naturalWidth === 480")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")

    # Saved under the server's useful name (workflow, job, node and index), not ComfyUI's
    # ComfyUI_00001_.png, which repeats across servers.
    workflow, job = card.get_attribute("data-workflow"), card.get_attribute("data-gallery-job")
    with page.expect_download() as download:
        card.locator('[data-action="download"]').click()
    filename = download.value.suggested_filename
    assert re.fullmatch(rf"{workflow}_{job[:8]}_\d+-\d+\.png", filename), filename
    href = card.locator('[data-action="download"]').get_attribute("href")
    answer = page.request.get(f"{app.url}{href}")
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert filename in answer.headers["content-disposition"]


def test_run_again_fills_the_run_page_with_the_parameters(app, gallery):
    _, page, _ = gallery
    page.goto(f"{app.url}/gallery/?workflow=blur")
    page.click('[data-action="rerun"]')
    page.wait_for_url(f"{app.url}/")
    here = wait_tab_id(page)
    assert page.input_value('select[name="workflow"]') == "blur"
    assert (page.input_value('[name="blur_radius"]'), page.input_value('[name="sigma"]')) == ("6", "2.5")
    wait_upload(page)
    assert page.locator('[data-role="notice"]').is_visible()
    known = set(wait_tab_cards(page, app.url, here))
    assert known, "the tab's earlier jobs are on the page"
    page.click('[data-action="run"]')
    wait_cards(page, len(known) + 1, timeout=15_000)
    job_id = card_ids(page)[0]  # newest first
    assert job_id not in known
    wait_status(page, job_id, "succeeded", timeout=20_000)
    job = api_json(page, f"{app.url}/api/jobs/{job_id}/")["job"]
    assert job["params"] == {"image": job["params"]["image"], "blur_radius": 6, "sigma": 2.5}
    assert job["tab"] == here, "made again in the tab the user is looking at"


def test_delete_asks_first_then_removes_the_result(app, gallery):
    _, page, _ = gallery
    page.goto(f"{app.url}/gallery/")
    before = count(page)
    target = items(page)[0]
    delete = page.locator(f'[data-gallery-job="{target}"] [data-action="delete"]')

    delete.click()
    dialog = page.locator('[data-role="delete-dialog"]')
    dialog.wait_for(state="visible")
    assert page.evaluate("() => document.activeElement.dataset.action") == "delete-cancel", "safe default"
    page.click('[data-action="delete-cancel"]')
    dialog.wait_for(state="hidden")
    assert target in items(page)
    assert api_json(page, f"{app.url}/api/jobs/{target}/")["job"]["status"] == "succeeded"

    delete.click()
    page.click('[data-action="delete-confirm"]')
    page.wait_for_selector(f'[data-gallery-job="{target}"]', state="detached", timeout=15_000)
    assert page.request.get(f"{app.url}/api/jobs/{target}/").status == 404
    page.screenshot(path=ARTIFACTS / "gallery-after-delete.png")
    page.reload()
    assert target not in items(page)
    assert count(page) == before - 1, (before, count(page))


def test_the_gallery_in_chinese(app, gallery):
    _, page, _ = gallery
    page.goto(f"{app.url}/gallery/")
    page.click('button[data-language="zh-hans"]')
    page.wait_for_selector('html[lang="zh-hans"]')
    assert page.url.endswith("/gallery/"), "the switch comes back to the same page"
    assert page.locator("h1").text_content() == "作品库"
    assert page.locator('[data-action="delete"]').first.text_content() == "删除"
    wait_image_loaded(page, "img[data-output]")
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / "gallery-zh-hans.png")
    page.click('button[data-language="en"]')
    page.wait_for_selector('html[lang="en"]')
