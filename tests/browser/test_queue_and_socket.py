"""Jobs waiting in the server's queue show their place; the socket indicator follows the
connection, reconnects by itself with backoff and resumes from the snapshot."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import WebSocketRoute

from tests.browser.pages import (
    RECORDER,
    card,
    card_ids,
    choose_image,
    click_run,
    new_context,
    open_run_page,
    recorded,
    scene_png,
    wait_cards,
    wait_status,
    wait_tab_id,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

# invert: 3 nodes × 1.5 s, so the later jobs still wait in the queue after a reload on a loaded
# machine (with 0.8 s the last one had sometimes started by then)
SIM_DELAY = 1.5

DUNES = ((230, 180, 90), (250, 230, 170), (255, 250, 220), (200, 150, 70), (160, 90, 60))


def test_jobs_waiting_in_the_server_queue_show_their_place_also_after_a_reload(app, browser, tmp_path):
    image = tmp_path / "dunes.png"
    scene_png(96, 64, DUNES, image)
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        choose_image(page, "invert", image)
        for count in (1, 2, 3):  # one tab, one locked server: the later jobs queue behind the first
            page.click('[data-action="run"]')
            wait_cards(page, count)
        ids = card_ids(page)

        queued = '[data-job-id][data-status="queued"] [data-role="queue"][data-queue-position]'
        page.wait_for_selector(queued, timeout=20_000)
        place = page.locator(queued).first
        assert int(place.get_attribute("data-queue-position")) >= 0
        pattern = r"Number \d+ in the server's queue|Next in the server's queue"
        assert re.fullmatch(pattern, place.text_content()), place.text_content()
        # A job ComfyWeb holds back (the server's queue is full) says so too.
        waiting = page.locator('[data-status="pending"] [data-role="queue"][data-queue-position]')
        for index in range(waiting.count()):
            assert re.fullmatch(r"Number \d+ waiting for a server", waiting.nth(index).text_content())

        page.reload()  # the snapshot carries each queued job's place
        assert wait_tab_id(page) == tab
        page.wait_for_selector(queued, timeout=15_000)

        for job_id in ids:
            wait_status(page, job_id, "succeeded", timeout=20_000)
        places = recorded(page)["queue"]
        assert any(places.get(job_id) for job_id in ids), f"no place was ever shown: {places}"
        assert page.locator('[data-role="queue"]:not([hidden])').count() == 0, "no place once done"


def test_the_socket_indicator_reconnects_with_backoff_and_resumes_from_the_snapshot(app, browser, tmp_path):
    image = tmp_path / "dunes.png"
    scene_png(64, 48, DUNES, image)
    sockets: list[WebSocketRoute] = []
    down = {"now": False, "refused": 0}

    def route(ws: WebSocketRoute) -> None:
        if down["now"]:
            down["refused"] += 1
            ws.close(code=1011, reason="test: server unreachable")
            return
        ws.connect_to_server()
        sockets.append(ws)

    with new_context(browser) as context:
        page = context.new_page()
        page.route_web_socket(re.compile(r".*/ws/tabs/.*"), route)
        page.add_init_script(RECORDER)
        page.goto(f"{app.url}/")
        wait_tab_id(page)
        indicator = page.locator("[data-socket]")
        page.wait_for_selector('[data-socket="connected"]', timeout=20_000)
        assert indicator.get_attribute("role") == "status"
        assert indicator.text_content().strip() == "Connected"

        # The connection drops and the server stays unreachable for a while.
        down["now"] = True
        for ws in sockets:
            ws.close(code=1011, reason="test: dropped")
        page.wait_for_selector('[data-socket="reconnecting"]', timeout=15_000)
        assert indicator.text_content().strip() == "Reconnecting…"

        # A job submitted meanwhile runs (HTTP still works) and finishes while the socket is down.
        choose_image(page, "invert", image)
        job_id = click_run(page)

        page.wait_for_selector('[data-socket="offline"]', timeout=15_000)
        assert indicator.text_content().strip() == "Offline"
        assert down["refused"] >= 3, "it kept trying by itself"
        assert page.get_attribute(card(job_id), "data-status") != "succeeded"

        down["now"] = False  # the server is back: the next try connects and the snapshot catches up
        page.wait_for_selector('[data-socket="connected"]', timeout=15_000)
        wait_status(page, job_id, "succeeded", timeout=20_000)
        states = recorded(page)["socket"]
        assert states[-2:] == ["offline", "connected"] and "reconnecting" in states, states
        assert page.locator(f"{card(job_id)} img[data-output]").count() == 1
