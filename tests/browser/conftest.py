"""Browser tests: Debian's chromium driven by Playwright against a live ComfyWeb.

Chromium is a hard requirement here: a missing browser fails the tests, it never skips them.
Playwright's own browser downloads are not used (`playwright install` is never run).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.pages import ARTIFACTS, CHROMIUM
from tests.i18n.catalogs import compile_translations
from tests.live import LiveApp, live_app


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations() -> None:
    """The pages are tested in both languages: the .mo files must be there (not in git)."""
    compile_translations()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module. Not session-wide: Playwright's sync API keeps its event
    loop marked running while it is open, which would break async tests scheduled later on
    the same xdist worker."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: browser tests need Debian's chromium "
            "(apt-get install chromium) or COMFYWEB_CHROMIUM pointing at a chromium binary.",
            pytrace=False,
        )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            headless=True,
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def app(request, tmp_path_factory) -> Iterator[LiveApp]:
    """ComfyWeb and two simulators for one test module; SIM_DELAY in the module sets the
    seconds per executed node (default 0.4 s, so an invert job of 3 nodes shows progress)."""
    delay = getattr(request.module, "SIM_DELAY", 0.4)
    with live_app(tmp_path_factory.mktemp("browser"), simulators=2, sim_delay=delay) as running:
        yield running
