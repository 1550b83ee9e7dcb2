"""One reader of `org_version` per process for every open event stream.

An event stream (`GET /api/events/{org}`) waits until its organization's data version or the
access version moves, then reads what happened. However many dashboards are open, a process
reads the versions once per `events_poll_seconds`, and only while someone is waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence

import anyio.to_thread

from dpo.api.access import versions_of
from dpo.storage.db import ready_engine

log = logging.getLogger(__name__)

Versions = tuple[int, int]  # (access version, the organization's data version)


class VersionWatch:
    """Wakes the streams whose organization's versions differ from what they last saw."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._watched: Counter[int] = Counter()
        self._found: dict[int, Versions] = {}
        self._tick: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def changed(self, org_id: int, seen: Versions) -> Versions:
        """The organization's versions, once they differ from `seen`."""
        self._watched[org_id] += 1
        try:
            while (found := self._found.get(org_id)) is None or found == seen:
                if self._task is None:
                    self._task = asyncio.create_task(self._run(), name="dpo version watch")
                if self._tick is None:
                    self._tick = asyncio.Event()
                await self._tick.wait()
            return found
        finally:
            self._watched[org_id] -= 1
            if self._watched[org_id] <= 0:
                del self._watched[org_id]
                self._found.pop(org_id, None)

    async def _run(self) -> None:
        try:
            while self._watched:
                orgs = list(self._watched)
                try:
                    self._found.update(await anyio.to_thread.run_sync(read_versions, orgs))
                except Exception as exc:  # the database is away: the streams wait, and retry
                    log.warning("could not read org_version: %s", exc)
                tick, self._tick = self._tick, None
                if tick is not None:
                    tick.set()
                await asyncio.sleep(self.interval)
        finally:
            self._task = None


def read_versions(orgs: Sequence[int]) -> dict[int, Versions]:
    """The versions of some organizations, in one query."""
    with ready_engine().connect() as conn:
        return versions_of(conn, orgs)
