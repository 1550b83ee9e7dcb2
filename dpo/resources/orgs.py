"""Organizations: create, list, look up, update."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationInfo, field_validator
from sqlmodel import Field, Session, SQLModel, select

from dpo.errors import ConflictError, unknown_org
from dpo.storage.models import Organization
from dpo.validation import check_currency, check_slug, check_text, check_timezone, is_slug, parse


def _check_name(value: str) -> str:
    if not value.strip():
        raise ValueError("name must not be empty")
    return check_text(value.strip(), what="name")


_CHECKS: dict[str, Callable[[str], str]] = {
    "slug": check_slug,
    "name": _check_name,
    "timezone": check_timezone,
    "currency": check_currency,
}


def _check(value: str | None, info: ValidationInfo) -> str | None:
    assert info.field_name is not None
    return None if value is None else _CHECKS[info.field_name](value)


class OrganizationBase(SQLModel):
    name: str = Field(max_length=200)
    timezone: str
    currency: str


class OrganizationCreate(OrganizationBase):
    slug: str = Field(max_length=64)

    _checked = field_validator("slug", "name", "timezone", "currency")(_check)


class OrganizationUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=200)
    timezone: str | None = None
    currency: str | None = None

    _checked = field_validator("name", "timezone", "currency")(_check)


class OrganizationPublic(OrganizationBase):
    id: int
    slug: str
    created_at: datetime


def add_org(session: Session, data: Mapping[str, Any]) -> Organization:
    """Create an organization; the slug must be new."""
    create = parse(OrganizationCreate, data)
    if session.exec(select(Organization).where(Organization.slug == create.slug)).first():
        raise ConflictError(f"organization {create.slug!r} already exists")
    org = Organization.model_validate(create)
    session.add(org)
    session.flush()
    return org


def get_org(session: Session, slug: str) -> Organization:
    """The organization called `slug`, or NotFoundError."""
    # Anything that is not a slug cannot name one (and may not even be storable text).
    org = None
    if is_slug(slug):
        org = session.exec(select(Organization).where(Organization.slug == slug)).first()
    if org is None:
        raise unknown_org(slug)
    return org


def list_orgs(session: Session) -> list[Organization]:
    """Every organization, by slug."""
    return list(session.exec(select(Organization).order_by(Organization.slug)))


def update_org(session: Session, slug: str, data: Mapping[str, Any]) -> Organization:
    """Change an organization's name, time zone or currency."""
    org = get_org(session, slug)
    update = parse(OrganizationUpdate, data)
    org.sqlmodel_update(update.model_dump(exclude_unset=True, exclude_none=True))
    session.add(org)
    session.flush()
    return org


def holdings(session: Session, slug: str) -> str:
    """What goes with an organization: `2 sources, 12,345 facts, 3 goals`."""
    from sqlalchemy import func

    from dpo.storage import tables

    org = get_org(session, slug)
    counts = []
    for table, noun in ((tables.source, "source"), (tables.fact, "fact"), (tables.goal, "goal")):
        n = session.exec(
            select(func.count()).select_from(table).where(table.c.org_id == org.id)
        ).one()
        counts.append(f"{n:,} {noun}" + ("" if n == 1 else "s"))
    return ", ".join(counts)


def remove_org(session: Session, slug: str) -> None:
    """Delete an organization with its facts (which carry no foreign key, for bulk-load
    speed); its sources, rollups, goals, insights and tokens go with it (ON DELETE CASCADE)."""
    from sqlalchemy import delete

    from dpo.storage import tables

    org = get_org(session, slug)
    session.exec(delete(tables.fact).where(tables.fact.c.org_id == org.id))
    session.delete(org)
    session.flush()


def public(org: Organization) -> OrganizationPublic:
    """The shape shown to users and API clients."""
    return OrganizationPublic.model_validate(org, from_attributes=True)
