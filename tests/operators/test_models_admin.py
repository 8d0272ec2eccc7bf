"""Operators see the pool's models: each server's model files (admin page, list, dashboard),
where each workflow can run, and what it needs; "refresh" re-reads a server's inventory."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from jobs.core import events, locks, servers
from jobs.core.models import Server, Workflow
from jobs.operators import dashboard
from jobs.pool.inventory import parse_object_info
from tests.factories import make_server
from tests.paths import OBJECT_INFO

pytestmark = pytest.mark.django_db

SERVERS = "/admin/jobs/server/"
WORKFLOWS = "/admin/jobs/workflow/"
FLUX = "flux1-dev.safetensors"
UNET = "UNETLoader.unet_name"
GRAPH = {
    "1": {"class_type": "UNETLoader", "inputs": {"unet_name": FLUX, "weight_dtype": "default"}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
}
CLASSES = ["UNETLoader", "SaveImage"]


@pytest.fixture
def nudges(monkeypatch):
    sent = []
    monkeypatch.setattr(events, "nudge_relay_sync", lambda reason, **data: sent.append((reason, data)))
    monkeypatch.setattr(dashboard, "notify_sync", lambda: None)
    return sent


@pytest.fixture
def real_server():
    """A server whose inventory is the one a real ComfyUI 0.3.64 reported."""
    server = make_server("gpu-real")
    info = json.loads((OBJECT_INFO / "0.3.64.object_info.json").read_text())
    assert servers.record_inventory(server.id, parse_object_info(info))
    server.refresh_from_db()
    return server


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --------------------------------------------------------------------------- servers


def test_the_server_page_lists_its_model_files_by_kind(staff, real_server):
    page = staff.get(reverse("admin:jobs_server_change", args=[real_server.id])).content.decode()
    assert "Model files (read by the relay from /object_info)" in page
    assert (
        "<b>Checkpoints</b> (CheckpointLoader.ckpt_name, CheckpointLoaderSimple.ckpt_name, "
        "ImageOnlyCheckpointLoader.ckpt_name, unCLIPCheckpointLoader.ckpt_name): "
        "sd_xl_base_1.0.safetensors, sub/nested.safetensors, v1-5-pruned-emaonly-fp16.safetensors"
    ) in page
    assert f"<b>Diffusion models</b> ({UNET}): {FLUX}" in page
    upscale = "<b>Upscale models</b> (UpscaleModelLoader.model_name): RealESRGAN_x2.pth, broken-empty.pth"
    assert upscale in page
    assert "<b>Style models</b>" not in page, "a kind the server holds no file of is left out"
    when = timezone.localtime(real_server.inventory_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f"11 model file(s); read or last changed {when}" in page
    assert "LoadImage.image" not in page, "upload lists are no models"


def test_a_server_never_read_says_so(staff):
    server = make_server("gpu-new")
    page = staff.get(reverse("admin:jobs_server_change", args=[server.id])).content.decode()
    assert page.count("not read yet") == 2  # the summary and the list


def test_the_server_list_counts_model_files(staff, real_server):
    make_server("gpu-new")
    response = staff.get(SERVERS)
    page = response.content.decode()
    assert "model files" in page.lower()
    assert '<td class="field-model_count">11</td>' in page
    assert '<td class="field-model_count">–</td>' in page


def test_the_refresh_action_asks_the_relay_to_reread_each_server(staff, nudges):
    chosen = [make_server("gpu1"), make_server("gpu2")]
    make_server("gpu3")
    data = {"action": "refresh", "_selected_action": [s.id for s in chosen]}
    response = staff.post(SERVERS, data, follow=True)
    assert sorted(nudges, key=lambda n: n[1]["server"]) == [("refresh", {"server": s.id}) for s in chosen]
    [message] = messages_of(response)
    assert message == "Asked the relay to re-read the node classes and model files of gpu1, gpu2."
    page = staff.get(SERVERS).content.decode()
    assert "Refresh: re-read node classes and model files (/object_info) now" in page


def test_the_refresh_button_on_the_server_page(staff, nudges):
    server = make_server("gpu1")
    change = reverse("admin:jobs_server_change", args=[server.id])
    refresh = reverse("admin:jobs_server_refresh", args=[server.id])
    assert f'action="{refresh}"' in staff.get(change).content.decode()
    assert staff.get(refresh).status_code == 302 and nudges == [], "only a POST refreshes"
    response = staff.post(refresh, follow=True)
    assert response.redirect_chain[-1][0] == change
    assert nudges == [("refresh", {"server": server.id})]
    assert "re-read gpu1's node classes and model files" in messages_of(response)[0]


def test_non_staff_cannot_refresh(client, plain_user, nudges):
    server = make_server("gpu1")
    client.force_login(plain_user)
    response = client.post(reverse("admin:jobs_server_refresh", args=[server.id]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"] and nudges == []


# --------------------------------------------------------------------------- the dashboard


def test_the_dashboard_snapshot_has_each_servers_model_files_in_brief(staff):
    at = timezone.now()
    make_server("gpu1", node_classes=CLASSES, model_files={UNET: [FLUX], "VAELoader.vae_name": ["ae.sft"]})
    Server.objects.filter(name="gpu1").update(inventory_at=at)
    many = [f"lora-{n:03}.safetensors" for n in range(dashboard.MAX_MODEL_NAMES + 5)]
    make_server("gpu2", node_classes=CLASSES, model_files={"LoraLoader.lora_name": many})
    make_server("gpu3")
    snapshot = json.loads(staff.get("/admin/pool/snapshot.json").content)
    by_name = {s["name"]: s["models"] for s in snapshot["servers"]}
    assert by_name["gpu1"] == {"count": 2, "names": ["ae.sft", FLUX], "more": 0, "at": at.isoformat()}
    assert by_name["gpu2"]["count"] == len(many)
    assert by_name["gpu2"]["names"] == many[: dashboard.MAX_MODEL_NAMES] and by_name["gpu2"]["more"] == 5
    assert by_name["gpu3"] == {"count": None, "names": [], "more": 0, "at": None}
    page = staff.get("/admin/pool/").content.decode()
    assert '<th title="Model files its /object_info lists">models</th>' in page


# --------------------------------------------------------------------------- workflows


def pool_of_three() -> None:
    make_server("gpu-1", node_classes=CLASSES, model_files={UNET: [FLUX]})
    make_server("gpu-2", node_classes=CLASSES, model_files={UNET: ["flux1-schnell.safetensors"]})
    make_server("gpu-3", node_classes=CLASSES, model_files={UNET: [FLUX, "flux1-schnell.safetensors"]})


def test_the_workflow_page_says_where_it_runs_and_what_it_needs(staff):
    pool_of_three()
    workflow = Workflow.objects.create(slug="flux", name="Flux", graph=GRAPH, params=[])
    page = staff.get(reverse("admin:jobs_workflow_change", args=[workflow.pk])).content.decode()
    assert f"runs on gpu-1, gpu-3; gpu-2 lacks {FLUX}" in page
    assert "<dt>Node classes</dt><dd>SaveImage, UNETLoader</dd>" in page
    assert f"<dt>Model files</dt><dd>{FLUX} ({UNET}, node 1)</dd>" in page
    assert "<dt>Model parameters</dt><dd>none</dd>" in page


def test_the_workflow_list_says_where_each_runs(staff, monkeypatch):
    pool_of_three()
    reads = []
    real = locks.server_loads
    monkeypatch.setattr(locks, "server_loads", lambda **kw: reads.append(kw) or real(**kw))
    Workflow.objects.create(slug="flux", name="Flux", graph=GRAPH, params=[])
    graph = json.loads(json.dumps(GRAPH))
    graph["1"]["inputs"]["unet_name"] = "sd3.safetensors"
    Workflow.objects.create(slug="sd3", name="SD3", graph=graph, params=[])
    page = staff.get(WORKFLOWS).content.decode()
    assert "where it runs" in page.lower()
    assert f"runs on gpu-1, gpu-3; gpu-2 lacks {FLUX}" in page
    assert (
        "runs on no server: gpu-1 lacks sd3.safetensors; gpu-2 lacks sd3.safetensors; "
        "gpu-3 lacks sd3.safetensors"
    ) in page
    assert reads == [{"for_update": False}], "the pool is read once per page, not once per row"


def test_a_model_parameter_counts_with_its_default(staff):
    pool_of_three()
    params = [
        {
            "name": "diffusion_model",
            "type": "choice",
            "node": "1",
            "input": "unet_name",
            "default": "flux1-schnell.safetensors",
            "choices": [FLUX, "flux1-schnell.safetensors"],
        }
    ]
    workflow = Workflow.objects.create(slug="flux", name="Flux", graph=GRAPH, params=params)
    page = staff.get(reverse("admin:jobs_workflow_change", args=[workflow.pk])).content.decode()
    assert "runs on gpu-2, gpu-3; gpu-1 lacks flux1-schnell.safetensors" in page
    assert f"<dt>Model parameters</dt><dd>diffusion_model chooses a {UNET} file</dd>" in page
    assert "<dt>Model files</dt><dd>none</dd>" in page


def test_with_no_enabled_server_a_workflow_runs_nowhere(staff):
    make_server("gpu-1", node_classes=CLASSES, model_files={UNET: [FLUX]}, enabled=False)
    workflow = Workflow.objects.create(slug="flux", name="Flux", graph=GRAPH, params=[])
    page = staff.get(reverse("admin:jobs_workflow_change", args=[workflow.pk])).content.decode()
    assert "runs on no server: the pool has no enabled server" in page
    assert staff.get(reverse("admin:jobs_workflow_add")).status_code == 200


def test_the_dashboard_snapshot_has_each_servers_warm_models_and_load_times(staff):
    from jobs.pool.warmth import Warmth, learn

    warmth = learn(learn(learn(Warmth(), [FLUX], 4.0), [FLUX], 1.0), ["sd15.safetensors"], 3.5)
    make_server("gpu1", node_classes=CLASSES, warmth=warmth.to_json())
    make_server("gpu2")
    snapshot = json.loads(staff.get("/admin/pool/snapshot.json").content)
    by_name = {s["name"]: s["warm"] for s in snapshot["servers"]}
    assert by_name["gpu1"] == {
        "models": ["sd15.safetensors"],
        "loads": {"sd15.safetensors": 2.5},
        "job_seconds": 1.0,
    }
    assert by_name["gpu2"] == {"models": [], "loads": {}, "job_seconds": None}
