"""`manage.py serve` on a taken port stops at once with a clear error (Daphne alone would only
log its listen failure and keep the process, its simulators and its relay running)."""

from __future__ import annotations

import socket

import pytest
from django.core.management import CommandError, call_command


def test_a_taken_port_is_refused_before_anything_starts():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"127.0.0.1:{port}.*already running"):
            call_command("serve", "--host", "127.0.0.1", "--port", str(port), "--simulators", "0")
