"""What browser tests do on ComfyWeb's pages, through the SPEC §7 hooks."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from playwright.sync_api import APIResponse, Browser, BrowserContext, Page

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
  const seen = { statuses: {}, progress: {}, socket: [], previews: {}, queue: {} };
  window.__comfyweb = seen;
  const record = () => {
    const indicator = document.querySelector("[data-socket]");
    const socketState = indicator && indicator.dataset.socket;
    if (socketState && seen.socket[seen.socket.length - 1] !== socketState) seen.socket.push(socketState);
    for (const card of document.querySelectorAll("[data-job-id]")) {
      const id = card.dataset.jobId;
      const status = card.dataset.status;
      const list = (seen.statuses[id] ||= []);
      if (status && list[list.length - 1] !== status) list.push(status);
      const preview = card.querySelector("img[data-preview]");
      if (preview && !preview.hidden && (preview.getAttribute("src") || "").startsWith("data:image/")) {
        const shots = (seen.previews[id] ||= []);
        if (shots[shots.length - 1] !== preview.src) shots.push(preview.src);
      }
      const queue = card.querySelector('[data-role="queue"]');
      if (queue && !queue.hidden && queue.dataset.queuePosition !== undefined) {
        const places = (seen.queue[id] ||= []);
        const place = { position: Number(queue.dataset.queuePosition), text: queue.textContent };
        const last = places[places.length - 1];
        if (!last || last.position !== place.position) places.push(place);
      }
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


@contextmanager
def new_context(browser: Browser, **options: Any) -> Iterator[BrowserContext]:
    """One person's browser (own cookie jar, so own Django session) at the tests' viewport,
    closed however the test ends: a context left open would keep its pages' sockets alive
    into the next test of the module. `options` go to Browser.new_context (locale, ...)."""
    context = browser.new_context(viewport=VIEWPORT, **options)
    try:
        yield context
    finally:
        context.close()


def open_run_page(context: BrowserContext, url: str) -> tuple[Page, str]:
    """A new tab on the run page; returns it with its tab id once the page has one."""
    page = context.new_page()
    page.add_init_script(RECORDER)
    page.goto(f"{url}/")
    return page, wait_tab_id(page)


def wait_tab_id(page: Page) -> str:
    page.wait_for_function("() => Boolean(document.body.dataset.tab)", timeout=20_000)
    return page.evaluate("() => document.body.dataset.tab")


# The image field's upload state (data-upload on its .field-status: "done", "error", ...).
UPLOAD_STATE = """document.querySelector('input[name="image"]').closest(".field")
  .querySelector(".field-status").dataset.upload"""


def choose_image(page: Page, workflow: str, image: Path) -> None:
    """Pick the workflow and an image, and wait for the upload to finish (Run enabled again)."""
    page.select_option('select[name="workflow"]', workflow)
    page.set_input_files('input[name="image"]', str(image))
    page.wait_for_function(
        f"""() => {UPLOAD_STATE} === "done" && !document.querySelector('[data-action="run"]').disabled""",
        timeout=20_000,
    )


def wait_upload(page: Page, state: str | None = "done", timeout: float = 15_000) -> None:
    """Wait until the image field's upload is in `state`; None: the field holds no upload
    (nothing chosen, or a remembered upload that this session may not use)."""
    page.wait_for_function(f"(state) => ({UPLOAD_STATE} || null) === state", arg=state, timeout=timeout)


def card(job_id: str) -> str:
    """The CSS selector of one job's card on the run page."""
    return f'[data-job-id="{job_id}"]'


def card_ids(page: Page) -> list[str]:
    """The ids of the job cards on the page, newest first."""
    return page.eval_on_selector_all("[data-job-id]", "(cs) => cs.map((c) => c.dataset.jobId)")


def wait_tab_cards(page: Page, url: str, tab: str, timeout: float = 20_000) -> list[str]:
    """Wait until the page shows a card for every job the API lists for `tab`, and return their
    ids. A freshly opened page draws the tab's earlier jobs when its socket's snapshot arrives;
    counting cards before that would take the earlier jobs for new ones."""
    ids = [j["id"] for j in api_json(page, f"{url}/api/jobs/?tab={tab}")["jobs"]]
    page.wait_for_function(
        '(ids) => ids.every((id) => document.querySelector(`[data-job-id="${id}"]`))',
        arg=ids,
        timeout=timeout,
    )
    return card_ids(page)


def wait_cards(page: Page, count: int, timeout: float = 20_000) -> None:
    """Wait until the page shows exactly `count` job cards (after a Run or a Retry)."""
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-job-id]').length === n", arg=count, timeout=timeout
    )


def newest_job(page: Page, timeout: float = 20_000) -> str:
    """The id of the newest job card, once there is one. Only right on a page that showed no
    card before the Run: an older card would be taken for it (use card_ids otherwise)."""
    page.wait_for_selector("[data-job-id]", timeout=timeout)
    return page.get_attribute("[data-job-id]", "data-job-id")


def click_run(page: Page) -> str:
    """Click Run on a page with no job card yet; returns the id of the job it made."""
    page.click('[data-action="run"]')
    return newest_job(page)


