"""`GET /api/events/{org}`: what happened to an organization's data, as it happens (SSE).

The stream first says `ready` (its `id` is where it starts), then one event per change: `sync`
(a source's sync ended), `rollups` (rollups brought up to date), `insight` (raised, reopened,
updated, acknowledged or resolved), `goal` (created, updated, removed, put at risk or out of
it). Each event's `id` is its place in the organization's order; a client coming back sends it
as `Last-Event-ID` and gets what it missed, or `reset` when that is older than what is kept
(7 days): then it should read everything again. The stream ends when its token stops being
valid for the organization (revoked, expired, its organization removed).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from sse_starlette import EventSourceResponse, ServerSentEvent

from dpo.api.access import Access
from dpo.api.deps import Credentials
from dpo.api.errors import responses
from dpo.api.events import VersionWatch
from dpo.errors import DpoError, InvalidInputError
from dpo.storage import events
from dpo.storage.db import ready_engine
from dpo.storage.models import utcnow

router = APIRouter(prefix="/api/events", tags=["events"])

RECHECK = timedelta(minutes=1)  # a token is looked at again at least this often (JWT expiry)
RETRY_MS = 3000  # how long a browser waits before it reconnects
PING_SECONDS = 15  # a comment line now and then keeps proxies from closing an idle stream

STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An event stream (`text/event-stream`): `ready`, then `sync`, `rollups`, "
        "`insight`, `goal` events with JSON data, or `reset`.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/{org}",
    response_class=EventSourceResponse,
    responses={**STREAM, **responses(401, 404, 422)},
)
async def org_events(
    request: Request,
    org: str,
    credentials: Credentials,
    last_event_id: Annotated[
        str | None,
        Header(
            description="The `id` of the last event received: the stream starts after it.",
            max_length=20,
        ),
    ] = None,
    max_seconds: Annotated[
        float | None,
        Query(
            ge=0,
            le=86400,
            description="Close the stream after this many seconds (default: when the client "
            "leaves); 0 sends what is pending and closes, for scripts that poll.",
        ),
    ] = None,
) -> EventSourceResponse:
    """Server-Sent Events about one organization: syncs, rollups, insights, goals."""
    access: Access = await anyio.to_thread.run_sync(
        request.app.state.access.resolve, request, credentials, org
    )
    after = _event_id(last_event_id)
    ends = None if max_seconds is None else time.monotonic() + max_seconds
    stream = _stream(request, credentials, access, after, ends)
    return EventSourceResponse(stream, ping=PING_SECONDS)


def _event_id(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit():
        raise InvalidInputError(f"Last-Event-ID {text!r} is not an id this stream sent")
    return int(text)


async def _stream(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    access: Access,
    after: int | None,
    ends: float | None,
) -> AsyncIterator[ServerSentEvent]:
    watch: VersionWatch = request.app.state.events
    org = access.org
    # Read before the first read of events: any change after it wakes the loop below.
    seen = (access.access, access.version)
    recheck_at = utcnow() + RECHECK
    if after is None or after > access.version:  # new, or an id from before a reset database
        if after is not None:
            yield _reset(access.version)
        yield ServerSentEvent(
            _json({"org": org.slug, "version": access.version}),
            event="ready",
            id=str(access.version),
            retry=RETRY_MS,
        )
        after = access.version
    while True:
        found, gone = await anyio.to_thread.run_sync(_read, org.id, after)
        if gone:
            yield _reset(after)
        for event in found:
            yield ServerSentEvent(
                _json(_data(org.slug, event)), event=event.kind, id=str(event.seq)
            )
            after = event.seq
        if len(found) == events.MAX_READ:
            continue  # more to read now
        wait = RECHECK.total_seconds()
        if ends is not None:
            wait = min(wait, ends - time.monotonic())
            if wait <= 0:
                return
        before = seen
        with anyio.move_on_after(wait):
            seen = await watch.changed(org.id, seen)
        if seen[0] != before[0] or utcnow() >= recheck_at:
            if not await _still_allowed(request, credentials, org.slug):
                return
            recheck_at = utcnow() + RECHECK


def _read(org_id: int, after: int) -> tuple[list[events.Event], bool]:
    with ready_engine().connect() as conn:
        return events.since(conn, org_id, after)


async def _still_allowed(
    request: Request, credentials: HTTPAuthorizationCredentials | None, slug: str
) -> bool:
    try:
        await anyio.to_thread.run_sync(request.app.state.access.resolve, request, credentials, slug)
    except DpoError:
        return False
    return True


def _reset(version: int) -> ServerSentEvent:
    return ServerSentEvent(_json({"version": version}), event="reset", id=str(version))


def _data(slug: str, event: events.Event) -> dict[str, Any]:
    return {"org": slug, "at": event.at.isoformat(), **event.detail}


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)
