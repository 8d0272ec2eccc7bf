"""Django's database sessions, read in one plain SQL statement (issue Y).

Every request of a job (upload, submit, download, and each socket's connect) reads its
session; the ORM built that query anew each time. Writes, expiry and everything else are
Django's own (django.contrib.sessions.backends.db), so sessions stay in the database that
every web process shares.
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from jobs.core import sql


class SessionStore(DatabaseStore):
    def _get_session_from_db(self) -> Session | None:
        key = self.session_key
        found = sql.session_data(key, timezone.now()) if key else None
        if key is None or found is None:
            self._session_key = None
            return None
        return Session(session_key=key, session_data=found[0], expire_date=found[1])
