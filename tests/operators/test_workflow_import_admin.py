"""The admin's "Import from ComfyUI (API format)": upload, review the proposals, save."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs.core.models import Workflow
from jobs.management.simulators import free_port
from jobs.operators import importer
from jobs.operators.importer_admin import param_to_initial
from tests.factories import make_server
from tests.operators.conftest import simulator_in_thread
from tests.paths import WORKFLOWS

pytestmark = pytest.mark.django_db

IMPORT = "/admin/jobs/workflow/import/"


def upload(client, slug: str, **fields):
    data = (WORKFLOWS / f"{slug}.api.json").read_bytes()
    file = SimpleUploadedFile(f"{slug}.api.json", data, content_type="application/json")
    return client.post(IMPORT, {"step": "analyze", "file": file, **fields})


def review_post(analysis: importer.Analysis, step: str = "save", edit=None, **fields) -> dict:
    """What the review page posts back: the form as proposed, with `edit(index, row)` applied."""
    rows = [param_to_initial(p) for p in analysis.proposals]
    if edit:
        for index, row in enumerate(rows):
            edit(index, row)
    data = {
        "step": step,
        "name": "Blur and scale",
        "slug": "blur-scale",
        "description": "",
        "graph": json.dumps(analysis.graph),
        "notes": "[]",
        "p-TOTAL_FORMS": str(len(rows)),
        "p-INITIAL_FORMS": str(len(rows)),
        "p-MIN_NUM_FORMS": "0",
        "p-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            if key == "include":
                if value:
                    data[f"p-{index}-include"] = "on"
            elif value is not None:
                data[f"p-{index}-{key}"] = str(value)
    return data


def test_the_workflow_list_links_to_the_importer(staff):
    page = staff.get("/admin/jobs/workflow/").content.decode()
    assert f'href="{IMPORT}"' in page and "Import from ComfyUI (API format)" in page
    assert staff.get(IMPORT).status_code == 200


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("missing-custom-node", "Node 2 has no class_type: a custom node that is not installed?"),
    ],
)
def test_a_broken_export_is_refused_with_its_reason(staff, slug, message):
    response = upload(staff, slug)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'data-role="review-form"' not in response.content.decode()


def test_the_editor_format_and_non_json_are_refused(staff):
    ui = json.dumps({"last_node_id": 3, "nodes": [], "links": [], "version": 0.4})
    page = staff.post(IMPORT, {"step": "analyze", "text": ui}).content.decode()
    assert "This is the editor format" in page and "Export (API)" in page
    page = staff.post(IMPORT, {"step": "analyze", "text": "hello"}).content.decode()
    assert "This is not JSON" in page
    page = staff.post(IMPORT, {"step": "analyze"}).content.decode()
    assert "Choose a file or paste the JSON" in page


CHECKPOINT = "v1-5-pruned-emaonly-fp16.safetensors"
CKPT = "CheckpointLoaderSimple.ckpt_name"
NO_CHECKPOINT = (
    f"{CHECKPOINT} ({CKPT}) is on no server yet: jobs of this workflow will be refused until a server has it."
)


def test_review_shows_proposals_server_check_and_the_users_form(staff, sim_server):
    response = upload(staff, "default-txt2img", server=sim_server.id)
    page = response.content.decode()
    assert 'data-role="review-form"' in page
    assert "Types and bounds from sim-op&#x27;s /object_info" in page
    # The simulator has every node class of the graph, but not its checkpoint: a warning, no refusal.
    assert "lacks" not in page
    assert f'<p class="import-note is-warning" data-role="note">{NO_CHECKPOINT}</p>' in page
    proposals = [f.initial["name"] for f in response.context["formset"]]
    assert proposals[:3] == ["positive", "negative", "seed"]
    preview = response.context["preview"]
    assert [p["name"] for p in preview][:3] == ["positive", "negative", "seed"]
    assert '<div class="field field-text" data-param="positive">' in page
    assert '<div class="field field-seed" data-param="seed">' in page
    assert 'data-param="denoise"' not in page, "unticked proposals are not in the users' form"


def test_import_with_edits_saves_the_workflow(staff, sim_server):
    response = upload(staff, "core-blur-scale", server=sim_server.id)
    assert response.status_code == 200
    assert "lacks" not in response.content.decode(), "the simulator has every core node"
    analysis = importer.analyze((WORKFLOWS / "core-blur-scale.api.json").read_bytes())

    def edit(index, row):
        if row["name"] == "sigma":
            row["include"] = False  # dropped
        if row["name"] == "blur_radius":
            row.update(label="Blur", default="5", max="20")
        if row["name"] == "upscale_method":
            row["choices"] = "nearest-exact\nbicubic"

    response = staff.post(IMPORT, review_post(analysis, edit=edit))
    workflow = Workflow.objects.get(slug="blur-scale")
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:jobs_workflow_change", args=[workflow.pk]
    )
    assert workflow.graph == analysis.graph
    by_name = {p["name"]: p for p in workflow.params}
    assert set(by_name) == {"image", "blur_radius", "scale_by", "upscale_method"}
    assert by_name["image"] == {
        "name": "image",
        "type": "image",
        "node": "1",
        "input": "image",
        "label": "Image",
    }
    assert by_name["blur_radius"] == {
        "name": "blur_radius",
        "type": "int",
        "node": "2",
        "input": "blur_radius",
        "label": "Blur",
        "default": 5,
        "min": 1,
        "max": 20,
        "step": 1,
    }
    assert by_name["upscale_method"]["choices"] == ["nearest-exact", "bicubic"]
    assert by_name["scale_by"]["default"] == 0.5 and by_name["scale_by"]["type"] == "float"


def test_preview_step_rerenders_without_saving(staff):
    analysis = importer.analyze((WORKFLOWS / "core-blur-scale.api.json").read_bytes())
    data = review_post(analysis, step="preview", edit=lambda i, row: row.update(label=f"L{i}"))
    response = staff.post(IMPORT, data)
    assert response.status_code == 200 and not Workflow.objects.filter(slug="blur-scale").exists()
    assert [p["label"] for p in response.context["preview"]] == [f"L{i}" for i in range(5)]


def test_bad_edits_are_shown_and_nothing_is_saved(staff):
    analysis = importer.analyze((WORKFLOWS / "core-blur-scale.api.json").read_bytes())

    def edit(index, row):
        if row["name"] == "blur_radius":
            row["default"] = "lots"
        if row["name"] == "sigma":
            row["name"] = "scale_by"  # clashes with another parameter

    page = staff.post(IMPORT, review_post(analysis, edit=edit)).content.decode()
    assert "blur_radius: the default &#x27;lots&#x27; is not a number" in page
    assert not Workflow.objects.filter(slug="blur-scale").exists()
    page = staff.post(
        IMPORT, review_post(analysis, edit=lambda i, r: r["name"] == "sigma" and r.update(name="scale_by"))
    )
    assert "scale_by: two parameters have this name." in page.content.decode()
    assert not Workflow.objects.filter(slug="blur-scale").exists()


def test_a_taken_slug_is_refused(staff):
    analysis = importer.analyze((WORKFLOWS / "core-invert.api.json").read_bytes())
    page = staff.post(IMPORT, review_post(analysis, slug="invert")).content.decode()
    assert "A workflow with slug &#x27;invert&#x27; exists already." in page


def test_a_silent_server_falls_back_to_the_classes_it_reported_last(staff):
    server = make_server(
        "gpu1", url=f"http://127.0.0.1:{free_port()}", node_classes=["LoadImage", "SaveImage"]
    )
    page = upload(staff, "core-invert", server=server.id).content.decode()
    assert "gpu1 did not answer" in page and "checked against the classes it reported last" in page
    assert "Server gpu1 lacks: ImageInvert" in page


def test_non_staff_cannot_import(client, plain_user):
    client.force_login(plain_user)
    response = client.get(IMPORT)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_no_model_warning_when_the_chosen_server_holds_the_checkpoint(staff):
    with simulator_in_thread("sim-ckpt", models=[f"checkpoints/{CHECKPOINT}"]) as url:
        server = make_server("sim-ckpt", url=url)
        page = upload(staff, "default-txt2img", server=server.id).content.decode()
    assert "Types and bounds from sim-ckpt" in page
    assert "on no server" not in page and "lacks" not in page


def test_the_model_warning_reads_every_enabled_servers_last_inventory(staff):
    make_server("gpu1", node_classes=["KSampler"], model_files={CKPT: ["other.safetensors"]})
    page = upload(staff, "default-txt2img").content.decode()
    assert NO_CHECKPOINT in page
    make_server("gpu2", node_classes=["KSampler"], model_files={CKPT: [CHECKPOINT]}, enabled=False)
    assert NO_CHECKPOINT in upload(staff, "default-txt2img").content.decode(), "a disabled server counts not"
    make_server("gpu3", node_classes=["KSampler"], model_files={CKPT: [CHECKPOINT]})
    assert "on no server" not in upload(staff, "default-txt2img").content.decode()


def test_a_model_input_is_proposed_unticked_with_the_pools_files_as_choices(staff):
    make_server("gpu1", node_classes=[], model_files={CKPT: ["b.safetensors", "a.safetensors"]})
    make_server("gpu2", node_classes=[], model_files={CKPT: ["c.safetensors", CHECKPOINT]})
    make_server("off", node_classes=[], model_files={CKPT: ["hidden.safetensors"]}, enabled=False)
    response = upload(staff, "default-txt2img")
    [row] = [f.initial for f in response.context["formset"] if f.initial["input"] == "ckpt_name"]
    assert row["include"] is False and row["type"] == "choice" and row["name"] == "checkpoint"
    assert row["label"] == "Checkpoint" and row["default"] == CHECKPOINT
    assert row["choices"].splitlines() == [CHECKPOINT, "a.safetensors", "b.safetensors", "c.safetensors"]
    assert "a model file (CheckpointLoaderSimple.ckpt_name)" in row["where"]
    assert "on no server" not in response.content.decode()


def test_a_ticked_model_parameter_joins_the_jobs_needs(staff):
    make_server("gpu1", node_classes=[], model_files={CKPT: [CHECKPOINT, "a.safetensors"]})
    analysis = importer.analyze((WORKFLOWS / "default-txt2img.api.json").read_bytes())

    def edit(index, row):
        if row["input"] == "ckpt_name":
            row.update(include=True, choices=f"{CHECKPOINT}\na.safetensors")

    response = staff.post(IMPORT, review_post(analysis, edit=edit, slug="txt2img-models"))
    assert response.status_code == 302, response.content.decode()[:3000]
    workflow = Workflow.objects.get(slug="txt2img-models")
    [checkpoint] = [p for p in workflow.params if p["input"] == "ckpt_name"]
    assert checkpoint["name"] == "checkpoint" and checkpoint["default"] == CHECKPOINT
    assert workflow.requirements["param_models"] == {"checkpoint": CKPT}
    assert workflow.requirements["models"] == [], "the chosen file is the job's, not the workflow's"
