"""A job that waits because no ComfyUI server is reachable says so on its card (issue R)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.pages import (
    ARTIFACTS,
    card,
    choose_image,
    click_run,
    new_context,
    open_run_page,
    scene_png,
)
from tests.live import LiveApp, live_app

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[LiveApp]:
    """ComfyWeb whose only server is a URL nothing listens on."""
    folder = tmp_path_factory.mktemp("no-server")
    with live_app(folder, simulators=0, extra_servers=("http://127.0.0.1:9",)) as running:
        yield running


def test_the_card_says_no_server_is_reachable_and_the_job_keeps_waiting(app, browser, tmp_path):
    image = tmp_path / "dusk.png"
    scene_png(48, 32, ((30, 40, 90), (200, 90, 60), (250, 200, 120), (90, 60, 40), (20, 20, 30)), image)
    with new_context(browser) as context:
        page, _ = open_run_page(context, app.url)
        choose_image(page, "invert", image)
        job_id = click_run(page)
        notice = f"{card(job_id)} .job-queue.stranded"
        # At once, not at some later refresh: the submit answer must not hide what the relay said.
        page.wait_for_selector(notice, timeout=5_000)
        assert "No server is reachable right now" in page.inner_text(notice)
        assert page.get_attribute(card(job_id), "data-status") == "pending"
        page.screenshot(path=str(ARTIFACTS / "no-server-reachable.png"))
