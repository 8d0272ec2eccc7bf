"""The run form: fields built from each workflow's declared parameters, the last values
remembered per workflow, drag-and-drop, and the API's message shown next to an invalid field."""

from __future__ import annotations

import json

import pytest

from tests.browser.pages import (
    add_workflow,
    api_json,
    api_send,
    choose_image,
    click_run,
    new_context,
    open_run_page,
    scene_png,
    wait_cards,
    wait_status,
    wait_tab_id,
    wait_upload,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SIM_DELAY = 0.1

LAKE = ((60, 120, 200), (180, 210, 240), (255, 240, 180), (50, 110, 80), (220, 200, 180))

# A workflow with a text, a seed and a choice (what an operator may declare in the admin).
FORM_DEMO = {
    "slug": "form-demo",
    "name": "Form demo",
    "description": "Blur with a caption and a seed.",
    "graph": {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "Load Image"}},
        "2": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["1", 0], "blur_radius": 2, "sigma": 1.0},
            "_meta": {"title": "Image Blur"},
        },
        "3": {
            "class_type": "SaveImage",
            "inputs": {"images": ["2", 0], "filename_prefix": "demo"},
            "_meta": {"title": "Save Image"},
        },
    },
    "params": [
        {"name": "image", "type": "image", "node": "1", "input": "image", "label": "Image"},
        {"name": "caption", "type": "text", "node": "3", "input": "filename_prefix", "label": "Caption"},
        {"name": "seed", "type": "seed", "node": "2", "input": "seed", "label": "Seed", "default": 1},
        {
            "name": "size",
            "type": "choice",
            "node": "2",
            "input": "size",
            "label": "Size",
            "default": "medium",
            "choices": ["small", "medium", "large"],
        },
    ],
}


def value(page, name: str) -> str:
    return page.input_value(f'[name="{name}"]')


def options(page, name: str, attribute: str) -> list[str]:
    return page.eval_on_selector_all(f'select[name="{name}"] option', f"(os) => os.map((o) => o.{attribute})")


def test_fields_follow_the_workflow_and_the_last_values_come_back_per_workflow(app, browser, tmp_path):
    image = tmp_path / "lake.png"
    scene_png(120, 80, LAKE, image)
    with new_context(browser) as context:
        page, _ = open_run_page(context, app.url)
        choose_image(page, "blur", image)
        radius = page.locator('input[name="blur_radius"]')
        assert radius.get_attribute("type") == "number"
        assert (radius.get_attribute("min"), radius.get_attribute("max")) == ("1", "31")
        assert page.locator("#field-p-blur_radius-hint").text_content() == "From 1 to 31"
        assert page.locator('label[for="field-p-blur_radius"]').text_content() == "Blur radius"
        radius.fill("7")
        page.fill('input[name="sigma"]', "3.5")
        page.locator('input[name="sigma"]').dispatch_event("change")

        page.select_option('select[name="workflow"]', "upscale")
        methods = options(page, "upscale_method", "value")
        assert methods == ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
        assert value(page, "upscale_method") == "bicubic", "the declared default"
        page.select_option('select[name="upscale_method"]', "lanczos")

        page.reload()
        wait_tab_id(page)
        page.select_option('select[name="workflow"]', "blur")
        assert (value(page, "blur_radius"), value(page, "sigma")) == ("7", "3.5")
        wait_upload(page)
        assert page.locator(".upload-preview").is_visible(), "the remembered image, still valid, is reused"
        page.select_option('select[name="workflow"]', "upscale")
        assert value(page, "upscale_method") == "lanczos"

        # A new session cannot use the old session's upload: the id is not reused.
        context.clear_cookies()
        page.reload()
        wait_tab_id(page)
        page.select_option('select[name="workflow"]', "blur")
        assert value(page, "blur_radius") == "7"
        wait_upload(page, None)
        assert page.locator(".upload-preview").is_hidden()
        stored = json.loads(page.evaluate("() => localStorage.getItem('comfyweb.form.blur')"))
        assert stored["values"]["blur_radius"] == "7"


def test_an_invalid_value_shows_the_api_message_next_to_its_field(app, browser, tmp_path):
    image = tmp_path / "lake.png"
    scene_png(64, 40, LAKE, image)
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        choose_image(page, "blur", image)
        page.fill('input[name="blur_radius"]', "99")
        page.click('[data-action="run"]')

        error = page.locator('[data-field-error="blur_radius"]')
        error.wait_for(state="visible", timeout=15_000)
        upload_id = page.evaluate(
            "() => JSON.parse(localStorage.getItem('comfyweb.form.blur')).images.image.id"
        )
        answer = api_send(
            page,
            "POST",
            f"{app.url}/api/jobs/",
            {"tab": tab, "workflow": "blur", "params": {"image": upload_id, "blur_radius": 99, "sigma": 2}},
        )
        assert answer.status == 400
        detail = answer.json()["error"]
        assert detail["field"] == "blur_radius"
        assert error.text_content() == detail["message"].removeprefix("blur_radius: ")
        assert page.get_attribute('input[name="blur_radius"]', "aria-invalid") == "true"
        described = page.get_attribute('input[name="blur_radius"]', "aria-describedby")
        assert "field-p-blur_radius-error" in described
        assert page.evaluate("() => document.activeElement.name") == "blur_radius", "focus goes to the field"
        assert page.locator('[data-role="form-error"]').is_visible()
        assert page.locator("[data-job-id]").count() == 0

        page.fill('input[name="blur_radius"]', "5")
        click_run(page)
        assert error.is_hidden()
        assert page.get_attribute('input[name="blur_radius"]', "aria-invalid") is None


