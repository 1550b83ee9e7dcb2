"""`/api/organizations`: list, create (admin), show and update organizations."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlmodel import Field, Session

from dpo.api.deps import AdminDep, OrgAdminDep, OrgDep, PrincipalDep, SessionDep
from dpo.api.errors import responses
from dpo.ops.verify import VerificationPublic, latest_verifications
from dpo.resources import orgs
from dpo.resources.orgs import OrganizationCreate, OrganizationPublic, OrganizationUpdate
from dpo.storage import models
from dpo.storage.models import Organization

router = APIRouter(prefix="/api/organizations", tags=["organizations"])


class OrganizationOut(OrganizationPublic):
    """An organization, with the latest `dpo sources verify` of each of its sources."""

    verification: list[VerificationPublic] = Field(default_factory=list)


def _out(session: Session, org: Organization) -> OrganizationOut:
    found = latest_verifications(session, now=models.utcnow(), org_id=org.id)
    return OrganizationOut.model_validate(
        {**orgs.public(org).model_dump(), "verification": [found[k] for k in sorted(found)]}
    )


@router.get("", responses=responses(401))
def list_organizations(session: SessionDep, principal: PrincipalDep) -> list[OrganizationOut]:
    """Every organization for an admin token; an organization's token sees only its own."""
    if principal.is_admin:
        return [_out(session, o) for o in orgs.list_orgs(session)]
    assert principal.org_slug is not None
    return [_out(session, orgs.get_org(session, principal.org_slug))]


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 409, 422))
def create_organization(
    body: OrganizationCreate, session: SessionDep, _admin: AdminDep
) -> OrganizationOut:
    """Create an organization (admin tokens only)."""
    org = orgs.add_org(session, body.model_dump())
    return _out(session, org)


@router.get("/{org}", responses=responses(401, 404))
def get_organization(org: OrgDep, session: SessionDep) -> OrganizationOut:
    """One organization, with what the latest verification of each source found ("verified
    2 h ago: ok, 28 days", or the metrics and days that drifted)."""
    return _out(session, org)


@router.put("/{org}", responses=responses(401, 403, 404, 422))
def update_organization(
    org: OrgDep, body: OrganizationUpdate, session: SessionDep, _: OrgAdminDep
) -> OrganizationOut:
    """Change an organization's name, time zone or currency."""
    updated = orgs.update_org(session, org.slug, body.model_dump(exclude_unset=True))
    return _out(session, updated)
