"""Every kind of result and input on the page (issue M), on the simulator's media nodes: a video
and an audio job show players whose metadata loads, a text job its text (copyable), an
animated job an animated image, the gallery filters by media; video, audio and mask inputs
upload from the run form with a preview. And Debian's chromium plays the MP4 ComfyUI writes."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page

from tests.browser.media_jobs import (
    CAPTION,
    add_media_workflows,
    media_inputs,
    run_media_jobs,
)
from tests.browser.pages import (
    ARTIFACTS,
    add_workflow,
    card,
    click_run,
    new_context,
    open_run_page,
    wait_cards,
    wait_image_loaded,
    wait_status,
)
from tests.media_files import mp4
from tests.paths import REPO

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.0
FIXTURES = REPO / "tests" / "fixtures" / "comfyui" / "media"
SCREENSHOTS = REPO / "docs" / "screenshots"

GALLERY_MEDIA = "(cs) => cs.map((c) => c.dataset.galleryMedia)"

# A video's or a sound's length once the player has read the file's metadata.
METADATA = """(el) => new Promise((resolve, reject) => {
  const done = () => resolve({
    duration: el.duration, width: el.videoWidth ?? null, height: el.videoHeight ?? null,
  });
  if (el.readyState >= 1) return done();
  el.addEventListener("loadedmetadata", done, { once: true });
  const fail = () => reject(new Error(`media error ${el.error && el.error.code}`));
  el.addEventListener("error", fail, { once: true });
  if (el.preload === "none") el.load();
})"""

# Video from an upload: LoadVideo → SaveVideo; a mask from an upload's alpha:
# LoadImageMask → MaskToImage → SaveImage.
INPUTS = {
    "slug": "media-inputs",
    "name": "Video and mask",
    "description": "Saves the uploaded video again, and the mask of an image as a picture.",
    "graph": {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "x.mp4"}},
        "2": {
            "class_type": "SaveVideo",
            "inputs": {
                "video": ["1", 0],
                "filename_prefix": "video/again",
                "format": "auto",
                "codec": "auto",
            },
        },
        "3": {"class_type": "LoadImageMask", "inputs": {"image": "m.png", "channel": "alpha"}},
        "4": {"class_type": "MaskToImage", "inputs": {"mask": ["3", 0]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "mask"}},
    },
    "params": [
        {"name": "clip", "type": "video", "node": "1", "input": "file", "label": "Clip"},
        {"name": "mask", "type": "mask", "node": "3", "input": "image", "label": "Mask"},
    ],
}


@pytest.fixture(scope="module")
def workflows(app) -> None:
    add_media_workflows(app)
    add_workflow(app.data_dir, dict(INPUTS))


@pytest.fixture(scope="module")
def media_session(app, browser, workflows, tmp_path_factory) -> Iterator[tuple[BrowserContext, Page, dict]]:
    """One person's tab with a finished job of every media, made through the API."""
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        jobs = run_media_jobs(page, app, tab, tmp_path_factory.mktemp("media"))
        yield context, page, jobs


def metadata(page: Page, selector: str) -> dict:
    page.locator(selector).scroll_into_view_if_needed()
    return page.eval_on_selector(selector, METADATA)


def serve(path, content_type: str):
    body = path.read_bytes()
    return lambda route: route.fulfill(body=body, content_type=content_type)


def test_chromium_plays_the_h264_mp4_comfyui_writes(app, browser):
    """The MP4 of a real ComfyUI 0.3.64 (H.264 High, yuv420p, moov after mdat) plays in Debian's
    chromium: no WebM preview needed beside it."""
    with new_context(browser) as context:
        page = context.new_page()
        page.goto(f"{app.url}/healthz")
        for name in ("h264.mp4", "h264-aac.mp4"):
            page.route(f"**/fixture/{name}", serve(FIXTURES / name, "video/mp4"))
        played = page.evaluate(
            """async (names) => {
              const out = {};
              for (const name of names) {
                const v = document.createElement("video");
                v.muted = true;
                v.preload = "auto";
                const meta = new Promise((ok, bad) => {
                  v.addEventListener("loadedmetadata", ok, { once: true });
                  const fail = () => bad(new Error(`${name}: error ${v.error.code}`));
                  v.addEventListener("error", fail, { once: true });
                });
                v.src = `/fixture/${name}`;
                document.body.append(v);
                await meta;
                await v.play();
                await new Promise((ok) => v.addEventListener("ended", ok, { once: true }));
                out[name] = {
                  can: v.canPlayType('video/mp4; codecs="avc1.64000a"'),
                  duration: v.duration, width: v.videoWidth, frames: v.webkitDecodedFrameCount,
                };
              }
              return out;
            }""",
            ["h264.mp4", "h264-aac.mp4"],
        )
    for name, seen in played.items():
        assert seen["can"] == "probably", (name, seen)
        assert seen["duration"] == pytest.approx(0.5, abs=0.05), (name, seen)
        assert seen["width"] == 32 and seen["frames"] == 4, (name, seen)


