"""Placement over the whole pool: refused naming the file, or waiting saying why."""

from jobs.pool.balancer import ServerLoad
from jobs.pool.inventory import Inventory
from jobs.pool.placement import judge, where_it_runs
from jobs.pool.requirements import Needs

CKPT = "CheckpointLoaderSimple.ckpt_name"
UNET = "UNETLoader.unet_name"
CLASSES = frozenset({"CheckpointLoaderSimple", "UNETLoader", "KSampler"})


def server(name, files=(), *, online=True, enabled=True, known=True, key=CKPT):
    inventory = Inventory(CLASSES, {key: frozenset(files)}) if known else None
    return ServerLoad(
        id=hash(name) % 10_000, name=name, outstanding=0, online=online, enabled=enabled, inventory=inventory
    )


def needs(*files, key=CKPT):
    return Needs(frozenset({"CheckpointLoaderSimple"}), frozenset((key, f) for f in files))


def test_a_job_runs_where_its_model_is():
    pool = [server("gpu-1", ["sd15.safetensors"]), server("gpu-2", ["flux1-dev.safetensors"])]
    verdict = judge(pool, needs("flux1-dev.safetensors"))
    assert not verdict.refused and verdict.waiting is None
    assert where_it_runs(pool, needs("flux1-dev.safetensors")) == (
        ["gpu-2"],
        {"gpu-1": ["flux1-dev.safetensors"]},
    )


def test_a_model_no_enabled_server_lists_is_refused_naming_the_file():
    pool = [server("gpu-1", ["sd15.safetensors"]), server("gpu-2", ["flux1-dev.safetensors"], online=False)]
    verdict = judge(pool, needs("sdxl.safetensors"))
    assert verdict.refusal == "No server in the pool has sdxl.safetensors."


def test_the_last_inventory_of_an_offline_server_counts_and_the_job_waits_for_it():
    pool = [server("gpu-1", ["sd15.safetensors"]), server("gpu-2", ["flux1-dev.safetensors"], online=False)]
    verdict = judge(pool, needs("flux1-dev.safetensors"))
    assert not verdict.refused
    message = "Waiting for a server with flux1-dev.safetensors: gpu-2 has it and is offline."
    assert verdict.waiting.message == message
    assert verdict.waiting.reason() == {
        "code": "no_capable_server_online",
        "message": verdict.waiting.message,
        "what": "flux1-dev.safetensors",
        "servers": ["gpu-2"],
        "state": "offline",
    }, "the words and their parts, for the page to say in the user's language"


def test_a_disabled_server_does_not_count():
    pool = [server("gpu-1", ["sd15.safetensors"]), server("gpu-2", ["flux1-dev.safetensors"], enabled=False)]
    assert (
        judge(pool, needs("flux1-dev.safetensors")).refusal
        == "No server in the pool has flux1-dev.safetensors."
    )


def test_a_server_never_read_might_have_it_so_the_job_waits():
    pool = [server("gpu-1", ["sd15.safetensors"]), server("gpu-3", known=False)]
    verdict = judge(pool, needs("flux1-dev.safetensors"))
    assert not verdict.refused
    assert verdict.waiting.message == (
        "Waiting for a server with flux1-dev.safetensors: the models of gpu-3 are not known yet."
    )


def test_parts_on_different_servers_but_never_together_are_refused_saying_what_each_lacks():
    pool = [server("gpu-1", ["a.safetensors"]), server("gpu-2", ["b.safetensors"])]
    verdict = judge(pool, needs("a.safetensors", "b.safetensors"))
    assert verdict.refusal == (
        "No server in the pool has everything this job needs: "
        "gpu-1 lacks b.safetensors; gpu-2 lacks a.safetensors."
    )


def test_the_same_file_name_under_another_input_is_not_the_same_model():
    pool = [server("gpu-1", ["flux1-dev.safetensors"], key=UNET)]
    assert judge(pool, needs("flux1-dev.safetensors")).refused
    assert not judge(pool, needs("flux1-dev.safetensors", key=UNET)).refused


def test_missing_node_classes_are_named_too():
    pool = [server("gpu-1", ["sd15.safetensors"])]
    verdict = judge(pool, Needs(frozenset({"KSampler", "FancyNode"})))
    assert verdict.refusal == "No server in the pool has the node FancyNode."


def test_jobs_with_no_model_keep_running_on_servers_whose_inventory_is_unknown():
    pool = [server("gpu-1", known=False)]
    assert judge(pool, Needs(frozenset({"KSampler"}))) == judge([], Needs())
    assert where_it_runs(pool, needs("x.safetensors")) == ([], {"gpu-1": ["its model list (not read yet)"]})


def test_an_empty_pool_refuses_nothing():
    assert not judge([], needs("x.safetensors")).refused
