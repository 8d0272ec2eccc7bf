"""The pool dashboard in a real browser against a live ComfyWeb with two simulators."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.browser.pages import ARTIFACTS, VIEWPORT, open_run_page
from tests.factories import png_bytes
from tests.paths import REPO

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.3
PASSWORD = "pool-dashboard-pw-1"


@pytest.fixture(scope="module")
def operator(app) -> str:
    env = {**os.environ, "COMFYWEB_DATA_DIR": str(app.data_dir), "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "createsuperuser",
            "--noinput",
            "--username",
            "olivia",
            "--email",
            "o@x.org",
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    return "olivia"


def server_name(url: str) -> str:
    host_port = url.removeprefix("http://")
    return host_port.replace(":", "-")  # jobs.core.servers names COMFYUI_SERVERS entries host-port


def submit_through_the_api(context, url: str) -> str:
    page, tab = open_run_page(context, url)
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    upload = page.request.post(
        f"{url}/api/uploads/",
        multipart={"file": {"name": "in.png", "mimeType": "image/png", "buffer": png_bytes(32, 24)}},
        headers={"X-CSRFToken": csrf},
    )
    assert upload.status == 201, upload.text()
    answer = page.request.post(
        f"{url}/api/jobs/",
        data=json.dumps({"tab": tab, "workflow": "invert", "params": {"image": upload.json()["id"]}}),
        headers={"X-CSRFToken": csrf, "Content-Type": "application/json"},
    )
    assert answer.status == 201, answer.text()
    return answer.json()["job"]["id"]


def test_staff_watch_the_pool_live_and_drain_a_server(app, browser, operator):
    names = [server_name(url) for url, _ in app.simulators]
    context = browser.new_context(viewport=VIEWPORT)
    user = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{app.url}/admin/login/?next=/admin/pool/")
        page.fill("#id_username", operator)
        page.fill("#id_password", PASSWORD)
        page.click('input[type="submit"]')
        page.wait_for_url(f"{app.url}/admin/pool/")
        expect(page.locator('[data-socket="connected"]')).to_be_visible(timeout=10_000)
        for name in names:
            expect(page.locator(f'tr[data-server="{name}"][data-status="online"]')).to_be_visible(
                timeout=15_000
            )

        job_id = submit_through_the_api(user, app.url)
        row = page.locator(f'tr[data-job-id="{job_id}"]')
        expect(row).to_be_visible(timeout=10_000)
        expect(page.locator(f'tr[data-job-id="{job_id}"][data-status="succeeded"]')).to_be_visible(
            timeout=20_000
        )
        assert row.get_attribute("data-status") == "succeeded"

        # Each server's model files, read by the relay on connect: a count that opens to the names.
        for name in names:
            summary = page.locator(f'tr[data-server="{name}"] details[data-role="model-files"] summary')
            expect(summary).to_have_text(re.compile(r"^\d+ files?$"), timeout=15_000)
        target = page.locator(f'tr[data-server="{names[0]}"]')
        target.locator('details[data-role="model-files"] summary').click()
        assert target.locator('details[data-role="model-files"]').get_attribute("open") is not None
        title = target.locator('button[data-action="refresh"]').get_attribute("title") or ""
        assert title.startswith("Re-read its node classes and model files")
        assert target.get_attribute("data-draining") == "false"
        target.locator('button[data-action="drain"]').click()
        expect(page.locator(f'tr[data-server="{names[0]}"][data-draining="true"]')).to_be_visible(
            timeout=5_000
        )
        opened = page.locator(f'tr[data-server="{names[0]}"] details[data-role="model-files"]')
        assert opened.get_attribute("open") is not None, "the rebuilt row keeps the list open"
        expect(page.locator('[data-role="message"]')).to_have_text(f"{names[0]}: draining.")
        assert page.locator(f'tr[data-server="{names[1]}"]').get_attribute("data-draining") == "false"
        page.screenshot(path=str(ARTIFACTS / "pool-dashboard.png"), full_page=True)

        page.locator(f'tr[data-server="{names[0]}"] button[data-action="undrain"]').click()
        expect(page.locator(f'tr[data-server="{names[0]}"][data-draining="false"]')).to_be_visible(
            timeout=5_000
        )

        page.goto(f"{app.url}/admin/")
        page.click('a[data-link="pool-dashboard"]')
        page.wait_for_url(f"{app.url}/admin/pool/")
    finally:
        user.close()
        context.close()


def test_the_dashboard_is_refused_to_a_non_staff_session(app, browser):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page, _ = open_run_page(context, app.url)  # a user's session, not staff
        page.goto(f"{app.url}/admin/pool/")
        assert page.url.startswith(f"{app.url}/admin/login/"), page.url
        assert page.locator('[data-role="pool"]').count() == 0
        heard = page.evaluate(
            """(url) => new Promise((resolve) => {
                const messages = [];
                const socket = new WebSocket(url);
                socket.onmessage = (event) => messages.push(event.data);
                socket.onclose = () => resolve({ messages, opened: socket.opened === true });
                socket.onopen = () => { socket.opened = true; };
                setTimeout(() => resolve({ messages, timeout: true }), 5000);
            })""",
            f"{app.ws_url}/ws/pool/",
        )
        assert heard.get("messages") == [] and not heard.get("timeout"), heard
        assert page.request.get(f"{app.url}/admin/pool/snapshot.json").status == 404
        assert page.request.get(f"{app.url}/metrics").status == 404
    finally:
        context.close()
