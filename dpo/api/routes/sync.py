"""`/api/sync/{kind}`: start a sync of an organization's sources now, as cron would."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, status

from dpo.api.deps import EditorDep, SessionDep, org_for
from dpo.api.errors import responses
from dpo.api.models import SyncRequestBody, SyncRun, SyncStarted
from dpo.connectors import SourceKind
from dpo.errors import InvalidInputError, LockHeldError
from dpo.ingest.plan import SyncRequest
from dpo.jobs.sync import start_sync
from dpo.settings import get_settings
from dpo.storage.models import utcnow
from dpo.vocab import JobStatus

router = APIRouter(prefix="/api/sync", tags=["sync"])


@router.post(
    "/{kind}",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(401, 403, 404, 409, 422, 503),
)
def sync(
    kind: SourceKind,
    body: SyncRequestBody,
    request: Request,
    session: SessionDep,
    principal: EditorDep,
) -> SyncStarted:
    """Start syncing the organization's enabled sources of KIND; answer with the job runs.

    Each source runs in the background under the same lock as cron's `dpo sync`, so a source
    already being synced is not started twice: 409 when none could start. Follow a run with
    `GET /api/jobs/{job_run_id}`.
    """
    org = org_for(session, principal, body.org)
    if body.since and body.until and body.until < body.since:
        raise InvalidInputError(f"until {body.until} is before since {body.since}")
    session.commit()  # give the connection back: the sync works through its own
    budget = get_settings().sync.max_seconds
    started = start_sync(
        kind.value,
        org.slug,
        SyncRequest(
            now=utcnow(),
            since=body.since,
            until=body.until,
            deadline=time.monotonic() + budget if budget else None,
        ),
    )
    for job in started:
        if job.thread is not None:
            request.app.state.jobs.add(job.thread)
    if all(job.status is JobStatus.skipped for job in started):
        raise LockHeldError(started[0].message)
    runs = [
        SyncRun(job_run_id=j.run_id, source=j.label, status=j.status.value, message=j.message)
        for j in started
        if j.run_id is not None
    ]
    return SyncStarted(org=org.slug, kind=kind.value, runs=runs)
