"""`make run`'s processes end with what started them.

A `make run` stopped with SIGTERM (a supervisor, an IDE's stop button, `kill` of make) stops
make alone: make does not pass the signal on, so the server and its simulators lived on,
holding the ports for the next run. Ctrl-C signals the whole process group and was fine.
So the server stops itself once its parent is gone, and each built-in simulator is told by
the kernel to stop when the server goes, even if the server was killed outright.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def stop_when_parent_exits(parent: int, interval: float = 0.5) -> None:
    """SIGTERM to this process (a clean shutdown: Daphne's handler, then atexit) once
    `parent` (its parent when it started: read that early, it may be gone by now) is no
    longer its parent. Not for init or a container's first process (1), which outlives it."""
    if parent == 1:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def die_with_parent() -> None:
    """For subprocess.Popen's preexec_fn: the child gets SIGTERM when the process that
    started it ends (Linux; elsewhere the server's atexit alone stops it)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
