"""FastAPI dependencies: a database session per request, who is calling, and what they may see.

An organization's token sees only its organization. Asking for anything of another
organization gets exactly the answer a non-existent one gets (404, same body), so a token never
learns that other organizations, goals or job runs exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from dpo.errors import ForbiddenError, NotAuthenticatedError, unknown_org
from dpo.resources.goals import get_goal, unknown_goal
from dpo.resources.orgs import get_org
from dpo.resources.tokens import Principal, authenticate, authenticate_jwt, is_jwt
from dpo.storage.db import session_scope
from dpo.storage.deadline import deadline
from dpo.storage.models import Goal, Organization, utcnow
from dpo.validation import MAX_ID
from dpo.vocab import TokenRole


@dataclass(frozen=True)
class ApiConfig:
    """What the app was started with (settings resolved once, secrets read once)."""

    jwt_key: str | None = None
    jwt_audience: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    request_seconds: float = 30.0
    events_poll_seconds: float = 1.0


def get_session(request: Request) -> Iterator[Session]:
    """A session per request: committed when the route succeeds, rolled back otherwise; its
    statements stop (503) once the request has run `request_seconds`."""
    config: ApiConfig = request.app.state.config
    with session_scope() as session, deadline(session, config.request_seconds):
        yield session


# "function" scope: the commit happens before the response is sent, so a failed commit is
# the client's error response rather than a success for something that was not saved.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `dpo tokens create`, or an HS256 JWT when one is configured.",
)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def get_principal(request: Request, credentials: Credentials) -> Principal:
    """Who is calling, from `Authorization: Bearer …`; 401 without a valid token.

    Its own short transaction: noting when a token was last used must not hold a write lock
    (SQLite) while the request runs jobs through other connections.
    """
    if credentials is None:
        raise NotAuthenticatedError("missing token: send Authorization: Bearer <token>")
    config: ApiConfig = request.app.state.config
    value = credentials.credentials
    with session_scope() as session:
        if config.jwt_key is not None and is_jwt(value):
            return authenticate_jwt(
                session, value, key=config.jwt_key, audience=config.jwt_audience
            )
        return authenticate(session, value, now=utcnow())


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    """The caller, who must hold an admin token (403 otherwise)."""
    if not principal.is_admin:
        raise ForbiddenError("this needs an admin token (`dpo tokens create --admin`)")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def _role(needed: TokenRole) -> Callable[[Principal], Principal]:
    def require(principal: PrincipalDep) -> Principal:
        if not principal.may(needed):
            raise ForbiddenError(
                f"this needs an {needed.value} token (this one is a {principal.role.value}'s)",
                hint=f"create one with `dpo tokens create --org ORG --role {needed.value}`",
            )
        return principal

    require.__doc__ = f"The caller, who must hold a token of role {needed.value} or more (403)."
    return require


EditorDep = Annotated[Principal, Depends(_role(TokenRole.editor))]
OrgAdminDep = Annotated[Principal, Depends(_role(TokenRole.admin))]


def org_for(session: Session, principal: Principal, slug: str) -> Organization:
    """The organization `slug` if the caller may see it; else the unknown-organization 404."""
    if not principal.is_admin and slug != principal.org_slug:
        raise unknown_org(slug)
    return get_org(session, slug)


def scoped_org(org: str, session: SessionDep, principal: PrincipalDep) -> Organization:
    """The organization named by the `org` path or query parameter, within the caller's scope."""
    return org_for(session, principal, org)


OrgDep = Annotated[Organization, Depends(scoped_org)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


def scoped_goal(goal_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Goal:
    """The goal `goal_id` if it belongs to an organization the caller may see."""
    goal = get_goal(session, goal_id)
    if not principal.is_admin and goal.org_id != principal.org_id:
        raise unknown_goal(goal_id)
    return goal


GoalDep = Annotated[Goal, Depends(scoped_goal)]
