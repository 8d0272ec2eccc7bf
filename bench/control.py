"""Driving a run: the simulator's /_sim/ controls, and ComfyWeb tabs opened in bulk."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpx

from bench.clients import FINISHED, Session, Tab, distinct_png

T = TypeVar("T")


async def bounded(items: Iterable[Any], work: Callable[[Any], Awaitable[T]], concurrency: int) -> list[T]:
    """`work` over `items`, at most `concurrency` at once, results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> T:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done in {timeout} s")
        await asyncio.sleep(every)


# --- the simulator -----------------------------------------------------------------------------


class SimControl:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(base_url=url, timeout=30)

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.http.post(path, json=body or {})
        answer.raise_for_status()
        return answer.json()

    async def faults(self, **faults: Any) -> dict[str, Any]:
        return await self._post("/_sim/faults", faults)

    async def release(self) -> bool:
        return bool((await self._post("/_sim/release"))["released"])

    async def state(self) -> dict[str, Any]:
        return (await self.http.get("/_sim/state")).json()

    async def flood(self, client_id: str, prompt_ids: list[str], **options: Any) -> dict[str, Any]:
        return await self._post("/_sim/flood", {"client_id": client_id, "prompt_ids": prompt_ids, **options})

    async def floods(self) -> list[dict[str, Any]]:
        return (await self.http.get("/_sim/flood")).json()["floods"]

    async def wait_flood(self, client_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = [f for f in await self.floods() if f["client_id"] == client_id]
            if found and not found[0]["running"]:
                return found[0]
            if time.monotonic() > deadline:
                await self._post("/_sim/flood", {"stop": True})
                raise TimeoutError(f"flood to {client_id} still running after {timeout} s")
            await asyncio.sleep(0.1)

    async def wait_socket(self, client_id: str, timeout: float = 20) -> str:
        """The clientId of the socket named `client_id`, or the first that starts with it (a
        relay appends its own id to the server's client_id), once it is connected."""
        deadline = time.monotonic() + timeout
        while True:
            sockets = (await self.state())["sockets"]
            found = [s for s in sockets if s == client_id] or [s for s in sockets if s.startswith(client_id)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no socket {client_id}* on {self.url}")
            await asyncio.sleep(0.1)

    async def aclose(self) -> None:
        await self.http.aclose()


async def socket_counters(web_urls: list[str], token: str) -> dict[str, float]:
    """The web processes' socket counters (jobs.core.instruments), summed: numbered events
    that came early and waited at a socket, and fresh states sent for a lost one."""
    from prometheus_client.parser import text_string_to_metric_families

    names = {"comfyweb_socket_events_early_total": "early", "comfyweb_socket_refreshes_total": "refreshes"}
    found = dict.fromkeys(names.values(), 0.0)
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        for url in web_urls:
            answer = await http.get(f"{url}/metrics")
            answer.raise_for_status()
            for family in text_string_to_metric_families(answer.text):
                for sample in family.samples:
                    if sample.name in names:
                        found[names[sample.name]] += sample.value
    return found


# --- ComfyWeb tabs -----------------------------------------------------------------------------


class TabSet:
    """Sessions and tab sockets on one or more web processes (session i on web i mod n)."""

    def __init__(self, web_urls: list[str]) -> None:
        self.web_urls = web_urls
        self.sessions: list[Session] = []
        self.tabs: list[Tab] = []
        self.uploads: dict[int, str] = {}

    async def open(self, tabs: int, tabs_per_session: int, concurrency: int = 16) -> TabSet:
        sessions = -(-tabs // tabs_per_session)
        self.sessions = [Session(self.web_urls[i % len(self.web_urls)]) for i in range(sessions)]
        await bounded(self.sessions, lambda s: s.open(), concurrency)
        self.tabs = [
            Tab(session, session.base_url.replace("http://", "ws://"))
            for number in range(tabs)
            for session in [self.sessions[number // tabs_per_session]]
        ]
        await bounded(self.tabs, lambda t: t.connect(), concurrency)
        return self

    async def submit_one_each(self, image_base: int, concurrency: int = 16) -> list[str]:
        """One invert job per tab (one uploaded image per session); returns job ids in tab order."""

        async def upload(index: int) -> None:
            self.uploads[index] = await self.sessions[index].upload(distinct_png(image_base + index))

        await bounded(range(len(self.sessions)), upload, concurrency)
        index_of = {id(s): i for i, s in enumerate(self.sessions)}

        async def submit(tab: Tab) -> str:
            job = await tab.session.submit(tab.id, self.uploads[index_of[id(tab.session)]])
            return job["id"]

        return await bounded(self.tabs, submit, concurrency)

    def count(self, job_ids: list[str], statuses: tuple[str, ...]) -> int:
        return sum(
            1 for tab, job in zip(self.tabs, job_ids, strict=True) if tab.statuses.get(job) in statuses
        )

    async def wait_all(self, job_ids: list[str], statuses: tuple[str, ...], timeout: float) -> None:
        await wait_until(
            lambda: self.count(job_ids, statuses) == len(job_ids), timeout, f"jobs to reach {statuses}"
        )

    def state_report(self, job_ids: list[str]) -> dict[str, Any]:
        """Numbered state changes lost: seq gaps, plus jobs whose final state never arrived."""
        gaps = sum(tab.gaps for tab in self.tabs)
        missing = len(job_ids) - self.count(job_ids, FINISHED)
        not_succeeded = len(job_ids) - self.count(job_ids, ("succeeded",))
        troubled = [
            {"tab": tab.id, "status": tab.statuses.get(job), "numbered": tab.numbered}
            for tab, job in zip(self.tabs, job_ids, strict=True)
            if tab.gaps or tab.out_of_order or tab.statuses.get(job) not in FINISHED
        ]
        return {
            "seq_gaps": gaps,
            "final_state_missing": missing,
            "not_succeeded": not_succeeded,
            "out_of_order": sum(tab.out_of_order for tab in self.tabs),
            "sockets_closed": sum(1 for tab in self.tabs if tab.closed_early),
            # Fresh snapshots the server sent unasked: an event missing past the socket's
            # wait (jobs.core.ordering). Nothing was lost for the page, but one was for the layer.
            "refreshed": sum(
                max(0, sum(1 for _, what in tab.numbered if what == "snapshot") - 1) for tab in self.tabs
            ),
            "lost": gaps + missing,
            "examples": troubled[:3],  # what such tabs received, to tell a reorder from a loss
        }

    async def close(self, concurrency: int = 64) -> None:
        await bounded(self.tabs, lambda t: t.close(), concurrency)
        await bounded(self.sessions, lambda s: s.aclose(), concurrency)
