"""Who may ask, answered from memory while nothing about access changed.

A cached answer (`dpo.api.cache`) costs little once it is known who asks and which
organization they ask about; looking both up in the database is most of what is left. A token
and an organization are kept in memory as the *access version* found them: the counter of
`org_version`'s row 0, which triggers raise when a token is created, revoked or removed and
when an organization is added, changed or removed. One query then reads the access version and
the organization's data version together; anything else (a JWT, a token not seen yet, a
changed access version, a token whose last use is due to be written) takes the full path.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.engine import Connection

from dpo.api.deps import get_principal, org_for
from dpo.resources.tokens import (
    LAST_USED_RESOLUTION,
    MAX_TOKEN_LENGTH,
    TOKEN_PREFIX,
    Principal,
    hash_token,
)
from dpo.storage import models
from dpo.storage.db import ready_engine, session_scope
from dpo.storage.models import OrgVersion

ACCESS = 0  # the row of org_version that counts changes to tokens and organizations
_VERSION = OrgVersion.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OrgRef:
    """What an answer needs of its organization."""

    id: int
    slug: str
    timezone: str


@dataclass(frozen=True)
class Access:
    """Who asks (`principal`), about which organization, its data version, and the access
    version the check was made at (never newer than what was checked)."""

    principal: Principal
    org: OrgRef
    version: int
    access: int


@dataclass(frozen=True)
class _Known:
    principal: Principal
    access: int
    recheck_at: datetime  # when its last use is due to be written again


class AccessCache:
    """Tokens and organizations as the access version last found them."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._tokens: OrderedDict[str, _Known] = OrderedDict()
        self._orgs: dict[str, tuple[OrgRef, int]] = {}
        self._lock = threading.Lock()

    def resolve(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None, slug: str
    ) -> Access:
        """Who asks about `slug`, and its data version: from memory and one query when
        nothing about access changed, else the full path (401 and 404 as everywhere)."""
        return self._from_memory(credentials, slug) or self._looked_up(request, credentials, slug)

    def _from_memory(
        self, credentials: HTTPAuthorizationCredentials | None, slug: str
    ) -> Access | None:
        secret = credentials.credentials if credentials is not None else ""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > MAX_TOKEN_LENGTH:
            return None  # no token, or a JWT: the full path
        key = hash_token(secret)
        with self._lock:
            known = self._tokens.get(key)
            org = self._orgs.get(slug)
        if known is None or org is None or models.utcnow() >= known.recheck_at:
            return None
        ref, org_access = org
        principal = known.principal
        if not principal.is_admin and principal.org_id != ref.id:
            return None  # not its organization: the full path says 404
        with ready_engine().connect() as conn:
            access, version = versions(conn, ref.id)
        if access != known.access or access != org_access:
            return None
        return Access(principal, ref, version, access)

    def _looked_up(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None, slug: str
    ) -> Access:
        engine = ready_engine()
        with engine.connect() as conn:
            before, _ = versions(conn, ACCESS)  # read first: never newer than what is checked
        principal = get_principal(request, credentials)
        with session_scope() as session:
            org = org_for(session, principal, slug)
            assert org.id is not None
            ref = OrgRef(org.id, org.slug, org.timezone)
            _, version = versions(session.connection(), org.id)
        secret = credentials.credentials if credentials is not None else ""
        if secret.startswith(TOKEN_PREFIX):
            recheck = models.utcnow() + LAST_USED_RESOLUTION
            with self._lock:
                key = hash_token(secret)
                self._tokens[key] = _Known(principal, before, recheck)
                self._tokens.move_to_end(key)
                while len(self._tokens) > self.capacity:
                    self._tokens.popitem(last=False)
                if len(self._orgs) > self.capacity:
                    self._orgs.clear()
                self._orgs[slug] = (ref, before)
        return Access(principal, ref, version, before)


def versions(conn: Connection, org_id: int) -> tuple[int, int]:
    """(access version, the organization's data version), 0 where not raised yet."""
    return versions_of(conn, [org_id])[org_id]


def versions_of(conn: Connection, orgs: Sequence[int]) -> dict[int, tuple[int, int]]:
    """`versions` of several organizations, in one query."""
    rows = conn.execute(
        sa.select(_VERSION.c.org_id, _VERSION.c.version).where(
            _VERSION.c.org_id.in_((ACCESS, *orgs))
        )
    ).all()
    found = {int(org): int(version) for org, version in rows}
    access = found.get(ACCESS, 0)
    return {org: (access, found.get(org, 0)) for org in orgs}
