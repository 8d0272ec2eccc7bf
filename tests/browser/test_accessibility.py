"""axe-core's WCAG 2 A and AA rules on the run page with a finished job of every media (image,
animation, video, audio, text, 3D model and plain file) and on the gallery, empty, full and
filtered. axe-core comes from npm (tests/browser/axe, pinned; `make test` runs `npm ci`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.media_jobs import add_media_workflows, run_media_jobs
from tests.browser.pages import ARTIFACTS, card, new_context, open_run_page, wait_status, wait_tab_id

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.0

AXE = ARTIFACTS.parent / "tests" / "browser" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}}


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        message = f"{AXE} is missing: run `npm ci --prefix tests/browser/axe` (make test does)"
        pytest.fail(message, pytrace=False)
    return AXE.read_text()


@pytest.fixture(scope="module")
def media_session(app, browser, tmp_path_factory) -> Iterator[tuple[BrowserContext, Page, dict]]:
    """One person's tab with a finished job of every media."""
    add_media_workflows(app)
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        jobs = run_media_jobs(page, app, tab, tmp_path_factory.mktemp("a11y"))
        yield context, page, jobs


def readable(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"][:8]:
            lines.append(f"    {' '.join(node['target'])}: {node['failureSummary'].replace(chr(10), ' / ')}")
            lines.append(f"        {node['html'][:200]}")
    return "\n".join(lines)


def audit(page: Page, source: str, label: str) -> list[dict]:
    """axe-core's WCAG 2 A + AA violations on the page as it is now; each printed readably."""
    page.add_script_tag(content=source)
    result = page.evaluate("(options) => axe.run(document, options)", RULES)
    violations = result["violations"]
    if violations:
        print(f"\n[{label}] {len(violations)} axe violation(s):\n{readable(violations)}")
    return violations


def test_the_run_page_with_a_result_of_every_media_passes_axe(app, media_session, axe_source):
    _, page, jobs = media_session
    page.reload()
    wait_tab_id(page)
    for job in jobs.values():
        wait_status(page, job["id"], "succeeded")
    for media in ("image", "animated", "video", "audio", "text", "3d", "file"):
        page.wait_for_selector(f'[data-job-id] [data-media="{media}"]', state="attached", timeout=10_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('video[data-output], audio[data-output]')]"
        ".every((m) => m.readyState >= 1)",
        timeout=15_000,
    )
    page.screenshot(path=ARTIFACTS / "a11y-run-page.png", full_page=True)
    violations = audit(page, axe_source, "run page")
    assert not violations, readable(violations)
    # The form with its fields too, and a card focused by keyboard.
    page.focus(f"{card(jobs['video']['id'])} video")
    assert not audit(page, axe_source, "run page, video focused")


def test_the_empty_gallery_passes_axe(app, browser, axe_source):
    with new_context(browser) as context:
        page = context.new_page()
        page.goto(f"{app.url}/gallery/")
        page.wait_for_selector(".empty-state")
        violations = audit(page, axe_source, "empty gallery")
        assert not violations, readable(violations)


@pytest.mark.parametrize(
    "query", ["", "?media=video", "?media=audio", "?media=text", "?media=image&workflow=media-text"]
)
def test_the_gallery_with_results_of_every_media_passes_axe(app, media_session, axe_source, query):
    _, page, _ = media_session
    page.goto(f"{app.url}/gallery/{query}")
    page.wait_for_selector("[data-gallery-item], .empty-state")
    if not query:
        page.screenshot(path=ARTIFACTS / "a11y-gallery.png", full_page=True)
    violations = audit(page, axe_source, f"gallery {query or '(all)'}")
    assert not violations, readable(violations)
