"""jobs.core.ordering: a socket's numbered events, released in seq order whatever order they came in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jobs.core.ordering import InOrder


def drain(order: InOrder[int]) -> list[int]:
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
