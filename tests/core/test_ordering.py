"""jobs.core.ordering: a socket's numbered events, released in seq order whatever order they came in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jobs.core.ordering import InOrder


def drain(order: InOrder) -> list:
    out = []
    while (item := order.next()) is not None:
        out.append(item)
    return out


def test_an_early_event_waits_for_the_one_before_it():
    order: InOrder[int] = InOrder(0)
    order.offer(2, 2)
    assert drain(order) == [] and order.gap
    order.offer(1, 1)
    assert drain(order) == [1, 2] and not order.gap and order.current == 2


def test_stale_and_repeated_events_are_dropped():
    order: InOrder[int] = InOrder(5)
    order.offer(5, 5)
    order.offer(3, 3)
    assert drain(order) == [] and not order.gap
    order.offer(6, 6)
    order.offer(6, 60)  # the same seq twice: the first one counts
    assert drain(order) == [6]


def test_a_fresh_state_drops_what_it_covers_and_lets_the_rest_go_in_order():
    order: InOrder[int] = InOrder(0)
    for seq in (3, 5, 6):
        order.offer(seq, seq)
    order.hold()
    order.offer(1, 1)
    assert drain(order) == [], "nothing is released while the state is read"
    order.restart(4)  # the state read is current to seq 4: 1 and 3 are in it
    assert drain(order) == [5, 6] and order.current == 6 and not order.gap


def test_a_failed_read_keeps_the_gap_and_releases_again():
    order: InOrder[int] = InOrder(0)
    order.offer(2, 2)
    order.hold()
    order.restart(None)
    assert order.gap and not order.held and order.current == 0
    order.offer(1, 1)
    assert drain(order) == [1, 2]


@given(st.permutations(list(range(1, 30))), st.integers(0, 29))
def test_any_arrival_order_is_released_as_numbered(arrival, start):
    order: InOrder[int] = InOrder(start)
    out = []
    for seq in arrival:
        order.offer(seq, seq)
        out.extend(drain(order))
    assert out == list(range(start + 1, 30))
    assert not order.gap


def test_an_unnumbered_event_keeps_its_place_behind_the_numbered_ones_before_it():
    order: InOrder[str] = InOrder(1)
    order.offer(None, "progress now")  # nothing held: it goes at once
    assert drain(order) == ["progress now"]
    order.offer(3, "queued")  # 2 (bound) is late
    order.offer(None, "place in the queue")  # published after "queued"
    assert drain(order) == [], "a queue place before its job is queued would be dropped"
    order.offer(2, "bound")
    order.offer(None, "progress")
    assert drain(order) == ["bound", "queued", "place in the queue", "progress"]


def test_unnumbered_events_held_over_a_fresh_state_follow_it():
    order: InOrder[str] = InOrder(0)
    order.offer(2, "two")
    order.offer(None, "progress")
    order.hold()
    order.restart(2)  # the state read has 1 and 2
    assert drain(order) == ["progress"] and not order.gap


def test_unnumbered_events_held_behind_a_lasting_gap_are_bounded(monkeypatch):
    from jobs.core import ordering

    monkeypatch.setattr(ordering, "BEHIND_MAX", 3)
    order: InOrder[str] = InOrder(0)
    order.offer(2, "two")
    for n in range(5):
        order.offer(None, f"progress {n}")
    order.offer(1, "one")
    assert drain(order) == ["one", "two", "progress 2", "progress 3", "progress 4"]
