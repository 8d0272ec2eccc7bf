"""The warm-model policy (issue W, jobs.pool.schedule): the trade between a warm server's queue
and a load elsewhere, gathering on a busy pool, switching when a backlog pays for a load, and
the fair order kept within each model."""

import uuid

from jobs.pool.balancer import UNPLANNED, ServerLoad, pick_server
from jobs.pool.inventory import Inventory
from jobs.pool.requirements import Needs
from jobs.pool.schedule import WINDOW, Queued, plan
from jobs.pool.warmth import Warmth

KEY = "CheckpointLoaderSimple.ckpt_name"
A, B, C = "a.safetensors", "b.safetensors", "c.safetensors"


def needs(*files):
    return Needs(frozenset({"CheckpointLoaderSimple"}), frozenset((KEY, f) for f in files))


def warm(*files, job=1.0, load=3.0):
    return Warmth(recent=files, load_seconds={f: load for f in (A, B, C)}, job_seconds=job)


def server(name, outstanding=0, warmth=None, max_queued=2, holds=(A, B, C), **fields):
    inventory = Inventory(frozenset({"CheckpointLoaderSimple"}), {KEY: frozenset(holds)})
    return ServerLoad(
        id=sum(map(ord, name)),
        name=name,
        outstanding=outstanding,
        inventory=inventory,
        warmth=warmth,
        max_queued=max_queued,
        **fields,
    )


def jobs(*files):
    return [Queued(uuid.uuid4(), needs(f)) for f in files]


def placed(servers, queued):
    """Server name per job, in the order given (None: it waits)."""
    names = {s.id: s.name for s in servers}
    targets = plan(servers, queued)
    return [names.get(targets[q.job_id]) if q.job_id in targets else "left out" for q in queued]


def test_one_job_waits_for_the_busy_warm_server_rather_than_load_its_model_elsewhere():
    busy = server("warm", outstanding=2, warmth=warm(A))  # full: 2 s of work ahead < 3 s load
    idle = server("cold", warmth=warm(B))
    assert placed([busy, idle], jobs(A)) == [None]


def test_a_long_queue_on_the_warm_server_outweighs_the_load_elsewhere():
    swamped = server("warm", outstanding=6, max_queued=10, warmth=warm(A))  # 6 s ahead > 3 s load
    idle = server("cold", warmth=warm(B))
    assert placed([swamped, idle], jobs(A)) == ["cold"]


def test_a_free_warm_server_takes_its_model_and_a_free_cold_one_the_other():
    pool = [server("s1", warmth=warm(A)), server("s2", warmth=warm(B))]
    assert placed(pool, jobs(B, A)) == ["s2", "s1"]


def test_jobs_for_one_model_gather_where_it_is_warm_instead_of_loading_it_everywhere():
    pool = [server("warm", warmth=warm(A)), server("other", warmth=warm(B), outstanding=1)]
    # Two A jobs: the warm server takes both (room 2); the other server would load A for
    # nothing, since the warm one is through them sooner.
    assert placed(pool, jobs(A, A, A)) == ["warm", "warm", None]


def test_a_backlog_that_outlasts_a_load_brings_in_a_second_server():
    pool = [server("warm", warmth=warm(A)), server("other", warmth=warm(B))]
    # Twelve A jobs take 12 s on one server: loading A (3 s) on the other pays.
    result = placed(pool, jobs(*[A] * 12))
    assert result[:4].count("warm") == 2 and result[:4].count("other") == 2
    assert result[4:] == [None] * 8


def test_a_server_keeps_its_model_while_it_has_work_unless_another_backlog_pays_for_a_switch():
    pool = [server("s1", warmth=warm(A)), server("s2", warmth=warm(B))]
    # One B job behind A jobs: s2 serves B; s1 stays on A.
    assert placed(pool, jobs(A, A, B)) == ["s1", "s1", "s2"]


def test_a_model_no_server_has_warm_is_taken_up_by_the_soonest_free_server():
    pool = [server("s1", warmth=warm(A), outstanding=1), server("s2", warmth=warm(B))]
    assert placed(pool, jobs(C)) == ["s2"]


def test_within_a_model_the_fair_order_holds():
    pool = [server("s1", warmth=warm(A), max_queued=1)]
    queued = jobs(A, A, A)
    assert placed(pool, queued) == ["s1", None, None], "the first in the fair order goes first"


def test_only_servers_that_hold_the_model_are_planned_and_jobs_nobody_can_run_are_left_out():
    pool = [server("ab", holds=(A, B), warmth=warm(A)), server("bc", holds=(B, C), warmth=warm(B))]
    assert placed(pool, jobs(C, "z.safetensors")) == ["bc", "left out"]


def test_offline_and_draining_servers_get_nothing():
    pool = [server("down", online=False, warmth=warm(A)), server("drain", draining=True, warmth=warm(A))]
    assert placed(pool, jobs(A)) == ["left out"]


def test_jobs_of_locked_tabs_count_on_their_server_and_are_not_placed():
    pool = [server("s1", warmth=warm(A)), server("s2", warmth=warm(A))]
    locked = Queued(uuid.uuid4(), needs(B), locked=pool[0].id)  # s1 will have B loaded
    free = jobs(A)
    targets = plan(pool, [locked, *free])
    assert locked.job_id not in targets and targets[free[0].job_id] == pool[1].id


