"""A server's queued load (jobs.core.locks._projected): the models its last placed job needs
and it did not have warm; the plan counts it in when that server is free (issue W)."""

from jobs.core.locks import _projected
from jobs.pool.warmth import DEFAULT_LOAD_SECONDS, Warmth

KEY = "CheckpointLoaderSimple.ckpt_name"


def placed(*files):
    return {"nodes": ["CheckpointLoaderSimple"], "models": [[KEY, f] for f in files]}


def test_the_last_placed_jobs_cold_model_is_a_load_ahead_and_a_warm_one_is_not():
    warm_a = Warmth(recent=("a",), load_seconds={"a": 2.0, "b": 5.0})
    assert _projected(warm_a, placed("b"))[1] == 5.0
    assert _projected(warm_a, placed("a"))[1] == 0.0
    assert _projected(warm_a, None) == (warm_a, 0.0), "nothing placed there"
    assert _projected(None, placed("b"))[1] == DEFAULT_LOAD_SECONDS, "a server that never ran a job"
    assert _projected(warm_a, placed("b"))[0].warm() == ("b",), "the next job starts with b loaded"