def test_video_audio_text_and_animated_results_from_the_run_page(app, browser, workflows, tmp_path):
    picture, sound = media_inputs(tmp_path)
    with new_context(browser, permissions=["clipboard-read", "clipboard-write"]) as context:
        page, _ = open_run_page(context, app.url)
        page.select_option('select[name="workflow"]', "media-video")
        page.set_input_files('input[name="image"]', str(picture))
        page.wait_for_function("() => !document.querySelector('[data-action=\"run\"]').disabled")
        page.wait_for_selector('[data-upload="done"]')
        video_job = click_run(page)

        page.select_option('select[name="workflow"]', "media-animated")
        page.set_input_files('input[name="image"]', str(picture))
        page.wait_for_selector('[data-upload="done"]')
        page.click('[data-action="run"]')
        wait_cards(page, 2)

        page.select_option('select[name="workflow"]', "media-audio")
        assert page.get_attribute('input[name="audio"]', "accept") == "audio/*"
        page.set_input_files('input[name="audio"]', str(sound))
        page.wait_for_selector('[data-upload="done"]')
        status = page.locator('[data-param="audio"] .field-status').text_content()
        assert status == "Uploaded · 0:01.5", status
        page.wait_for_function(
            "() => document.querySelector('[data-param=\"audio\"] audio.upload-preview').readyState >= 1"
        )
        page.click('[data-action="run"]')
        wait_cards(page, 3)

        page.select_option('select[name="workflow"]', "media-text")
        page.fill('[name="caption"]', CAPTION)
        page.click('[data-action="run"]')
        wait_cards(page, 4)

        ids = page.eval_on_selector_all("[data-job-id]", "(cs) => cs.map((c) => c.dataset.jobId)")
        text_job, audio_job, animated_job = ids[0], ids[1], ids[2]
        assert ids[3] == video_job
        for job in ids:
            wait_status(page, job, "succeeded", timeout=30_000)

        video = metadata(page, f'{card(video_job)} video[data-media="video"]')
        assert video["duration"] > 0 and (video["width"], video["height"]) == (64, 48), video
        element = page.locator(f'{card(video_job)} video[data-media="video"]')
        assert element.get_attribute("controls") is not None
        assert element.get_attribute("preload") == "metadata"
        poster = element.get_attribute("poster")
        assert poster.endswith("?thumb=1")
        answer = page.request.get(f"{app.url}{poster}")
        assert answer.ok and answer.headers["content-type"] == "image/webp"
        assert element.get_attribute("aria-label").endswith(" from Blink video")
        assert page.locator(f"{card(video_job)} track").count() == 0  # no captions to offer

        audio = metadata(page, f'{card(audio_job)} audio[data-media="audio"]')
        assert audio["duration"] == pytest.approx(1.5, abs=0.05), audio
        caption = page.locator(f"{card(audio_job)} figcaption").text_content()
        assert "0:01.5" in caption and "audio/flac" in caption, caption

        text = page.locator(f'{card(text_job)} [data-media="text"]')
        assert text.text_content() == CAPTION
        page.click(f'{card(text_job)} [data-action="copy-text"]')
        page.wait_for_function(
            f"() => document.querySelector('{card(text_job)} .output-copied').textContent === 'Copied'"
        )
        assert page.evaluate("() => navigator.clipboard.readText()") == CAPTION

        [src] = wait_image_loaded(page, f'{card(animated_job)} img[data-media="animated"]')
        answer = page.request.get(src)
        assert answer.headers["content-type"] == "image/webp"
        with Image.open(io.BytesIO(answer.body())) as animation:
            assert animation.n_frames == 4 and animation.size == (64, 48)

        # Keyboard: the players and the text are in the tab order, after the run form.
        page.focus(f'{card(text_job)} [data-media="text"]')
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.dataset.action") == "copy-text"

        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(300)  # posters painted
        shot = ARTIFACTS / "media-results.png"
        page.screenshot(path=shot, full_page=True)
        SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / "media-results.png")


