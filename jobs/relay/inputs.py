"""The inputs a watcher has uploaded to its server, by content name (issue Y).

An input is named by its bytes (`input_name`), so one already on the server need not be sent
again: not for a second job that uses it, and not for the job whose upload was sent ahead,
while the browser was still submitting it (jobs.core.handoff.uploaded). An entry is trusted
for a short while only, and forgotten when the socket closes or opens (the server may have
restarted, or its input folder been cleaned meanwhile); a failed upload is forgotten at once,
so the next job uploads the file itself.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable

FRESH_FOR = 60.0  # seconds an upload is trusted to still be on the server
KEPT = 256  # entries per server, the oldest dropped first


def input_name(stored: str, sha256: str) -> str:
    """The file name an input takes on ComfyUI: identical bytes dedupe on the server,
    different bytes never clash."""
    return f"comfyweb-{sha256[:24]}.{stored.rsplit('.', 1)[-1]}"


class SentInputs:
    def __init__(self, fresh_for: float = FRESH_FOR, kept: int = KEPT) -> None:
        self.fresh_for = fresh_for
        self.kept = kept
        # name → (when sent, the upload: the name to put in the prompt, LoadImage's value)
        self._sent: collections.OrderedDict[str, tuple[float, asyncio.Future[str]]] = (
            collections.OrderedDict()
        )

    def __contains__(self, name: str) -> bool:
        return self._fresh(name) is not None

    def send(self, name: str, upload: Callable[[], Awaitable[str]]) -> asyncio.Future[str]:
        """The upload of `name`: the one under way or done while fresh, else a new one."""
        found = self._fresh(name)
        if found is not None:
            return found
        task = asyncio.ensure_future(upload())
        self._sent[name] = (time.monotonic(), task)
        self._sent.move_to_end(name)
        while len(self._sent) > self.kept:
            self._sent.popitem(last=False)
        task.add_done_callback(lambda done: self._failed(name, done))
        return task

    async def value(self, name: str, upload: Callable[[], Awaitable[str]]) -> str:
        """The prompt's value for the input: from an upload sent before when it succeeded,
        else from a new one (its errors are the caller's)."""
        earlier = self._fresh(name)
        if earlier is not None:
            try:
                return await asyncio.shield(earlier)
            except asyncio.CancelledError:
                if not earlier.cancelled():
                    raise  # this caller was cancelled, not the upload
            except Exception:
                pass  # that one failed (and is forgotten): this job sends its own
        return await asyncio.shield(self.send(name, upload))

    def clear(self) -> None:
        """Forget every upload (a job awaiting one still gets it)."""
        self._sent.clear()

    def cancel(self) -> None:
        """Stop the uploads under way and forget everything (the watcher stops)."""
        for _, upload in self._sent.values():
            upload.cancel()
        self._sent.clear()

    def _fresh(self, name: str) -> asyncio.Future[str] | None:
        entry = self._sent.get(name)
        if entry is None:
            return None
        sent_at, upload = entry
        failed = upload.done() and (upload.cancelled() or upload.exception() is not None)
        if failed or time.monotonic() - sent_at > self.fresh_for:
            del self._sent[name]
            return None
        return upload

    def _failed(self, name: str, done: asyncio.Future[str]) -> None:
        if done.cancelled() or done.exception() is not None:  # also marks the error retrieved
            entry = self._sent.get(name)
            if entry is not None and entry[1] is done:
                del self._sent[name]
