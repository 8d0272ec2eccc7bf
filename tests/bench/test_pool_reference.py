"""The clairvoyant reference of the pool benchmark: a schedule it finds is one that exists,
and it never beats the lower bound."""

from __future__ import annotations

import pytest

from bench.pool import CHECKPOINTS, HOLDS, SEEDS, lower_bound, workload
from bench.pool_reference import clairvoyant

A, B = "a", "b"


def test_two_models_on_two_servers_load_once_each():
    plan = [(0.0, 0, A), (0.0, 1, B), (0.0, 2, A), (0.0, 0, B)]
    # Each server takes one model: a load and two samplings, 3 + 2.
    assert clairvoyant(plan, [(A, B), (A, B)], load_s=3.0, sample_s=1.0)["workload_s"] == 5.0


def test_a_late_job_waits_for_its_arrival():
    plan = [(0.0, 0, A), (10.0, 0, A)]
    found = clairvoyant(plan, [(A,)], load_s=3.0, sample_s=1.0)
    assert found == {"workload_s": 11.0, "mean_result_s": 2.5}


def test_one_server_switching_pays_a_second_load():
    plan = [(0.0, 0, A), (0.0, 0, B)]
    assert clairvoyant(plan, [(A, B)], load_s=3.0, sample_s=1.0)["workload_s"] == 8.0


def test_a_model_nobody_holds_is_an_error():
    with pytest.raises(ValueError):
        clairvoyant([(0.0, 0, B)], [(A,)], load_s=3.0, sample_s=1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_never_below_the_lower_bound_on_the_bench_workload(seed):
    plan = workload(60, seed)
    holds = [[CHECKPOINTS[i] for i in held] for held in HOLDS]
    found = clairvoyant(plan, holds, load_s=3.0, sample_s=1.0)
    assert lower_bound(plan)["workload_s"] <= found["workload_s"] <= 1.25 * lower_bound(plan)["workload_s"]
