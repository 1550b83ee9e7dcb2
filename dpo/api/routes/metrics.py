"""`/metrics`: Prometheus metrics (admin tokens only: they name every organization)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from dpo.api.deps import AdminDep
from dpo.api.errors import json_responses

router = APIRouter(tags=["monitoring"])


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **json_responses(401, 403),
    },
)
def metrics(request: Request, _admin: AdminDep) -> PlainTextResponse:
    """Requests by route and status, latency, job runs by job and status, sync ages."""
    body, content_type = request.app.state.metrics.render()
    return PlainTextResponse(body, media_type=content_type)
