"""The ranking of `make profile` (bench/profile.py) over py-spy's raw stacks."""

from __future__ import annotations

from bench.profile import rank, render

RAW = [
    "main (manage.py:1);select (selectors.py:468) 50",
    "main (manage.py:1);hop (jobs/web/hot.py:150);execute (sqlite3/base.py:360) 30",
    "main (manage.py:1);hop (jobs/web/hot.py:150);save (storage/base.py:49) 10",
    "worker (thread.py:81);walk (jobs/core/sql.py:9);walk (jobs/core/sql.py:9) 10",
    "",
    "not a stack line",
]


def test_own_samples_count_the_innermost_frame() -> None:
    ranking = rank(RAW, top=10)
    assert ranking.total == 100
    assert ranking.own[:2] == [(50, "select (selectors.py:468)"), (30, "execute (sqlite3/base.py:360)")]


def test_inclusive_samples_list_comfyweb_frames_once_per_stack() -> None:
    ranking = rank(RAW, top=10)
    # The recursive walk counts its stack once; frames outside jobs/ and comfyweb/ are left out.
    assert ranking.inclusive == [(40, "hop (jobs/web/hot.py:150)"), (10, "walk (jobs/core/sql.py:9)")]


def test_top_bounds_both_tables_and_render_gives_shares() -> None:
    ranking = rank(RAW, top=1)
    assert len(ranking.own) == 1 and len(ranking.inclusive) == 1
    text = render(ranking)
    assert "100 samples" in text
    assert "    40  40.0 %  hop (jobs/web/hot.py:150)" in text
