"""API tokens: created once and shown once, stored only as a hash, revocable.

A token is `dpo_` + 43 random URL-safe characters (256 bits). Such a secret cannot be guessed,
so a plain SHA-256 of it is enough to store (a slow password hash would only slow every API
request down) and makes lookup a single indexed equality. The first characters are kept as a
`prefix` so people can tell their tokens apart in `dpo tokens list`.

A token either belongs to one organization, and sees only that organization, or is an admin
token, which sees them all and may create organizations.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, SQLModel, col, select

from dpo.errors import InvalidInputError, NotAuthenticatedError, NotFoundError
from dpo.resources.orgs import get_org
from dpo.storage.models import ApiToken, Organization
from dpo.validation import check_text, is_id
from dpo.vocab import TokenRole

ROLES = frozenset(r.value for r in TokenRole)

TOKEN_PREFIX = "dpo_"
PREFIX_LENGTH = 12  # "dpo_" and 8 random characters: enough to tell tokens apart, no more
MAX_TOKEN_LENGTH = 512  # longer bearer values are not ours; do not even hash them
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: one organization's token, or an admin (every organization)."""

    name: str
    is_admin: bool
    org_id: int | None = None
    org_slug: str | None = None
    token_id: int | None = None
    role: TokenRole = TokenRole.admin  # within its organization (an admin's: all)

    def may(self, needed: TokenRole) -> bool:
        """True when this principal may do what `needed` may (an admin may do anything)."""
        return self.is_admin or self.role.allows(needed)

    def __post_init__(self) -> None:
        # Exactly one of "admin" and "an organization": never a token that sees nothing or all.
        if self.is_admin != (self.org_id is None):
            raise ValueError("a principal is an admin or belongs to one organization")


class TokenPublic(SQLModel):
    id: int
    name: str
    org: str | None
    is_admin: bool
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    session: Session,
    *,
    org_slug: str | None,
    is_admin: bool = False,
    name: str | None = None,
    role: TokenRole = TokenRole.viewer,
) -> tuple[TokenPublic, str]:
    """A new token for an organization, with `role` there (or an admin token); returns it and
    its secret."""
    if is_admin == (org_slug is not None):
        raise InvalidInputError("give an organization or --admin (exactly one)")
    if is_admin:
        role = TokenRole.admin
    org = get_org(session, org_slug) if org_slug is not None else None
    if name is not None:
        name = _check_name(name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        org_id=org.id if org else None,
        is_admin=is_admin,
        role=role.value,
        name=name or (f"{org.slug} {role.value} token" if org else "admin token"),
        token_hash=hash_token(secret),
        prefix=secret[:PREFIX_LENGTH],
    )
    session.add(token)
    session.flush()
    return public(token, org), secret


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("--name must have 1 to 200 characters")
    try:
        return check_text(name, what="--name")
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


def list_tokens(session: Session) -> list[TokenPublic]:
    """Every token (never its secret), oldest first."""
    query = (
        select(ApiToken, Organization)
        .join(Organization, col(ApiToken.org_id) == Organization.id, isouter=True)
        .order_by(col(ApiToken.id))
    )
    return [public(token, org) for token, org in session.exec(query)]


def revoke_token(session: Session, token_id: int, *, now: datetime) -> TokenPublic:
    """Revoke a token: from now on it is refused (revoking twice changes nothing)."""
    token = session.get(ApiToken, token_id) if is_id(token_id) else None
    if token is None:
        raise NotFoundError(f"unknown token {token_id}", hint="`dpo tokens list` shows the tokens")
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
        session.flush()
    org = session.get(Organization, token.org_id) if token.org_id is not None else None
    return public(token, org)


def authenticate(session: Session, secret: str, *, now: datetime) -> Principal:
    """The principal a token stands for; NotAuthenticatedError if unknown or revoked."""
    refused = NotAuthenticatedError("invalid or revoked token")
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > MAX_TOKEN_LENGTH:
        raise refused
    found = session.exec(
        select(ApiToken, Organization)
        .join(Organization, col(ApiToken.org_id) == Organization.id, isouter=True)
        .where(ApiToken.token_hash == hash_token(secret))
    ).first()
    if found is None:
        raise refused
    token, org = found
    if token.revoked_at is not None or (not token.is_admin and org is None):
        raise refused
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.add(token)
        session.flush()
    if token.is_admin:
        return Principal(name=token.name, is_admin=True, token_id=token.id)
    assert org is not None
    return Principal(
        name=token.name,
        is_admin=False,
        org_id=org.id,
        org_slug=org.slug,
        token_id=token.id,
        role=TokenRole(token.role),
    )


JWT_ALGORITHM = "HS256"


def is_jwt(secret: str) -> bool:
    """True when a bearer value has the shape of a JWT (three dot-separated parts)."""
    return secret.count(".") == 2 and not secret.startswith(TOKEN_PREFIX)


def authenticate_jwt(
    session: Session, value: str, *, key: str, audience: str | None = None
) -> Principal:
    """The principal of an HS256 JWT signed with `key`: claim `org` (a slug) or `admin: true`.

    `exp` is required: a JWT cannot be revoked, so it must expire.
    """
    import jwt

    refused = NotAuthenticatedError("invalid or expired token")
    try:
        claims = jwt.decode(
            value,
            key,
            algorithms=[JWT_ALGORITHM],
            audience=audience,
            options={"require": ["exp"], "verify_aud": audience is not None},
        )
    except jwt.PyJWTError:
        raise refused from None
    # Times are JSON numbers (RFC 7519, NumericDate); PyJWT also takes "9999999999" as text.
    for name in ("exp", "nbf", "iat"):
        if name in claims and (
            isinstance(claims[name], bool) or not isinstance(claims[name], int | float)
        ):
            raise refused
    if claims.get("admin") is True and "org" not in claims:
        return Principal(name=str(claims.get("sub") or "jwt admin")[:200], is_admin=True)
    slug = claims.get("org")
    role = claims.get("role", "viewer")
    if not isinstance(slug, str) or not isinstance(role, str) or role not in ROLES:
        raise refused
    try:
        org = get_org(session, slug)
    except NotFoundError:
        raise refused from None
    return Principal(
        name=str(claims.get("sub") or f"jwt {slug}")[:200],
        is_admin=False,
        org_id=org.id,
        org_slug=org.slug,
        role=TokenRole(role),
    )


def public(token: ApiToken, org: Organization | None) -> TokenPublic:
    """The shape shown to users: everything but the hash."""
    return TokenPublic.model_validate(
        {**token.model_dump(exclude={"token_hash", "org_id"}), "org": org.slug if org else None}
    )
