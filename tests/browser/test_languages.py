"""English and Simplified Chinese: chosen from the browser's language, switched on the page,
and the scripts' own text (status, progress, buttons) translated too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.pages import (
    ARTIFACTS,
    card,
    new_context,
    open_run_page,
    scene_png,
    start_job,
    wait_image_loaded,
    wait_status,
    wait_tab_id,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.3

GARDEN = ((120, 200, 250), (235, 245, 255), (255, 190, 80), (80, 160, 90), (245, 235, 215))

# Words that stay as they are in every language: the product and language names, the server
# names and file names (data), workflow slugs.
ALLOWED = {"ComfyWeb", "English", "png"}

VISIBLE_TEXT = """() => {
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || parent.closest("script, style, [hidden], option:not(:checked)")) continue;
    if (node.textContent.trim()) texts.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll("[title], [alt], [aria-label]")) {
    if (el.closest("[hidden]")) continue;
    for (const name of ["title", "alt", "aria-label"]) {
      const value = el.getAttribute(name);
      if (value) texts.push(value);
    }
  }
  return texts;
}"""


def leftover_english(page, allowed: set[str]) -> list[str]:
    found = []
    for text in page.evaluate(VISIBLE_TEXT):
        for token in re.findall(r"[A-Za-z0-9_.:-]+", text):
            if re.fullmatch(r"[0-9a-f-]{6,}|[\d.:-]+", token) or token in allowed:
                continue
            words = [w for w in re.findall(r"[A-Za-z]{2,}", token) if w not in allowed]
            found += [f"{word!r} in {text!r}" for word in words]
    return found


def run_invert(page: Page, image: Path) -> str:
    """Run `invert` to the end, its result shown: every text the card can show is there."""
    job_id = start_job(page, "invert", image, "succeeded")
    wait_image_loaded(page, f"{card(job_id)} img[data-output]")
    return job_id


def test_a_chinese_browser_gets_the_run_page_in_chinese_and_can_switch_to_english(app, browser, tmp_path):
    image = tmp_path / "garden.png"
    scene_png(240, 150, GARDEN, image)
    with new_context(browser, locale="zh-CN") as context:
        page, tab = open_run_page(context, app.url)
        assert page.get_attribute("html", "lang") == "zh-hans"
        assert page.locator('[data-action="run"]').text_content().strip() == "运行"
        page.wait_for_selector('[data-socket="connected"]')
        assert page.locator('[data-role="socket-text"]').text_content() == "已连接", "jsi18n is loaded"
        assert page.get_attribute('button[data-language="zh-hans"]', "aria-pressed") == "true"

        job_id = run_invert(page, image)
        shown = page.locator(card(job_id))
        assert shown.locator(".badge").text_content() == "已完成"
        assert shown.locator('[data-action="retry"]').text_content() == "重试"
        assert shown.locator('[data-role="elapsed"]').text_content().startswith("用时")
        assert page.locator(".field-status").text_content().startswith("已上传")
        server = page.get_attribute("[data-lock]", "data-lock-server") or ""
        allowed = ALLOWED | {"invert", "garden"} | set(re.findall(r"[A-Za-z]+", server))
        server_names = shown.locator(".job-meta").text_content()
        allowed |= set(re.findall(r"[A-Za-z]+", server_names.split("服务器")[-1].split("·")[0]))
        assert leftover_english(page, allowed) == []
        page.screenshot(path=ARTIFACTS / "run-page-zh-hans.png")

        page.click('button[data-language="en"]')
        page.wait_for_selector('html[lang="en"]')
        assert wait_tab_id(page) == tab, "switching the language keeps the tab"
        wait_status(page, job_id, "succeeded", timeout=30_000)
        assert page.locator(f"{card(job_id)} .badge").text_content() == "Succeeded"
        assert page.locator('[data-action="run"]').text_content().strip() == "Run"


def test_an_english_browser_gets_the_run_page_in_english(app, browser, tmp_path):
    image = tmp_path / "garden.png"
    scene_png(256, 160, GARDEN, image)
    with new_context(browser, locale="en-US") as context:
        page, _ = open_run_page(context, app.url)
        assert page.get_attribute("html", "lang") == "en"
        assert page.get_attribute('button[data-language="en"]', "aria-pressed") == "true"
        job_id = run_invert(page, image)
        assert page.locator(f"{card(job_id)} .badge").text_content() == "Succeeded"
        page.wait_for_selector('[data-socket="connected"]')
        page.screenshot(path=ARTIFACTS / "run-page-en.png")

        # Keyboard: the skip link comes first, then the navigation, the language switch, the form.
        page.reload()
        wait_tab_id(page)
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.className") == "skip-link"
        order = []
        for _ in range(7):
            page.keyboard.press("Tab")
            focused = "() => document.activeElement.name || document.activeElement.textContent.trim()"
            order.append(page.evaluate(focused))
        assert order[:2] == ["Run", "Gallery"] or order[1:3] == ["Run", "Gallery"], order
        assert "workflow" in order, order
