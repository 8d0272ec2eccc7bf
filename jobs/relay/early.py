"""A prompt's result files fetched as their node's `executed` frame comes (issue Y).

ComfyUI sends an output node's `executed` once the node has written its files, before the
prompt's last frames; completion used to fetch them (/view) only after the terminal frame,
and its turn in the prompt's chain of writes. Fetched on `executed`, a picture is usually in
hand by the time the prompt ends, and completion takes it from here instead of asking again.

A guess only: a fetch that failed, or a result completion does not ask for (the prompt
failed, /history told other files), is fetched again or dropped; what completion did not take
is closed when it is done with the prompt (`drop`). At most KEPT prompts have fetches here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from jobs.comfy import ComfyClient, HistoryEntry, OutputItem, TooLarge
from jobs.relay.completion import Fetched, fetch_file

log = logging.getLogger(__name__)

KEPT = 64  # prompts with results fetched ahead, per server

Key = tuple[str, int, str, str, str]  # node, index, filename, subfolder, type


def _key(item: OutputItem) -> Key:
    return (item.node_id, item.index, item.filename, item.subfolder, item.type)


class Fetching:
    """One prompt's results fetched ahead: completion takes them (completion.Ahead)."""

    def __init__(self) -> None:
        self.tasks: dict[Key, asyncio.Task[Fetched]] = {}

    async def take(self, item: OutputItem) -> Fetched | None:
        task = self.tasks.pop(_key(item), None)
        if task is None:
            return None
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                task.add_done_callback(_close_result)  # the caller was cancelled: nobody takes it
            raise
        except TooLarge:
            raise  # the caller refuses it; a second download would end the same way
        except Exception as error:  # fetched again by the caller, which reports its own error
            log.info("a result fetched ahead failed (%s); fetching it again", error)
            return None

    def drop(self) -> None:
        """What completion did not take: fetches stopped, parts closed."""
        tasks, self.tasks = self.tasks, {}
        for task in tasks.values():
            if task.done():
                _close_result(task)
            else:
                task.cancel()
                task.add_done_callback(_close_result)


def _close_result(task: asyncio.Task[Fetched]) -> None:
    if task.cancelled() or task.exception() is not None:
        return  # fetch_file closed its part
    part = task.result().part
    if part is not None:
        part.close()


class EarlyResults:
    """A watcher's prompts' results fetched ahead, by prompt id."""

    def __init__(self, client: ComfyClient, kept: int = KEPT) -> None:
        self.client = client
        self.kept = kept
        self._prompts: dict[str, Fetching] = {}

    def executed(self, pid: str, node_id: str, output: dict[str, Any]) -> None:
        """An output node reported its result: fetch its files now."""
        files = [
            i for i in HistoryEntry(pid, {node_id: output}, "success", True, []).results() if i.text is None
        ]
        fetching = self._prompts.get(pid)
        if fetching is None:
            if not files or len(self._prompts) >= self.kept:
                return  # completion fetches them, as it always could
            fetching = self._prompts[pid] = Fetching()
        for item in files:
            if _key(item) not in fetching.tasks:
                fetching.tasks[_key(item)] = asyncio.ensure_future(fetch_file(self.client, item))

    def pop(self, pid: str) -> Fetching | None:
        """The prompt's fetches, now the caller's (to take from, then drop)."""
        return self._prompts.pop(pid, None)

    def drop_all(self) -> None:
        for fetching in self._prompts.values():
            with contextlib.suppress(Exception):
                fetching.drop()
        self._prompts.clear()
