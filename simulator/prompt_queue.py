"""Pending heap, running job and in-memory history, as execution.PromptQueue.

Every change that the real queue reports through ``queue_updated`` calls ``notify``
(a status broadcast): put, get, task_done, a successful delete, and every wipe.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
from collections.abc import Awaitable, Callable
from typing import Any

MAXIMUM_HISTORY_SIZE = 10000

QueueItem = tuple[Any, ...]  # (number, prompt_id, prompt, extra_data, outputs_to_execute)


class PromptQueue:
    def __init__(self, notify: Callable[[], Awaitable[None]]) -> None:
        self.queue: list[QueueItem] = []
        self.running: dict[int, QueueItem] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.task_counter = 0
        self._notify = notify
        self._not_empty = asyncio.Event()

    async def put(self, item: QueueItem) -> None:
        heapq.heappush(self.queue, item)
        self._not_empty.set()
        await self._notify()

    async def get(self) -> tuple[QueueItem, int]:
        while not self.queue:
            self._not_empty.clear()
            await self._not_empty.wait()
        item = heapq.heappop(self.queue)
        task_id = self.task_counter
        self.running[task_id] = copy.deepcopy(item)
        self.task_counter += 1
        await self._notify()
        return item, task_id

    async def task_done(self, task_id: int, history_result: dict[str, Any], status: dict[str, Any]) -> None:
        """Store the history entry, then report the queue change (history before status)."""
        item = self.running.pop(task_id)
        if len(self.history) > MAXIMUM_HISTORY_SIZE:
            self.history.pop(next(iter(self.history)))
        # Assigning to an existing key keeps its position: prompt_id reuse replaces in place.
        self.history[item[1]] = {"prompt": list(item[:5]), "outputs": {}, "status": status}
        self.history[item[1]].update(history_result)
        await self._notify()

    def forget_running(self, task_id: int) -> None:
        """Drop a running job without history (the "lose_queue" fault, like a restart)."""
        self.running.pop(task_id, None)

    def remaining(self) -> int:
        return len(self.queue) + len(self.running)

    def current(self) -> tuple[list[QueueItem], list[QueueItem]]:
        return [item[:5] for item in self.running.values()], [item[:5] for item in self.queue]

    async def delete(self, prompt_id: Any) -> bool:
        for i, item in enumerate(self.queue):
            if item[1] == prompt_id:
                self.queue.pop(i)
                heapq.heapify(self.queue)
                await self._notify()
                return True
        return False

    async def wipe(self) -> None:
        self.queue = []
        await self._notify()

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        if prompt_id is not None:
            entry = self.history.get(prompt_id)
            return {} if entry is None else {prompt_id: copy.deepcopy(entry)}
        out: dict[str, Any] = {}
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        for i, key in enumerate(self.history):
            if i >= offset:
                out[key] = self.history[key]
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    def delete_history(self, prompt_id: Any) -> None:
        self.history.pop(prompt_id, None)

    def wipe_history(self) -> None:
        self.history = {}
