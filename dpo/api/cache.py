"""Answers computed once per (organization, question, data version), then served from memory.

What a dashboard shows changes only when the organization's data does: a sync, a rollup run, a
goal edit, an insight raised or acknowledged. Database triggers raise the organization's
counter in `org_version` on each such change (`dpo.storage.models.OrgVersion`), so one indexed
read tells every process and every worker whether an answer it holds is still current.

Each answer carries an `ETag` made of the organization, the version and the question; a
browser revalidates with `If-None-Match` and gets a 304 without a body (`Cache-Control:
private, no-cache`). The question includes the organization's local date, since "the last 28
days" and a goal's "day 5 of 31" move at midnight.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlmodel import Session

from dpo.api.access import versions
from dpo.storage import models
from dpo.storage.db import session_scope
from dpo.storage.deadline import deadline

CACHE_CONTROL = "private, no-cache"  # may be kept, but asked again (cheaply) every time
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `ETag` sent in `If-None-Match` is current"}
}


@dataclass(frozen=True)
class Computed:
    """An answer and whether it may be kept (not when it is known to be incomplete)."""

    value: Any
    keep: bool = True


@dataclass(frozen=True)
class _Entry:
    version: int
    etag: str
    body: bytes


class ResponseCache:
    """The last answers to the most recent questions, at most `capacity` of them."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = self.not_modified = 0

    def answer(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None,
        slug: str,
        question: Hashable,
        compute: Callable[[Session], Computed],
        *,
        check: Callable[[], object] | None = None,
        before: Callable[[Session], None] | None = None,
    ) -> Response:
        """The answer to `question` about organization `slug`, for whoever `credentials` name
        (401 and 404 as on every route; then `check` may refuse the question): 304 when the
        client holds it, from memory when unchanged, else computed (after `before`, which may
        change the data, as bringing rollups up to date does) and kept."""
        access = request.app.state.access.resolve(request, credentials, slug)
        if check is not None:
            check()
        org = access.org
        key = (org.id, _local_today(org.timezone), question)
        version = access.version
        etag = _etag(org.id, version, key)
        if _client_holds(request, etag):
            self.not_modified += 1
            return Response(status_code=304, headers=_headers(etag))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                self._entries.move_to_end(key)
                self.hits += 1
                return _response(entry.body, entry.etag)
        self.misses += 1
        config = request.app.state.config
        with session_scope() as session, deadline(session, config.request_seconds):
            if before is not None:
                before(session)
                version = versions(session.connection(), org.id)[1]  # before computing
                etag = _etag(org.id, version, key)
            computed = compute(session)
            body = bytes(JSONResponse(jsonable_encoder(computed.value)).body)
        if not computed.keep:
            no_store = {"Cache-Control": "no-store"}
            return Response(body, media_type="application/json", headers=no_store)
        with self._lock:
            self._entries[key] = _Entry(version, etag, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return _response(body, etag)


def response_cache(request: Request) -> ResponseCache:
    """The app's cache."""
    cache: ResponseCache = request.app.state.cache
    return cache


def _local_today(timezone: str) -> str:
    return models.utcnow().astimezone(ZoneInfo(timezone)).date().isoformat()


def _etag(org_id: int, version: int, key: Hashable) -> str:
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    return f'"{org_id}-{version}-{digest}"'


def _client_holds(request: Request, etag: str) -> bool:
    sent = request.headers.get("if-none-match")
    if not sent:
        return False
    tags = {t.strip().removeprefix("W/") for t in sent.split(",")}
    return etag in tags or "*" in tags


def _headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": CACHE_CONTROL}


def _response(body: bytes, etag: str) -> Response:
    return Response(body, media_type="application/json", headers=_headers(etag))


def question(request: Request) -> Hashable:
    """A question: the route, its path parameters and its query (in a stable order)."""
    route = getattr(request.scope.get("route"), "path", request.url.path)
    path = tuple(sorted((k, str(v)) for k, v in request.path_params.items()))
    return route, path, tuple(sorted(request.query_params.multi_items()))
