from jobs.balancer import ServerLoad, pick_server


def test_no_candidates_means_no_server():
    assert pick_server([]) is None


def test_least_outstanding_wins():
    busy = ServerLoad(1, "a", outstanding=3)
    idle = ServerLoad(2, "b", outstanding=1)
    assert pick_server([busy, idle]) == idle


def test_tie_broken_by_server_queue_then_name():
    assert pick_server([ServerLoad(1, "b", 0, 2), ServerLoad(2, "a", 0, 5)]).id == 1
    assert pick_server([ServerLoad(1, "b", 0, 0), ServerLoad(2, "a", 0, 0)]).id == 2
