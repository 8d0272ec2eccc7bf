"""What browser tests do on ComfyWeb's pages, through the SPEC §7 hooks."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import BrowserContext, Page

from tests.paths import REPO

CHROMIUM = Path(os.environ.get("COMFYWEB_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts"
VIEWPORT = {"width": 1280, "height": 800}
ACTIVE = ("pending", "queued", "running")

# Installed before any page script runs, on every navigation: records each card's data-status
# changes and every moment its progress element was visible, so a test can check afterwards
# what the user saw along the way (a state may last less than one polling interval).
RECORDER = """
(() => {
  const seen = { statuses: {}, progress: {} };
  window.__comfyweb = seen;
  const record = () => {
    for (const card of document.querySelectorAll("[data-job-id]")) {
      const id = card.dataset.jobId;
      const status = card.dataset.status;
      const list = (seen.statuses[id] ||= []);
      if (status && list[list.length - 1] !== status) list.push(status);
      const box = card.querySelector(".job-progress");
      if (!box || box.hidden) continue;
      const bar = box.querySelector('[role="progressbar"]');
      const entry = {
        status,
        now: bar ? bar.getAttribute("aria-valuenow") : null,
        max: bar ? bar.getAttribute("aria-valuemax") : null,
        text: box.textContent,
      };
      const log = (seen.progress[id] ||= []);
      const last = log[log.length - 1];
      if (!last || JSON.stringify(last) !== JSON.stringify(entry)) log.push(entry);
    }
  };
  const observe = () => new MutationObserver(record).observe(document.body, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
  if (document.body) observe();
  else document.addEventListener("DOMContentLoaded", observe);
})();
"""


def open_run_page(context: BrowserContext, url: str) -> tuple[Page, str]:
    """A new tab on the run page; returns it with its tab id once the page has one."""
    page = context.new_page()
    page.add_init_script(RECORDER)
    page.goto(f"{url}/")
    return page, wait_tab_id(page)


def wait_tab_id(page: Page) -> str:
    page.wait_for_function("() => Boolean(document.body.dataset.tab)", timeout=10_000)
    return page.evaluate("() => document.body.dataset.tab")


def choose_image(page: Page, workflow: str, image: Path) -> None:
    """Pick the workflow and an image, and wait for the upload to finish (Run enabled again)."""
    page.select_option('select[name="workflow"]', workflow)
    page.set_input_files('input[name="image"]', str(image))
    page.wait_for_function(
        """() => {
          const status = document.querySelector('input[name="image"]')
            .closest(".field").querySelector(".field-status");
          const run = document.querySelector('[data-action="run"]');
          return status.textContent.startsWith("Uploaded") && !run.disabled;
        }""",
        timeout=10_000,
    )


def wait_status(page: Page, job_id: str, status: str, timeout: float = 20_000) -> None:
    page.wait_for_selector(f'[data-job-id="{job_id}"][data-status="{status}"]', timeout=timeout)


def seen(page: Page, job_id: str) -> tuple[list[str], list[dict]]:
    """The statuses the card went through and its visible progress states (RECORDER)."""
    data = page.evaluate("() => window.__comfyweb")
    return data["statuses"].get(job_id, []), data["progress"].get(job_id, [])


def wait_image_loaded(page: Page, selector: str) -> list[str]:
    """Wait until every image matching `selector` has loaded; returns their absolute srcs."""
    for img in page.locator(selector).all():
        img.scroll_into_view_if_needed()
    page.wait_for_function(
        """(sel) => {
          const imgs = [...document.querySelectorAll(sel)];
          return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        arg=selector,
        timeout=10_000,
    )
    return page.eval_on_selector_all(selector, "(imgs) => imgs.map((i) => i.src)")


def fetch_image(page: Page, src: str) -> Image.Image:
    """The image behind `src`, fetched with the page's own cookies (session-owned files)."""
    answer = page.request.get(src)
    assert answer.ok, f"GET {src}: {answer.status} {answer.text()[:200]}"
    return Image.open(io.BytesIO(answer.body())).convert("RGB")


def assert_inverted(result: Image.Image, original: Image.Image, label: str = "") -> None:
    assert result.size == original.size, f"{label}: result {result.size} vs input {original.size}"
    width, height = original.size
    points = {
        (0, 0),
        (width - 1, 0),
        (0, height - 1),
        (width - 1, height - 1),
        (width // 2, height // 2),
        (width // 3, height // 4),
        (2 * width // 3, 3 * height // 4),
    }
    for point in sorted(points):
        a, b = original.getpixel(point), result.getpixel(point)
        for channel in range(3):
            assert abs(a[channel] + b[channel] - 255) <= 1, (
                f"{label}: pixel {point} input {a} result {b} is not its inversion"
            )


def api_json(page: Page, url: str) -> dict:
    """GET a JSON API route with the page's cookies."""
    answer = page.request.get(url)
    assert answer.ok, f"GET {url}: {answer.status} {answer.text()[:200]}"
    return json.loads(answer.text())


# --------------------------------------------------------------------------- images


def scene_png(width: int, height: int, palette: tuple, path: Path) -> Image.Image:
    """A recognisable picture (gradient sky, sun, hills, a house) whose inversion reads well.

    Drawn at 4× and scaled down, so its edges are smooth; saved to `path` and returned.
    """
    sky_top, sky_bottom, sun, hill, house = palette
    k = 4
    w, h = width * k, height * k
    image = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(image)
    for y in range(h):
        t = y / max(h - 1, 1)
        draw.line(
            [(0, y), (w, y)], fill=tuple(round(sky_top[c] * (1 - t) + sky_bottom[c] * t) for c in range(3))
        )
    s = min(w, h) * 0.3
    draw.ellipse([w * 0.7, h * 0.1, w * 0.7 + s, h * 0.1 + s], fill=sun)
    draw.ellipse([-w * 0.3, h * 0.62, w * 0.7, h * 1.6], fill=hill)
    draw.ellipse([w * 0.35, h * 0.7, w * 1.4, h * 1.7], fill=tuple(max(c - 40, 0) for c in hill))
    bx, by, bw = w * 0.16, h * 0.5, w * 0.2
    draw.rectangle([bx, by, bx + bw, by + bw * 0.7], fill=house)
    draw.polygon(
        [(bx - bw * 0.12, by), (bx + bw / 2, by - bw * 0.5), (bx + bw * 1.12, by)], fill=(150, 40, 40)
    )
    draw.rectangle([bx + bw * 0.4, by + bw * 0.35, bx + bw * 0.6, by + bw * 0.7], fill=(70, 45, 30))
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    image.save(path, format="PNG")
    return image
