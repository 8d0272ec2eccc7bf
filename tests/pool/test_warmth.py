"""Warm models (issue W): what the relay learns from run times, and what a job costs where.
The policy that uses them is tested in test_schedule.py."""

import pytest

from jobs.pool.balancer import ServerLoad
from jobs.pool.inventory import Inventory
from jobs.pool.requirements import Needs
from jobs.pool.warmth import DEFAULT_LOAD_SECONDS, Warmth, expected_start, learn, warmth_from_json

KEY = "CheckpointLoaderSimple.ckpt_name"
A, B = "a.safetensors", "b.safetensors"


def needs(*files):
    return Needs(frozenset({"CheckpointLoaderSimple"}), frozenset((KEY, f) for f in files))


def server(name, outstanding=0, warmth=None, max_queued=2, **fields):
    inventory = Inventory(frozenset({"CheckpointLoaderSimple"}), {KEY: frozenset({A, B})})
    return ServerLoad(
        id=hash(name) % 10_000,
        name=name,
        outstanding=outstanding,
        inventory=inventory,
        warmth=warmth,
        max_queued=max_queued,
        **fields,
    )


def test_a_warm_run_times_the_job_and_a_cold_run_then_times_the_load():
    first = learn(Warmth(), [A], run_seconds=4.0)  # load and work together: nothing to tell yet
    assert first.recent == (A,) and first.load_seconds == {} and first.job_seconds is None
    second = learn(first, [A], run_seconds=1.0)
    assert second.job_seconds == pytest.approx(1.0) and second.is_warm(A)
    third = learn(second, [B], run_seconds=4.0)
    assert third.recent == (B, A) and not third.is_warm(A), "with room for one, B pushed A out"
    assert third.load_seconds[B] == pytest.approx(3.0)


def test_a_file_believed_cold_that_ran_without_a_load_shows_room_for_more():
    warmth = learn(learn(learn(Warmth(), [A], 4.0), [A], 1.0), [B], 4.0)
    assert warmth.capacity == 1 and warmth.load_seconds == {B: pytest.approx(3.0)}
    again = learn(warmth, [A], run_seconds=1.05)  # A was still resident: VRAM holds two
    assert again.capacity == 2 and again.is_warm(A) and again.is_warm(B)


def test_the_stored_form_reads_back():
    warmth = learn(learn(Warmth(), [A], 4.0), [A], 1.0)
    assert warmth_from_json(warmth.to_json()) == warmth
    assert warmth_from_json(None) == Warmth() and warmth_from_json({"recent": 3}) == Warmth()


def test_expected_start_weighs_the_queue_against_the_load():
    warm = learn(learn(Warmth(), [A], 4.0), [A], 1.0)
    assert expected_start(warm, jobs_ahead=2, weight=1.0, files=[A]) == pytest.approx(2.0)
    assert expected_start(warm, jobs_ahead=0, weight=1.0, files=[B]) == DEFAULT_LOAD_SECONDS
    assert expected_start(None, jobs_ahead=0, weight=1.0, files=[A]) == DEFAULT_LOAD_SECONDS


def test_warmth_is_projected_past_the_work_already_placed():
    warm_a = learn(learn(Warmth(), [A], 4.0), [A], 1.0)
    later = warm_a.after([B])  # a job for B is queued there: a new job starts with B loaded
    assert later.warm() == (B,) and later.load_seconds == warm_a.load_seconds
    busy_with_b = server("s1", outstanding=1, warmth=later)
    cold = server("s2", outstanding=1, warmth=warm_a.after([B]))
    assert busy_with_b.expected_start(needs(A)) == cold.expected_start(needs(A))
