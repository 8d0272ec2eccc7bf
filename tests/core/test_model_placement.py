"""Jobs go only where their model files are: refusals, waiting reasons, lock moves (DB side)."""

import pytest

from jobs.core import attempts, servers, service
from jobs.core.builtin_workflows import txt2img_graph
from jobs.core.errors import ServiceError
from jobs.core.models import Attempt, Job, Server, Tab, Workflow
from jobs.pool.inventory import Inventory
from tests.factories import make_server, make_tab

pytestmark = pytest.mark.django_db

CKPT = "CheckpointLoaderSimple.ckpt_name"
CLASSES = [
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "KSampler",
    "VAEDecode",
    "SaveImage",
]


def graph(ckpt):
    return txt2img_graph(ckpt, 64, "x")


def gpu(name, *files, **fields):
    return make_server(name, node_classes=CLASSES, model_files={CKPT: list(files)}, **fields)


def workflow(slug, ckpt, params=()):
    return Workflow.objects.create(slug=slug, name=slug, graph=graph(ckpt), params=list(params))


def submit(session, tab, slug, **params):
    job, _ = service.submit_job(session, tab.id, slug, params)
    return job


def test_each_job_lands_on_the_server_that_has_its_model(alice):
    sd, flux = gpu("gpu-1", "sd15.safetensors"), gpu("gpu-2", "flux1-dev.safetensors")
    workflow("sd", "sd15.safetensors")
    workflow("flux", "flux1-dev.safetensors")
    for slug, server in (("sd", sd), ("flux", flux), ("sd", sd), ("flux", flux)):
        ticket, _ = attempts.start_attempt(submit(alice, make_tab(alice), slug).id)
        assert ticket is not None and ticket.server_id == server.id, slug


def test_a_model_no_server_lists_is_refused_at_submission_naming_the_file(alice):
    gpu("gpu-1", "sd15.safetensors")
    gpu("gpu-2", "flux1-dev.safetensors", status="offline")  # its last inventory counts
    workflow("xl", "sdxl.safetensors")
    with pytest.raises(ServiceError) as refused:
        submit(alice, make_tab(alice), "xl")
    assert refused.value.code == "no_capable_server" and refused.value.status == 400
    assert refused.value.message == "No server in the pool has sdxl.safetensors."
    assert not Job.objects.exists()


def test_a_model_only_an_offline_server_has_waits_and_says_so_without_holding_others_up(alice, bob):
    gpu("gpu-1", "sd15.safetensors")
    gpu("gpu-2", "flux1-dev.safetensors", status="offline")
    workflow("flux", "flux1-dev.safetensors")
    workflow("sd", "sd15.safetensors")
    job = submit(alice, make_tab(alice), "flux")
    with pytest.raises(attempts.WaitForRoom) as wait:
        attempts.start_attempt(job.id)
    assert wait.value.reason["code"] == "no_capable_server_online"
    assert wait.value.reason["message"] == (
        "Waiting for a server with flux1-dev.safetensors: gpu-2 has it and is offline."
    )
    assert wait.value.reserves == frozenset(), "it waits for no slot another job could take"
    assert attempts.start_attempt(submit(bob, make_tab(bob), "sd").id)[0] is not None


def test_a_model_on_a_server_never_read_waits_rather_than_being_refused(alice):
    gpu("gpu-1", "sd15.safetensors")
    make_server("gpu-3")  # connected, /object_info not read yet
    workflow("flux", "flux1-dev.safetensors")
    job = submit(alice, make_tab(alice), "flux")
    with pytest.raises(attempts.WaitForRoom) as wait:
        attempts.start_attempt(job.id)
    assert "the models of gpu-3 are not known yet" in wait.value.reason["message"]


def test_a_tab_with_nothing_on_its_server_moves_its_lock_to_the_server_with_the_model(alice):
    sd, flux = gpu("gpu-1", "sd15.safetensors"), gpu("gpu-2", "flux1-dev.safetensors")
    workflow("sd", "sd15.safetensors")
    workflow("flux", "flux1-dev.safetensors")
    tab = make_tab(alice)
    first = submit(alice, tab, "sd")
    attempts.start_attempt(first.id)
    Tab.objects.filter(id=tab.id).update(server=sd)  # the lock outlives a finished job (SPEC §2.3)
    attempts.finish(first.id, 1, "succeeded")
    Tab.objects.filter(id=tab.id).update(server=sd)
    ticket, found = attempts.start_attempt(submit(alice, tab, "flux").id)
    assert ticket.server_id == flux.id and Tab.objects.get(id=tab.id).server_id == flux.id
    locks = [payload["lock"] for _, payload in found if payload["type"] == "lock.updated"]
    assert locks[0] is None and locks[-1]["server"] == "gpu-2", "released, then taken on gpu-2"