def test_an_image_dropped_on_the_field_is_uploaded_and_previewed(app, browser, tmp_path):
    image = tmp_path / "lake.png"
    scene_png(90, 60, LAKE, image)
    with new_context(browser) as context:
        page, _ = open_run_page(context, app.url)
        page.select_option('select[name="workflow"]', "invert")
        page.evaluate(
            """async (bytes) => {
              const file = new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" });
              const data = new DataTransfer();
              data.items.add(file);
              const zone = document.querySelector('[data-role="dropzone"]');
              const init = { dataTransfer: data, bubbles: true, cancelable: true };
              zone.dispatchEvent(new DragEvent("dragover", init));
              zone.dispatchEvent(new DragEvent("drop", init));
            }""",
            list(image.read_bytes()),
        )
        wait_upload(page)
        assert page.eval_on_selector('input[name="image"]', "(i) => i.files[0].name") == "dropped.png"
        assert page.locator(".field-status").text_content() == "Uploaded · 90×60"
        page.wait_for_function("() => document.querySelector('.upload-preview').naturalWidth === 90")
        wait_status(page, click_run(page), "succeeded")


def test_text_seed_and_choice_fields_and_a_seed_drawn_for_each_run(app, browser, tmp_path):
    add_workflow(app.data_dir, FORM_DEMO)
    image = tmp_path / "lake.png"
    scene_png(48, 32, LAKE, image)
    with new_context(browser) as context:
        page, tab = open_run_page(context, app.url)
        choose_image(page, "form-demo", image)
        assert page.eval_on_selector('[name="caption"]', "(e) => e.tagName") == "TEXTAREA"
        labels = options(page, "size", "textContent")
        assert labels == ["small", "medium", "large"] and value(page, "size") == "medium"
        randomize = page.locator('[data-randomize="seed"]')
        assert randomize.is_checked(), "a seed is drawn anew for each run unless the user unticks it"
        assert page.locator('label[for="field-p-seed-randomize"]').text_content() == "Randomize each run"
        page.fill('[name="caption"]', "harbour")
        page.select_option('select[name="size"]', "large")

        for count in (1, 2):
            page.click('[data-action="run"]')
            wait_cards(page, count, timeout=15_000)
        randomize.uncheck()
        page.fill('[name="seed"]', "42")
        page.click('[data-action="run"]')
        wait_cards(page, 3, timeout=15_000)

        jobs = sorted(api_json(page, f"{app.url}/api/jobs/?tab={tab}")["jobs"], key=lambda j: j["created_at"])
        seeds = [j["params"]["seed"] for j in jobs]
        assert seeds[0] != seeds[1] and all(0 <= s < 2**53 for s in seeds[:2]), seeds
        assert seeds[2] == 42
        assert {j["params"]["caption"] for j in jobs} == {"harbour"}
        assert {j["params"]["size"] for j in jobs} == {"large"}

        page.reload()
        wait_tab_id(page)
        page.select_option('select[name="workflow"]', "form-demo")
        restored = (value(page, "caption"), value(page, "size"), value(page, "seed"))
        assert restored == ("harbour", "large", "42")
        assert not page.locator('[data-randomize="seed"]').is_checked()


def test_run_waits_while_a_remembered_upload_is_checked(app, browser, tmp_path):
    """The remembered image is checked with the server before it is reused: Run is disabled
    meanwhile, so a press then cannot submit nothing and say nothing."""
    image = tmp_path / "lake.png"
    scene_png(120, 80, LAKE, image)
    with new_context(browser) as context:
        page, _ = open_run_page(context, app.url)
        choose_image(page, "blur", image)
        held = []
        page.route("**/files/uploads/**", lambda route: held.append(route))  # held until let go
        page.reload()
        wait_tab_id(page)
        page.select_option('select[name="workflow"]', "blur")
        wait_upload(page, "checking")
        while not held:
            page.wait_for_timeout(20)
        run = page.locator('[data-action="run"]')
        assert run.is_disabled(), "Run was offered while the upload was being checked"
        held[0].continue_()
        wait_upload(page)
        assert run.is_enabled()
