"""Freshness of a server's status and the trust of a server that failed (jobs.pool.trust)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.pool.trust import GOOD_IN_A_ROW, UNKNOWN, Trust, effective_status

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=5)
EARLIER = NOW - timedelta(seconds=1)


def test_a_status_written_by_the_lease_holder_is_believed():
    assert effective_status("online", "relay-a:1", "relay-a:1", LATER, NOW) == "online"
    assert effective_status("offline", "relay-a:1", "relay-a:1", LATER, NOW) == "offline"


def test_a_status_left_by_an_earlier_process_is_unknown():
    # Same relay id, another process: the holder string differs.
    assert effective_status("online", "relay-a:1", "relay-a:2", LATER, NOW) == UNKNOWN


def test_a_status_whose_lease_expired_is_unknown():
    assert effective_status("online", "relay-a:1", "relay-a:1", EARLIER, NOW) == UNKNOWN
    assert effective_status("online", "relay-a:1", "relay-a:1", NOW, NOW) == UNKNOWN


def test_a_status_with_no_lease_or_no_writer_is_unknown():
    assert effective_status("online", "relay-a:1", None, None, NOW) == UNKNOWN
    assert effective_status("online", "", "relay-a:1", LATER, NOW) == UNKNOWN


def test_a_server_never_seen_failing_is_trusted_at_once():
    trust = Trust()
    assert trust.answered() is True


def test_a_server_that_failed_is_trusted_only_after_several_answers_in_a_row():
    trust = Trust()
    trust.answered()
    assert trust.failed() is True  # it was trusted: a flap
    verdicts = [trust.answered() for _ in range(GOOD_IN_A_ROW)]
    assert verdicts == [False] * (GOOD_IN_A_ROW - 1) + [True]


def test_a_failure_inside_the_streak_starts_it_again():
    trust = Trust()
    trust.failed()  # unreachable from the start: not a flap, it was never trusted
    trust.answered()
    trust.answered()
    assert trust.failed() is False
    assert [trust.answered() for _ in range(GOOD_IN_A_ROW)][-1] is True


def test_a_first_failure_of_a_server_never_trusted_is_not_a_flap():
    trust = Trust()
    assert trust.failed() is False
    assert trust.answered() is False
