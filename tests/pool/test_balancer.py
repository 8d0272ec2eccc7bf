"""The pool policy as plain functions: weights, draining, capabilities, limits, offline."""

from jobs.pool.balancer import ServerLoad, may_take_new_lock, pick_server
from jobs.pool.inventory import Inventory
from jobs.pool.requirements import Needs


def load(name, outstanding=0, **fields):
    return ServerLoad(id=hash(name) % 1000, name=name, outstanding=outstanding, **fields)


def test_no_candidates_means_no_server():
    assert pick_server([]) is None


def test_least_outstanding_wins():
    assert pick_server([load("a", 3), load("b", 1)]).name == "b"


def test_weight_scales_capacity():
    big, small = load("big", 3, weight=4.0), load("small", 1, weight=1.0)
    assert pick_server([big, small]).name == "big", "3/4 of a big server beats 1/1 of a small one"


def test_foreign_queue_counts_against_a_server():
    shared = load("shared", 0, queue_remaining=5)
    quiet = load("quiet", 1, queue_remaining=1)
    assert pick_server([shared, quiet]).name == "quiet"


def test_draining_offline_and_disabled_servers_take_no_new_lock():
    for server in (load("d", draining=True), load("o", online=False), load("x", enabled=False)):
        assert not may_take_new_lock(server)
    assert pick_server([load("d", draining=True), load("ok", 9)]).name == "ok"


def test_maximum_concurrency_is_honoured():
    full = load("full", 2, max_concurrent=2)
    assert not may_take_new_lock(full)
    assert pick_server([full, load("other", 5)]).name == "other"


def test_a_server_with_a_full_queue_takes_no_new_lock():
    assert pick_server([load("full", 2, max_queued=2)]) is None
    assert pick_server([load("full", 2, max_queued=2), load("room", 4, max_queued=8)]).name == "room"


def test_capabilities_route_workflows_to_servers_that_have_every_node():
    plain = load("plain", 0, inventory=Inventory(frozenset({"LoadImage", "SaveImage"})))
    rich = load("rich", 5, inventory=Inventory(frozenset({"LoadImage", "SaveImage", "SimSampler"})))
    unknown = load("unknown", 9, inventory=None)
    assert pick_server([plain, rich], Needs(frozenset({"LoadImage", "SimSampler"}))).name == "rich"
    assert pick_server([plain, unknown], Needs(frozenset({"SimSampler"}))).name == "unknown", (
        "unknown may have it"
    )


def test_model_files_route_jobs_and_an_unread_server_takes_no_job_that_needs_one():
    key = "CheckpointLoaderSimple.ckpt_name"
    classes = frozenset({"CheckpointLoaderSimple"})
    sd = load("sd", 0, inventory=Inventory(classes, {key: frozenset({"sd15.safetensors"})}))
    xl = load("xl", 7, inventory=Inventory(classes, {key: frozenset({"sdxl.safetensors"})}))
    unread = load("unread", 0, inventory=None)
    needs = Needs(classes, frozenset({(key, "sdxl.safetensors")}))
    assert pick_server([sd, xl, unread], needs).name == "xl"
    assert sd.lacking(needs) == ["sdxl.safetensors"] and not unread.fits(needs)
    assert pick_server([sd, xl], needs, avoid=frozenset({xl.id})) is None, "a reserved server is avoided"


def test_ties_are_broken_by_name():
    assert pick_server([load("b"), load("a")]).name == "a"
