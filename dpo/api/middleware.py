"""The outermost layer of every request: size limit, safety headers, log line and metrics.

Plain ASGI (no BaseHTTPMiddleware): it adds almost nothing to each request's cost. The log
line has the method, the path (never the query string) and the status and duration; tokens
travel in a header, which is never logged.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dpo.api.metrics import Metrics

log = logging.getLogger("dpo.api.requests")

_SAFETY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
UNMATCHED = "<unmatched>"  # one label for every unknown path: no label per random URL


class _BodyTooLargeError(HTTPException):
    """A body without a length grew past the limit while it was read. An HTTPException, so
    that whoever is reading it (FastAPI parsing JSON) passes it on as the 413 it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class RequestMiddleware:
    """Refuse oversized bodies (413), add safety headers, log and count every request."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "sent": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["sent"] = message["status"], True
                headers = MutableHeaders(scope=message)
                for name, value in _SAFETY_HEADERS:
                    headers.raw.append((name, value))
                if scope["path"].startswith("/api/") and "cache-control" not in headers:
                    headers["cache-control"] = "no-store"  # data for one token's eyes
            await send(message)

        try:
            if self._declared_too_large(scope):
                await _too_large(send_with_headers, self.max_body_bytes)
            else:
                await self.app(scope, self._limited(receive), send_with_headers)
        except _BodyTooLargeError:
            if state["sent"]:
                raise
            await _too_large(send_with_headers, self.max_body_bytes)
        finally:
            self._record(scope, state["status"], time.perf_counter() - started)

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value) > self.max_body_bytes
                except ValueError:
                    return False
        return False

    def _limited(self, receive: Receive) -> Receive:
        """`receive`, failing once a body without a length grows past the limit."""
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _BodyTooLargeError(self.max_body_bytes)
            return message

        return limited

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", UNMATCHED)
        path = repr(scope["path"])[1:-1]  # a path cannot forge log lines with \n
        self.metrics.observe(scope["method"], route, status, seconds)
        log.info(
            "%s %s %d %.1fms",
            scope["method"],
            path,
            status,
            seconds * 1000,
            extra={
                "method": scope["method"],
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
            },
        )


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
