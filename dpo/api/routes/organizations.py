"""`/api/organizations`: list, create (admin), show and update organizations."""

from __future__ import annotations

from fastapi import APIRouter, status

from dpo.api.deps import AdminDep, OrgDep, PrincipalDep, SessionDep
from dpo.api.errors import responses
from dpo.resources import orgs
from dpo.resources.orgs import OrganizationCreate, OrganizationPublic, OrganizationUpdate

router = APIRouter(prefix="/api/organizations", tags=["organizations"])


@router.get("", responses=responses(401))
def list_organizations(session: SessionDep, principal: PrincipalDep) -> list[OrganizationPublic]:
    """Every organization for an admin token; an organization's token sees only its own."""
    if principal.is_admin:
        return [orgs.public(o) for o in orgs.list_orgs(session)]
    assert principal.org_slug is not None
    return [orgs.public(orgs.get_org(session, principal.org_slug))]


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 409, 422))
def create_organization(
    body: OrganizationCreate, session: SessionDep, _admin: AdminDep
) -> OrganizationPublic:
    """Create an organization (admin tokens only)."""
    org = orgs.add_org(session, body.model_dump())
    return orgs.public(org)


@router.get("/{org}", responses=responses(401, 404))
def get_organization(org: OrgDep) -> OrganizationPublic:
    """One organization."""
    return orgs.public(org)


@router.put("/{org}", responses=responses(401, 404, 422))
def update_organization(
    org: OrgDep, body: OrganizationUpdate, session: SessionDep
) -> OrganizationPublic:
    """Change an organization's name, time zone or currency."""
    updated = orgs.update_org(session, org.slug, body.model_dump(exclude_unset=True))
    return orgs.public(updated)
