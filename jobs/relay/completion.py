"""Finishing a prompt: read the outcome from /history, store the outputs, end the attempt.
A success whose every frame the relay saw needs no /history: its `executed` frames said it.

Used after the terminal `executing` frame and by reconciliation alike; safe to run twice for
the same attempt (outputs are stored under fixed names and finishing is conditional).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from jobs.comfy import ComfyClient, HistoryEntry, OutputItem, TooLarge
from jobs.core import attempts, events, instruments, storage
from jobs.core.models import JobStatus
from jobs.media import detect
from jobs.relay import misplaced

if TYPE_CHECKING:
    from jobs.relay.tracking import Tracked

log = logging.getLogger(__name__)
db = database_sync_to_async

HISTORY_WAITS = (0, 0.1, 0.3, 1.0, 2.0)
TakeMoves = Callable[[], "attempts.Moves | None"]


async def complete(
    client: ComfyClient,
    tracked: Tracked,
    server_name: str,
    on_missing_model: Callable[[Tracked, list[misplaced.Missing]], Awaitable[bool]] | None = None,
    take_moves: TakeMoves = lambda: None,
    ahead: Ahead | None = None,
) -> bool:
    """End the tracked attempt from the server's records; False when there is no entry yet.

    `on_missing_model`: the prompt failed because the server lacks a model file; True when
    it placed the job again (jobs.relay.misplaced), and the attempt is not ended here.
    `take_moves`: the attempt's moves not written yet ("queued", "running"), taken in the
    database thread as the end is written and written in its transaction before it.
    `ahead`: results fetched while the prompt ran (jobs.relay.early), used instead of a
    fetch of their own.
    """
    pid = tracked.prompt_id
    entry = tracked.told_whole()
    for wait in HISTORY_WAITS if entry is None else ():
        await asyncio.sleep(wait)
        entry = await client.get_history(pid)
        if entry is not None:
            break
    if entry is None:
        log.warning("no history yet for finished prompt %s on %s", pid, server_name)
        return False
    outcome = tracked.outcome or entry.outcome
    if outcome == "success":
        try:
            async with fetched(client, entry, ahead) as results:
                result = await _store_and_finish(tracked, results, take_moves)
        except OutputRefused as refused:
            failure = {"code": "output_too_large", "message": str(refused), "node": None}
            result = await db(_ended)(tracked, take_moves, JobStatus.FAILED, error=failure)
    elif outcome == "interrupted":
        cancelled = {"code": "cancelled", "message": "Cancelled while running.", "node": None}
        result = await db(_ended)(tracked, take_moves, JobStatus.CANCELLED, error=cancelled)
    else:
        missing = misplaced.in_execution_error(entry.error_message)
        if missing and on_missing_model is not None and await on_missing_model(tracked, missing):
            return True
        error = tracked.error or history_error(entry)
        result = await db(_ended)(tracked, take_moves, JobStatus.FAILED, error=error)
    if result:
        instruments.completed(time.monotonic() - tracked.terminal_at if tracked.terminal_at else None)
    await events.publish(result)
    return True


class OutputRefused(Exception):
    """A result ComfyWeb will not store (larger than COMFYWEB_MAX_OUTPUT_BYTES): the job fails
    with this message rather than keep a part of it."""


@dataclass
class Fetched:
    """A result read from the server, not stored yet: a file's bytes in `part` (in memory up
    to IN_MEMORY_BYTES, spilled to a temporary file beyond), or a text (no part)."""

    item: OutputItem
    part: IO[bytes] | None = None
    size: int = 0

    @property
    def in_memory(self) -> bool:
        return self.part is None or self.size <= IN_MEMORY_BYTES


class Ahead(Protocol):
    """Results fetched before the prompt ended (jobs.relay.early.Fetching)."""

    async def take(self, item: OutputItem) -> Fetched | None:
        """The item's result, now the caller's to close; None when it must be fetched.
        Raises TooLarge as a fetch would."""
        ...


@contextlib.asynccontextmanager
async def fetched(
    client: ComfyClient, entry: HistoryEntry, ahead: Ahead | None = None
) -> AsyncIterator[list[Fetched]]:
    """Every result of the entry: each file streamed from the attempt's own server (/view),
    never whole in memory beyond IN_MEMORY_BYTES, or taken from `ahead`; the parts are gone
    on leaving."""
    results: list[Fetched] = []
    with contextlib.ExitStack() as parts:
        for item in entry.results():
            if item.text is not None:
                results.append(Fetched(item))
                continue
            try:
                result = await ahead.take(item) if ahead is not None else None
                result = result or await fetch_file(client, item)
            except TooLarge:
                limit = settings.COMFYWEB_MAX_OUTPUT_BYTES
                raise OutputRefused(
                    f"The result {item.filename} is larger than COMFYWEB_MAX_OUTPUT_BYTES "
                    f"({limit / 1e6:,.0f} MB), so it was not kept."
                ) from None
            assert result.part is not None
            parts.enter_context(result.part)
            results.append(result)
        yield results


async def fetch_file(client: ComfyClient, item: OutputItem) -> Fetched:
    """One result file from the server; its part closed again if that fails (TooLarge past
    COMFYWEB_MAX_OUTPUT_BYTES, ComfyError, cancelled)."""
    part = tempfile.SpooledTemporaryFile(IN_MEMORY_BYTES, prefix="comfyweb-output-")  # noqa: SIM115  # the caller's
    try:
        limit = settings.COMFYWEB_MAX_OUTPUT_BYTES
        size = await client.view_to(part, item.filename, item.subfolder, item.type, limit=limit)
    except BaseException:
        part.close()
        raise
    return Fetched(item, part, size)


def store(job_id: uuid.UUID, results: list[Fetched]) -> list[attempts.StoredOutput]:
    """The fetched results into storage, each with what its bytes say it is (blocking: a
    worker thread's)."""
    return [_store(job_id, r.item, r.part, r.size) if r.part is not None else _text(r.item) for r in results]


async def _store_and_finish(
    tracked: Tracked, results: list[Fetched], take_moves: TakeMoves
) -> list[events.Event]:
    """Store the results, then end the attempt as a success. Results held in memory (a
    picture, a short clip) are stored in the finish's own trip to the database thread, one
    trip less on every job's path to its result (issue Y); a bigger file is stored in a
    worker thread first, so that reading a long video never holds up the database thread."""
    if all(r.in_memory for r in results):
        return await db(_stored_then_ended)(tracked, take_moves, results)
    outputs = await asyncio.to_thread(store, tracked.job_id, results)
    return await db(_ended)(tracked, take_moves, JobStatus.SUCCEEDED, outputs=outputs)


def _stored_then_ended(tracked: Tracked, take_moves: TakeMoves, results: list[Fetched]) -> list[events.Event]:
    outputs = store(tracked.job_id, results)  # before the transaction: no file is written holding it
    return _ended(tracked, take_moves, JobStatus.SUCCEEDED, outputs=outputs)


def _ended(tracked: Tracked, take_moves: TakeMoves, status: str, **end: Any) -> list[events.Event]:
    """In the database thread: the attempt's moves not written yet, then its end."""
    return attempts.finish(tracked.job_id, tracked.attempt, status, moves=take_moves(), **end)


# A result up to this size is held in memory between its download and its storage, bigger
# ones spill to a temporary file: a picture then costs no file of its own to create, write,
# read twice and delete (issue Y), and a video is still never whole in memory.
IN_MEMORY_BYTES = 4 * 1024 * 1024


TEXT_LIMIT = 100_000  # characters of a text result kept


def _text(item: OutputItem) -> attempts.StoredOutput:
    text = (item.text or "")[:TEXT_LIMIT]
    return attempts.StoredOutput(
        node_id=item.node_id,
        index=item.index,
        file="",
        filename=f"{item.node_id}_{item.index}.txt",
        kind="output",
        content_type="text/plain; charset=utf-8",
        width=None,
        height=None,
        media="text",
        size=len(text.encode()),
        text=text,
    )


def _store(job_id: uuid.UUID, item: OutputItem, part: IO[bytes], size: int) -> attempts.StoredOutput:
    """What the file is, from its bytes, and the file into storage (in a worker thread)."""
    info = detect.describe(part, item.filename)
    name = storage.save_output_file(job_id, item.node_id, item.index, part, info.extension)
    return attempts.StoredOutput(
        node_id=item.node_id,
        index=item.index,
        file=name,
        filename=item.filename,
        kind=item.type,
        content_type=info.content_type,
        width=info.width,
        height=info.height,
        media=info.media,
        duration=info.duration,
        size=size,
    )


def history_error(entry: HistoryEntry) -> dict[str, Any]:
    message = entry.error_message or {}
    if message:
        return {
            "code": "execution_error",
            "message": f"Node {message.get('node_id')} ({message.get('node_type')}) failed: "
            f"{message.get('exception_type')}: {message.get('exception_message')}",
            "node": message.get("node_id"),
        }
    return {"code": "execution_error", "message": "The server reported an error.", "node": None}