def test_jobs_beyond_the_window_wait():
    pool = [server("s1", warmth=warm(A))]
    queued = jobs(*[A] * (WINDOW + 3))
    targets = plan(pool, queued)
    assert all(targets[q.job_id] is None for q in queued[WINDOW:])


def test_no_model_set_starves_behind_a_server_that_alone_serves_another():
    # s1 alone serves A and could run C, which no server has warm. While A jobs keep coming
    # s1 stays on A; once the C job has waited three loads (9 s), s1 loads C for it.
    pool = [server("s1", warmth=warm(A), max_queued=1, holds=(A, C))]
    fresh = [Queued(uuid.uuid4(), needs(C), waited=5.0), *jobs(*[A] * 10)]
    assert placed(pool, fresh)[:2] == [None, "s1"]
    old = [Queued(uuid.uuid4(), needs(C), waited=10.0), *jobs(*[A] * 10)]
    assert placed(pool, old)[:2] == ["s1", None]


def test_pick_server_follows_the_plan():
    pool = [server("s1", warmth=warm(A)), server("s2", warmth=warm(B), outstanding=2)]
    assert pick_server(pool, needs(A), planned=pool[0].id).name == "s1"
    assert pick_server(pool, needs(A), planned=None) is None, "planned to wait"
    assert pick_server(pool, needs(A), planned=pool[1].id) is None, "its server is full now"
    assert pick_server(pool, needs(A), planned=UNPLANNED).name == "s1", "the plain score"


def test_a_load_waits_for_the_burst_to_settle_but_a_warm_server_with_room_takes_a_job_at_once():
    pool = [server("warm", warmth=warm(A)), server("cold", warmth=warm(B))]
    young = [Queued(uuid.uuid4(), needs(C), waited=0.1), Queued(uuid.uuid4(), needs(A), waited=0.1)]
    targets = plan(pool, young, settle=0.3)
    assert targets[young[0].job_id] is None, "no server loads C for a job of a burst still arriving"
    assert targets[young[1].job_id] == pool[0].id, "A is warm with room: no wait"
    settled = [Queued(uuid.uuid4(), needs(C), waited=0.4)]
    assert plan(pool, settled, settle=0.3)[settled[0].job_id] is not None


def test_a_job_waits_for_a_full_warm_server_rather_than_queue_behind_a_load_elsewhere():
    # "loading" has A coming (its last placed job loads it: 3 s) and room in its queue;
    # "full" has A warm and 2 s of work. The A job waits for "full" (done in 3 s), not
    # behind the load (done in 5 s): the end of the bench's pool workload, seen in a run.
    full = server("full", outstanding=2, warmth=warm(A))
    loading = server("loading", outstanding=1, max_queued=3, warmth=warm(A, B), loading=3.0)
    assert placed([full, loading], jobs(A)) == [None]
    # Without the load ahead of it, "loading" would be as soon as "full" and take the job.
    assert placed([full, server("loading", outstanding=1, max_queued=3, warmth=warm(A, B))], jobs(A)) == [
        "loading"
    ]
    # A backlog "full" alone would not get through first still goes behind the load.
    assert placed([full, loading], jobs(*[A] * 4))[0] == "loading"


def test_a_server_with_a_load_queued_is_free_that_much_later():
    assert server("s", outstanding=1, warmth=warm(A), loading=3.0).expected_start(needs(A)) == 4.0
    assert server("s", outstanding=1, warmth=warm(A)).expected_start(needs(A)) == 1.0


def test_servers_with_the_same_model_warm_never_all_wait_for_each_other():
    # Two free servers with A warm and one A job: one of them takes it (neither defers to
    # the other for ever). Three with different paces and queues: still one takes it.
    pool = [server("s1", warmth=warm(A)), server("s2", warmth=warm(A))]
    assert placed(pool, jobs(A)) == ["s1"]
    pool = [
        server("a", outstanding=0, max_queued=3, warmth=warm(A, job=2.0)),
        server("b", outstanding=1, max_queued=3, warmth=warm(A, job=1.0)),
        server("c", outstanding=1, max_queued=3, warmth=warm(A, job=0.9), weight=1.1),
    ]
    for backlog in (1, 2, 5):
        assert None not in placed(pool, jobs(*[A] * backlog))[:1], backlog


def test_while_every_server_has_room_some_waiting_job_is_placed():
    """Liveness over random pools: a server never waits for another that waits for it."""
    import random

    rng = random.Random(20261202)
    for _ in range(500):
        pool = []
        for number in range(rng.randint(1, 5)):
            depth = rng.randint(1, 4)
            pool.append(
                server(
                    f"s{number}",
                    outstanding=rng.randint(0, depth - 1),
                    max_queued=depth,
                    warmth=warm(rng.choice([A, B, C]), job=rng.choice([0.5, 1.0, 1.03, 2.0])),
                    weight=rng.choice([1.0, 1.5]),
                    loading=rng.choice([0.0, 0.0, 3.0]),
                )
            )
        queued = jobs(*[rng.choice([A, B, C]) for _ in range(rng.randint(1, 8))])
        assert any(placed(pool, queued)), (pool, queued)