def start_job(
    page: Page, workflow: str, image: Path, status: str = "running", timeout: float = 20_000
) -> str:
    """Run `workflow` on `image` from a page with no job card yet and wait until the card
    shows `status` (by default running: the moment a test reloads, closes or cancels)."""
    choose_image(page, workflow, image)
    job_id = click_run(page)
    wait_status(page, job_id, status, timeout)
    return job_id


def wait_status(page: Page, job_id: str, status: str, timeout: float = 20_000) -> None:
    page.wait_for_selector(f'{card(job_id)}[data-status="{status}"]', timeout=timeout)


def recorded(page: Page) -> dict:
    """Everything RECORDER saw: statuses, progress, socket states, previews, queue places."""
    return page.evaluate("() => window.__comfyweb")


def seen(page: Page, job_id: str) -> tuple[list[str], list[dict]]:
    """The statuses the card went through and its visible progress states (RECORDER)."""
    data = recorded(page)
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
        timeout=20_000,
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


def assert_output_inverted(page: Page, job_id: str, original: Image.Image, label: str) -> str:
    """The job's card shows one result, loaded, and it is `original` inverted (fetched with
    the page's own cookies, as the browser did); returns the image's src."""
    [src] = wait_image_loaded(page, f"{card(job_id)} img[data-output]")
    assert_inverted(fetch_image(page, src), original, label)
    return src


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


# --------------------------------------------------------------------------- API shortcuts


def csrf(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def api_send(page: Page, method: str, url: str, body: dict | None = None):
    """POST/DELETE a JSON API route with the page's cookies and CSRF token; returns the response."""
    return page.request.fetch(
        url,
        method=method,
        headers={"X-CSRFToken": csrf(page), "Content-Type": "application/json"},
        data=json.dumps(body) if body is not None else None,
    )


def send_upload(page: Page, url: str, image: Path, mime: str = "image/png") -> APIResponse:
    """POST a file to the upload API as the page's scripts do (its cookies, CSRF token, a
    PNG content type unless told, whatever the bytes are); the answer is the test's to judge."""
    return page.request.post(
        f"{url}/api/uploads/",
        multipart={"file": {"name": image.name, "mimeType": mime, "buffer": image.read_bytes()}},
        headers={"X-CSRFToken": csrf(page)},
    )


def upload(page: Page, url: str, image: Path, mime: str = "image/png") -> dict:
    answer = send_upload(page, url, image, mime)
    assert answer.status == 201, answer.text()
    return answer.json()


def submit(page: Page, url: str, tab: str, workflow: str, params: dict) -> dict:
    answer = api_send(page, "POST", f"{url}/api/jobs/", {"tab": tab, "workflow": workflow, "params": params})
    assert answer.status == 201, answer.text()
    return answer.json()["job"]


def wait_jobs_done(page: Page, url: str, ids: list[str], timeout: float = 30) -> list[dict]:
    """Poll the API until every job has finished; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = [api_json(page, f"{url}/api/jobs/{i}/")["job"] for i in ids]
        if all(j["status"] not in ACTIVE for j in jobs):
            return jobs
        assert time.monotonic() < deadline, f"jobs still active: {[j['status'] for j in jobs]}"
        page.wait_for_timeout(200)


def wait_workflow(page: Page, url: str, slug: str, timeout: float = 20) -> dict:
    """A workflow that appears once the pool's health check has seen its nodes (preview-demo)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {w["slug"]: w for w in api_json(page, f"{url}/api/workflows/")["workflows"]}
        if slug in found:
            return found[slug]
        assert time.monotonic() < deadline, f"workflow {slug!r} not offered; have {sorted(found)}"
        page.wait_for_timeout(250)


def select_offered_workflow(page: Page, url: str, slug: str) -> None:
    """Select a workflow once the pool offers it (wait_workflow): the page is reloaded first,
    since its form is built from the workflows it was served with."""
    wait_workflow(page, url, slug)
    page.reload()
    page.select_option('select[name="workflow"]', slug)


def add_workflow(app_data_dir: Path, spec: dict) -> None:
    """Store a workflow in a running ComfyWeb's database (what an operator does in the admin)."""
    code = (
        "import json, sys\n"
        "from jobs.core.models import Workflow\n"
        "spec = json.loads(sys.stdin.read())\n"
        "Workflow.objects.update_or_create(slug=spec.pop('slug'), defaults=spec)\n"
    )
    environment = {**os.environ, "COMFYWEB_DATA_DIR": str(app_data_dir)}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        input=json.dumps(spec),
        text=True,
        cwd=REPO,
        env=environment,
        check=True,
        capture_output=True,
    )


def sign_in(page: Page, username: str, password: str, then: str) -> None:
    """Fill the sign-in form the page shows (jobs.web.accounts) and wait until it lands on
    `then` (a URL or a glob)."""
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('[data-role="login"] button[type="submit"]')
    page.wait_for_url(then)


def run_with_model(page: Page, model: str) -> str:
    """Run the selected workflow with `model` as its checkpoint; returns the new card's job id."""
    before = set(card_ids(page))
    page.select_option('select[name="model"]', model)
    page.click('[data-action="run"]')
    page.wait_for_function(
        "n => document.querySelectorAll('[data-job-id]').length > n", arg=len(before), timeout=20_000
    )
    (job_id,) = set(card_ids(page)) - before
    return job_id
