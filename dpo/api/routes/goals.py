"""`/api/goals`: an organization's KPI targets — list, create, change, delete."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlmodel import Session

from dpo.api.cache import NOT_MODIFIED, Computed, question, response_cache
from dpo.api.deps import Credentials, EditorDep, GoalDep, OrgDep, SessionDep, org_for
from dpo.api.errors import responses
from dpo.api.models import GoalCreateRequest, GoalOut
from dpo.insights import pacing
from dpo.insights.pacing import GoalProgress
from dpo.resources import goals
from dpo.resources.goals import GoalPublic, GoalUpdate
from dpo.storage.models import utcnow

router = APIRouter(prefix="/api/goals", tags=["goals"])


def _out(goal: GoalPublic) -> GoalOut:
    return GoalOut.model_validate(goal.model_dump())


@router.get(
    "/{org}/progress",
    response_model=list[GoalProgress],
    responses={**NOT_MODIFIED, **responses(401, 404)},
)
def goals_progress(request: Request, org: str, credentials: Credentials) -> Response:
    """Where each goal stands: actual so far, expected by now, forecast, chance, needed per day
    (as `dpo goals progress`)."""

    def compute(session: Session) -> Computed:
        return Computed(pacing.progress(session, org_slug=org, now=utcnow()))

    return response_cache(request).answer(request, credentials, org, question(request), compute)


@router.get("/{org}", responses=responses(401, 404))
def list_goals(org: OrgDep, session: SessionDep) -> list[GoalOut]:
    """The organization's goals."""
    return [_out(g) for g in goals.list_goals(session, org_slug=org.slug)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 404, 422))
def create_goal(body: GoalCreateRequest, session: SessionDep, principal: EditorDep) -> GoalOut:
    """Add a goal to an organization: a KPI at least (or at most) a target per period."""
    org = org_for(session, principal, body.org)
    data = body.model_dump(exclude={"org"}, exclude_unset=True)
    return _out(goals.add_goal(session, org.slug, data))


@router.put("/{goal_id}", responses=responses(401, 403, 404, 422))
def update_goal(goal: GoalDep, body: GoalUpdate, session: SessionDep, _: EditorDep) -> GoalOut:
    """Change some fields of a goal; the result must still be a valid goal."""
    assert goal.id is not None
    return _out(goals.update_goal(session, goal.id, body.model_dump(exclude_unset=True)))


@router.delete(
    "/{goal_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404)
)
def delete_goal(goal: GoalDep, session: SessionDep, _: EditorDep) -> Response:
    """Delete a goal."""
    assert goal.id is not None
    goals.remove_goal(session, goal.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
