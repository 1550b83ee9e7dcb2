"""`/health`: is the server up and does its database answer? No token needed."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dpo.api.models import Health
from dpo.errors import DpoError, describe
from dpo.storage.db import ping_database

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "Database unavailable"}},
)
def health() -> Health | JSONResponse:
    """`ok` when the database answers; 503 otherwise (details in the server log, not here)."""
    try:
        ping_database()
    except DpoError as exc:
        log.warning("health check failed: %s", describe(exc))
        body = Health(status="unavailable", database="unreachable")
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", database="ok")