def test_a_tab_with_a_job_on_its_server_waits_for_it_then_moves(alice):
    sd, flux = gpu("gpu-1", "sd15.safetensors"), gpu("gpu-2", "flux1-dev.safetensors")
    workflow("sd", "sd15.safetensors")
    workflow("flux", "flux1-dev.safetensors")
    tab = make_tab(alice)
    running = submit(alice, tab, "sd")
    attempts.start_attempt(running.id)
    attempts.mark_running(running.id, 1)
    waiting = submit(alice, tab, "flux")
    with pytest.raises(attempts.WaitForRoom) as wait:
        attempts.start_attempt(waiting.id)
    assert wait.value.reason["code"] == "tab_busy" and wait.value.reserves == frozenset()
    assert wait.value.reason["message"] == (
        "Waiting for this tab's jobs on gpu-1 to finish: gpu-1 lacks flux1-dev.safetensors."
    )
    assert Tab.objects.get(id=tab.id).server_id == sd.id, "never bound to two servers at once"
    attempts.finish(running.id, 1, "succeeded")
    ticket, _ = attempts.start_attempt(waiting.id)
    assert ticket.server_id == flux.id and Tab.objects.get(id=tab.id).server_id == flux.id


def test_a_model_parameter_offers_the_pools_files_and_its_choice_joins_the_jobs_needs(alice):
    gpu("gpu-1", "sd15.safetensors", "shared.safetensors")
    flux = gpu("gpu-2", "flux1-dev.safetensors", "shared.safetensors")
    gpu("gpu-9", "secret.safetensors", enabled=False)
    param = {
        "name": "model",
        "type": "choice",
        "node": "4",
        "input": "ckpt_name",
        "choices": ["sd15.safetensors"],
    }
    workflow("pick", "sd15.safetensors", [{**param, "default": "sd15.safetensors"}])
    from jobs.web.api import workflow_list

    listed = next(w for w in workflow_list() if w["slug"] == "pick")["params"][0]
    assert listed["choices"] == ["flux1-dev.safetensors", "sd15.safetensors", "shared.safetensors"]
    assert "node" not in listed and "model" not in listed
    job = submit(alice, make_tab(alice), "pick", model="flux1-dev.safetensors")
    assert attempts.start_attempt(job.id)[0].server_id == flux.id
    with pytest.raises(ServiceError) as refused:
        submit(alice, make_tab(alice), "pick", model="secret.safetensors")
    assert refused.value.field == "model" and "secret.safetensors" in refused.value.message


def test_a_job_that_ran_on_a_server_lacking_its_model_is_placed_again_without_spending_an_attempt(alice):
    stale = gpu("gpu-1", "flux1-dev.safetensors")
    workflow("flux", "flux1-dev.safetensors")
    tab = make_tab(alice)
    job = submit(alice, tab, "flux")
    attempts.start_attempt(job.id)
    attempts.mark_running(job.id, 1)
    servers.forget_model(stale.id, CKPT, "flux1-dev.safetensors")
    found = attempts.unbind(job.id, 1, ran=True)
    job.refresh_from_db()
    assert job.status == "pending" and job.server_id is None and job.attempt == 0
    assert not Attempt.objects.filter(job=job).exists()
    assert Tab.objects.get(id=tab.id).server_id is None
    assert [payload["type"] for _, payload in found] == ["job.updated", "lock.updated"]
    with pytest.raises(ServiceError):  # the pool no longer lists it anywhere
        submit(alice, tab, "flux")


def test_an_inventory_refresh_that_changes_nothing_writes_nothing(alice):
    server = gpu("gpu-1", "sd15.safetensors")
    same = Inventory(frozenset(CLASSES), {CKPT: frozenset({"sd15.safetensors"})})
    Server.objects.filter(id=server.id).update(inventory_at=None)
    assert not servers.record_inventory(server.id, same)
    assert Server.objects.get(id=server.id).inventory_at is None, "no write"
    more = Inventory(frozenset(CLASSES), {CKPT: frozenset({"sd15.safetensors", "new.safetensors"})})
    assert servers.record_inventory(server.id, more)
    assert Server.objects.get(id=server.id).model_files == {CKPT: ["new.safetensors", "sd15.safetensors"]}