def test_video_and_mask_inputs_upload_with_a_preview(app, browser, workflows, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(mp4(count=8, fps=8))
    mask = tmp_path / "mask.png"
    image = Image.new("RGBA", (40, 30), (200, 40, 40, 255))
    image.paste((0, 0, 0, 0), (0, 0, 20, 30))  # the left half transparent
    image.save(mask)
    with new_context(browser) as context:
        page, _ = open_run_page(context, app.url)
        page.select_option('select[name="workflow"]', "media-inputs")
        assert page.get_attribute('input[name="clip"]', "accept") == "video/*"
        assert page.get_attribute('input[name="mask"]', "accept") == "image/png,image/webp"
        page.set_input_files('input[name="clip"]', str(clip))
        page.set_input_files('input[name="mask"]', str(mask))
        page.wait_for_function("() => document.querySelectorAll('[data-upload=\"done\"]').length === 2")
        assert page.locator('[data-param="clip"] .field-status').text_content() == "Uploaded · 32×24 · 0:01.0"
        assert page.locator('[data-param="mask"] .field-status').text_content() == "Uploaded · 40×30"
        preview = metadata(page, '[data-param="clip"] video.upload-preview')
        assert preview["duration"] == pytest.approx(1.0, abs=0.05)
        page.wait_for_function(
            "() => document.querySelector('[data-param=\"mask\"] img.upload-preview').naturalWidth === 40"
        )
        job = click_run(page)
        wait_status(page, job, "succeeded", timeout=30_000)
        again = metadata(page, f'{card(job)} video[data-media="video"]')
        assert again["duration"] == pytest.approx(1.0, abs=0.05) and again["width"] == 32
        [src] = wait_image_loaded(page, f'{card(job)} img[data-media="image"]')
        answer = page.request.get(src)
        with Image.open(io.BytesIO(answer.body())) as result:
            grey = result.convert("L")
            # ComfyUI's alpha mask is 1 - alpha: the transparent half is white.
            assert grey.getpixel((5, 15)) == 255 and grey.getpixel((35, 15)) == 0
        # The form remembers the uploads: a reload offers them again, checked first.
        page.reload()
        page.select_option('select[name="workflow"]', "media-inputs")
        page.wait_for_function("() => document.querySelectorAll('[data-upload=\"done\"]').length === 2")


def test_the_gallery_shows_each_media_and_filters_by_it(app, media_session):
    _, page, _ = media_session
    page.goto(f"{app.url}/gallery/")
    media = page.eval_on_selector_all("[data-gallery-item]", GALLERY_MEDIA)
    assert sorted(media) == sorted(["image", "animated", "video", "audio", "text", "text", "3d", "file"])
    offered = page.eval_on_selector_all(
        'select[name="media"] option', "(os) => os.map((o) => [o.value, o.textContent])"
    )
    assert offered == [
        ["", "All media"],
        ["image", "Pictures"],
        ["animated", "Animations"],
        ["video", "Videos"],
        ["audio", "Audio"],
        ["text", "Texts"],
        ["3d", "3D models"],
        ["file", "Other files"],
    ]
    for kind in ("audio",):
        found = metadata(page, f'[data-gallery-media="{kind}"] [data-media="{kind}"]')
        assert found["duration"] == pytest.approx(1.5, abs=0.05)
    assert (
        page.locator('[data-gallery-media="text"] [data-media="text"]').all_text_contents().count(CAPTION)
        == 1
    )
    details = page.locator('[data-gallery-media="3d"] [data-role="media-details"]').text_content()
    assert "3D model" in details and "model/gltf-binary" in details and "20\xa0bytes" in details, details
    assert page.get_attribute('[data-gallery-media="3d"] [data-media="3d"]', "href").endswith("?download=1")

    page.select_option('select[name="media"]', "video")
    page.click('[data-action="filter"]')
    page.wait_for_url("**/gallery/?*media=video*")
    items = page.eval_on_selector_all("[data-gallery-item]", GALLERY_MEDIA)
    assert items == ["video"]
    assert page.input_value('select[name="media"]') == "video"
    wait_image_loaded(page, 'img[data-media="video"]')  # the poster frame
    badge = page.locator('[data-gallery-media="video"] .gallery-badge').text_content()
    assert "Video" in badge and "1.0 s" in badge, badge
    shot = ARTIFACTS / "gallery-media.png"
    page.screenshot(path=shot, full_page=True)
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, SCREENSHOTS / "gallery-media.png")

    # The tile opens the browser's player in the view dialog; Escape closes it and stops it.
    page.click('[data-gallery-media="video"] .gallery-thumb')
    played = metadata(page, '[data-role="view-dialog"] video')
    assert played["duration"] > 0
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('[data-role=\"view-dialog\"]').open")
    # The dialog's `close` event (which stops the player) comes a turn after `open` clears.
    page.wait_for_function(
        "() => !document.querySelector('[data-role=\"view-dialog\"] video').hasAttribute('src')"
    )

    page.goto(f"{app.url}/gallery/?media=audio")
    assert page.eval_on_selector_all("[data-gallery-item]", GALLERY_MEDIA) == ["audio"]
    page.goto(f"{app.url}/gallery/?media=text")
    assert len(page.locator("[data-gallery-item]").all()) == 2
    page.goto(f"{app.url}/gallery/")
    page.screenshot(path=ARTIFACTS / "gallery-media-all.png", full_page=True)
