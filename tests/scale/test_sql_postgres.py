"""The hot path's plain SQL (jobs.core.sql) on a real PostgreSQL, as on SQLite: a job from
submission to a stored result, each step checked against the ORM (tests/scale/sql_lifecycle.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.live import REPO
from tests.services import postgres_server

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("scale")]


def test_a_job_life_in_plain_sql_on_postgresql(tmp_path):
    with postgres_server() as database_url:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "COMFYWEB_DATA_DIR": str(tmp_path),
            # As deployed: without DEBUG's query log, the statements run on the driver's own
            # cursor (jobs.core.sql.executed), not Django's.
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        }
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput"], cwd=REPO, env=env, check=True, capture_output=True)
        code = "from tests.scale.sql_lifecycle import main; main()"
        done = subprocess.run(
            [*manage, "shell", "-c", code], cwd=REPO, env=env, capture_output=True, text=True
        )
    assert done.returncode == 0 and "LIFECYCLE OK" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]
