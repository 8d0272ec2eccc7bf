"""Signing in with a tab open (issue U), in open mode: the tab's work is adopted by the
account, its socket reconnects with the new session, the tab keeps its jobs and runs more,
and the person's other browser sees them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.pages import (
    RECORDER,
    api_json,
    choose_image,
    click_run,
    new_context,
    scene_png,
    sign_in,
    wait_cards,
    wait_status,
    wait_tab_id,
)
from tests.live import LiveApp, live_app

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PASSWORD = "a long pass phrase 42"
SEED = f"from django.contrib.auth.models import User; User.objects.create_user('ann', password={PASSWORD!r})"
# Counts the sockets the page opens: a reconnect after the sign-in is a second one.
SOCKETS = """(() => { const Real = window.WebSocket; window.__sockets = 0;
  window.WebSocket = function (...args) { window.__sockets += 1; return new Real(...args); };
  window.WebSocket.prototype = Real.prototype; Object.assign(window.WebSocket, Real); })();"""
DUNE = ((230, 190, 120), (250, 230, 190), (255, 250, 220), (200, 150, 90), (180, 120, 70))


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[LiveApp]:
    with live_app(tmp_path_factory.mktemp("sign-in"), simulators=1, sim_delay=0.05, seed=SEED) as running:
        yield running


def test_an_open_tab_survives_its_sign_in_and_its_work_follows_the_person(app, browser, tmp_path):
    image = tmp_path / "dune.png"
    scene_png(160, 120, DUNE, image)
    with new_context(browser) as context, new_context(browser) as other_device:
        page = context.new_page()
        page.add_init_script(SOCKETS)
        page.add_init_script(RECORDER)
        page.goto(f"{app.url}/")
        tab = wait_tab_id(page)
        choose_image(page, "invert", image)
        before = click_run(page)
        wait_status(page, before, "succeeded")

        signing_in = context.new_page()
        signing_in.goto(f"{app.url}/accounts/login/")
        sign_in(signing_in, "ann", PASSWORD, f"{app.url}/")
        signing_in.close()

        # The open tab: its socket was told (owner.changed), opened a new one with the new
        # session's cookie, and the tab is the same tab.
        page.wait_for_function("() => window.__sockets >= 2", timeout=20_000)
        page.wait_for_selector('[data-socket="connected"]', timeout=20_000)
        assert page.evaluate("() => document.body.dataset.tab") == tab
        page.click('[data-action="run"]')
        wait_cards(page, 2)
        after = page.get_attribute("[data-job-id]", "data-job-id")
        wait_status(page, after, "succeeded")

        # The person's other browser: both jobs, the one from before the sign-in included.
        other = other_device.new_page()
        other.goto(f"{app.url}/accounts/login/")
        sign_in(other, "ann", PASSWORD, f"{app.url}/")
        ids = {job["id"] for job in api_json(other, f"{app.url}/api/jobs/")["jobs"]}
        assert {before, after} <= ids
