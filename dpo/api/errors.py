"""Library errors as HTTP answers: always JSON `{"detail": …}`, never a stack trace.

The mapping lives here and only here (the library knows nothing about HTTP): unknown → 404,
invalid → 422, conflict or lock held → 409, no/bad token → 401, not allowed → 403, try later
→ 503, upstream refused → 502, configuration → 503. Anything else is a bug: logged with its
traceback on the server, answered with a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dpo.api.models import Problem
from dpo.errors import (
    ConfigError,
    ConflictError,
    DpoError,
    ForbiddenError,
    InvalidInputError,
    LockHeldError,
    NotAuthenticatedError,
    NotFoundError,
    TryLaterError,
    UpstreamRefusedError,
    scrub,
)

log = logging.getLogger(__name__)

# Most specific first: NotFoundError and ConflictError are InvalidInputErrors.
_STATUS: tuple[tuple[type[DpoError], int], ...] = (
    (NotAuthenticatedError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (LockHeldError, 409),
    (InvalidInputError, 422),
    (TryLaterError, 503),
    (UpstreamRefusedError, 502),
    (ConfigError, 503),
)

_DESCRIPTIONS = {
    401: "No token, or an unknown, expired or revoked one",
    403: "The token may not do this (its role, or admin only)",
    404: "Unknown — or not visible with this token",
    409: "Already exists, or already running",
    422: "Invalid input",
    503: "Unavailable: try again later (database down or not initialised)",
}


def status_of(exc: DpoError) -> int:
    """The HTTP status for a library error."""
    return next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error answers a route can give."""
    return {code: {"model": Problem, "description": _DESCRIPTIONS[code]} for code in codes}


def json_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses` for a route whose own answers are not JSON (its errors still are)."""
    ref = {"$ref": "#/components/schemas/Problem"}
    return {
        code: {"description": _DESCRIPTIONS[code], "content": {"application/json": {"schema": ref}}}
        for code in codes
    }


def problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def _dpo_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DpoError)
    status = status_of(exc)
    if status >= 500:
        log.warning("%s: %s", type(exc).__name__, scrub(exc.message))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(status, scrub(exc.message), headers)


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 without echoing the input back (it may be large, binary or sensitive)."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    return problem(422, detail)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (404 no route, 405 method) in our shape; FastAPI answers a body
    it cannot even decode with 400, which is invalid input like any other: 422."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        return problem(422, "the request body is not valid JSON")
    return problem(exc.status_code, exc.detail, dict(exc.headers or {}))


async def _integrity(_request: Request, exc: Exception) -> JSONResponse:
    """Two requests racing to create the same thing: the loser gets a conflict."""
    log.info("integrity error: %s", type(exc).__name__)
    return problem(409, "conflict with a concurrent change; try again")


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return problem(500, "internal error")


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""
    app.add_exception_handler(DpoError, _dpo_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(Exception, _unexpected)
