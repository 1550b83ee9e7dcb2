"""`/api/jobs/{id}`: how a job run (e.g. a sync started through the API) is doing."""

from __future__ import annotations

from fastapi import APIRouter

from dpo.api.deps import IdPath, PrincipalDep, SessionDep
from dpo.api.errors import responses
from dpo.ops.history import JobRunPublic, run_by_id, unknown_job
from dpo.storage.quick import session_reader

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("/{run_id}", responses=responses(401, 404))
def get_job_run(run_id: IdPath, session: SessionDep, principal: PrincipalDep) -> JobRunPublic:
    """One job run: status (`running` until it ends), rows written, error."""
    run = run_by_id(session_reader(session), run_id)
    if not principal.is_admin and run.org != principal.org_slug:
        raise unknown_job(run_id)
    return run
