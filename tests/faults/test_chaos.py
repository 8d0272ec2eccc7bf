"""A pool with dead, stale or flapping servers loses no job: two minutes of seeded chaos
(tests/faults/chaos.py) against three simulators and one ComfyWeb process, all real."""

from __future__ import annotations

import pytest

from tests.faults.chaos import KINDS, Config, run

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("chaos")]

SEED = 1  # `make soak SOAK_ARGS="--minutes 2 --fault-rate 8 --seed 1"` runs the same schedule


@pytest.mark.timeout(420)
def test_two_minutes_of_faults_lose_double_and_misroute_nothing(tmp_path):
    print(f"chaos seed {SEED}")
    report = run(Config(minutes=2, fault_rate=8, seed=SEED, data_dir=tmp_path))
    print(report.summary())
    assert report.problems() == {}, report.summary()
    assert report.succeeded >= 50, report.summary()
    assert not report.fault_errors, report.summary()
    assert all(report.faults[kind] >= 1 for kind in KINDS), report.summary()
