"""Sources: an organization's connections to upstreams, with secrets kept by reference."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self

from pydantic import Field, field_validator, model_validator
from sqlmodel import Session, SQLModel, col, select

from dpo import connectors
from dpo.connectors import SourceKind
from dpo.connectors.base import SourceSpec
from dpo.errors import (
    EXIT_OK,
    EXIT_UNEXPECTED,
    ConfigError,
    ConflictError,
    DpoError,
    InvalidInputError,
    NotFoundError,
    describe,
    register_secret,
)
from dpo.resources.orgs import get_org
from dpo.settings import get_settings
from dpo.storage.models import Organization, Source
from dpo.validation import parse

log = logging.getLogger(__name__)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _SourceFields(SQLModel):
    """What a source is told, for adding and for changing it; all optional here."""

    name: str | None = Field(default=None, max_length=200)
    endpoint: str | None = Field(default=None, max_length=500)
    secret_env: str | None = None
    secret_file: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    lookback_days: int | None = Field(default=None, ge=0, le=400)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/?#]+", v):
            raise ValueError(f"invalid endpoint {v!r}: use an http:// or https:// URL")
        return v.rstrip("/") if v else v

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError(f"invalid environment variable name {v!r}")
        return v

    @model_validator(mode="after")
    def _one_secret(self) -> Self:
        if self.secret_env and self.secret_file:
            raise ValueError("give --secret-env or --secret-file, not both")
        return self

    @property
    def secret_ref(self) -> str | None:
        """`env:NAME` or `file:/absolute/path` — where the secret lives, never the secret."""
        if self.secret_env:
            return f"env:{self.secret_env}"
        if self.secret_file:
            return f"file:{Path(self.secret_file).expanduser().resolve()}"
        return None


class SourceCreate(_SourceFields):
    kind: SourceKind
    account: str = Field(min_length=1, max_length=500)

    @field_validator("account")
    @classmethod
    def _account(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("account must not be empty")
        return v.strip()


class SourceUpdate(_SourceFields):
    """What `dpo sources update` may change; unset fields stay. A setting given an empty value
    goes back to its default."""

    account: str | None = Field(default=None, min_length=1, max_length=500)


class SourcePublic(SQLModel):
    id: int
    org: str
    kind: str
    account: str
    name: str
    endpoint: str | None
    secret_ref: str | None
    settings: dict[str, Any]
    lookback_days: int | None
    enabled: bool
    created_at: datetime


def add_source(
    session: Session,
    org_slug: str,
    data: Mapping[str, Any],
    *,
    today: date,
    check_secret: bool = False,
) -> SourcePublic:
    """Connect an organization to an upstream account; with `check_secret`, only when its
    secret reference can be read from here (`check_secret_reference`)."""
    org = get_org(session, org_slug)
    create = parse(SourceCreate, data)
    if connectors.is_available(create.kind):
        canonical = connectors.connector_class(create.kind).canonical_account(create.account)
        create = create.model_copy(update={"account": canonical})
    settings = _normalized_settings(create, today=today)
    name = create.name or f"{create.kind}:{create.account}"
    clash = select(Source).where(
        Source.org_id == org.id, Source.kind == create.kind, Source.account == create.account
    )
    if session.exec(clash).first():
        raise ConflictError(f"{org_slug} already has a {create.kind} source for {create.account!r}")
    if check_secret:
        check_secret_reference(
            create.kind.value, secret_env=create.secret_env, secret_file=create.secret_file
        )
    assert org.id is not None
    source = Source(
        org_id=org.id,
        kind=create.kind.value,
        account=create.account,
        name=name,
        endpoint=create.endpoint,
        secret_ref=create.secret_ref,
        settings=settings,
        lookback_days=create.lookback_days,
    )
    session.add(source)
    session.flush()
    return public(source, org)


def _normalized_settings(create: SourceCreate, *, today: date) -> dict[str, Any]:
    if not connectors.is_available(create.kind):
        return dict(create.settings)
    cls = connectors.connector_class(create.kind)
    try:
        return cls.normalize_settings(create.account, create.settings, today=today)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


def check_secret_reference(kind: str, *, secret_env: str | None, secret_file: str | None) -> None:
    """Refuse (InvalidInputError) a secret reference that cannot be read from here, or no
    reference for a kind that needs one: a source added that way can only fail."""
    hint = "or pass --no-check (a variable set only in cron's environment file, say)"
    if secret_env:
        if not os.environ.get(secret_env):
            raise InvalidInputError(
                f"the environment variable {secret_env} is not set here", hint=hint
            )
    elif secret_file:
        path = Path(secret_file).expanduser()
        if not os.access(path, os.R_OK) or not path.is_file():
            raise InvalidInputError(f"cannot read the secret file {path}", hint=hint)
    elif connectors.is_available(kind) and connectors.connector_class(kind).needs_secret:
        raise InvalidInputError(
            f"a {kind} source needs a credential: give --secret-env VAR or --secret-file PATH",
            hint=hint,
        )


def update_source(
    session: Session,
    source_id: int,
    data: Mapping[str, Any],
    *,
    today: date,
    check_secret: bool = False,
) -> SourcePublic:
    """Change a source: its account, name, endpoint, secret, lookback or settings (merged).

    Its stored facts stay as they are; a changed account's days are fetched anew by the next
    runs (its lookback), or at once with `dpo sync KIND --since DAY`."""
    source = get_source(session, source_id)
    org = session.get(Organization, source.org_id)
    assert org is not None and source.id is not None
    update = parse(SourceUpdate, data)
    cls = connectors.connector_class(source.kind) if connectors.is_available(source.kind) else None
    account = source.account
    if update.account is not None:
        account = cls.canonical_account(update.account) if cls else update.account.strip()
    settings = {**source.settings, **update.settings}
    settings = {k: v for k, v in settings.items() if v != ""}
    if cls is not None:
        try:
            settings = cls.normalize_settings(account, settings, today=today)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
    if account != source.account:
        clash = select(Source).where(
            Source.org_id == org.id,
            Source.kind == source.kind,
            Source.account == account,
            Source.id != source.id,
        )
        if session.exec(clash).first():
            raise ConflictError(f"{org.slug} already has a {source.kind} source for {account!r}")
        if update.name is None and source.name == f"{source.kind}:{source.account}":
            source.name = f"{source.kind}:{account}"  # a generated name follows its account
    source.account = account
    source.settings = settings
    if update.name is not None:
        source.name = update.name
    if update.endpoint is not None:
        source.endpoint = update.endpoint
    if update.secret_ref is not None:
        if check_secret:
            check_secret_reference(
                source.kind, secret_env=update.secret_env, secret_file=update.secret_file
            )
        source.secret_ref = update.secret_ref
    if update.lookback_days is not None:
        source.lookback_days = update.lookback_days
    session.add(source)
    session.flush()
    return public(source, org)


def set_enabled(session: Session, source_id: int, *, enabled: bool) -> SourcePublic:
    """Enable or disable a source: a disabled one is not synced or watched; its facts stay."""
    source = get_source(session, source_id)
    org = session.get(Organization, source.org_id)
    assert org is not None
    source.enabled = enabled
    session.add(source)
    session.flush()
    return public(source, org)


def facts_of(session: Session, source_id: int) -> int:
    """How many facts a source has stored."""
    from sqlalchemy import func

    from dpo.storage import tables

    fact = tables.fact
    query = select(func.count()).select_from(fact).where(fact.c.source_id == source_id)
    return int(session.exec(query).one())


def remove_source(session: Session, source_id: int) -> SourcePublic:
    """Delete a source with its facts, sync state and history; the organization's rollups are
    rebuilt whole by the next `dpo aggregate` (their record of what they were built from is
    cleared), so its figures leave every report."""
    from sqlalchemy import delete

    from dpo.storage import tables

    source = get_source(session, source_id)
    org = session.get(Organization, source.org_id)
    assert org is not None
    shown = public(source, org)
    session.exec(delete(tables.fact).where(tables.fact.c.source_id == source_id))
    session.exec(delete(tables.agg_state).where(tables.agg_state.c.org_id == org.id))
    session.delete(source)
    session.flush()
    return shown


def list_sources(
    session: Session, *, org_slug: str | None = None, kind: str | None = None
) -> list[SourcePublic]:
    """Sources, optionally of one organization and/or one kind, by org then id."""
    query = (
        select(Source, Organization).join(Organization).order_by(Organization.slug, col(Source.id))
    )
    if org_slug is not None:
        query = query.where(Source.org_id == get_org(session, org_slug).id)
    if kind is not None:
        query = query.where(Source.kind == kind)
    return [public(source, org) for source, org in session.exec(query)]


def get_source(session: Session, source_id: int) -> Source:
    """The source with id `source_id`, or NotFoundError."""
    source = session.get(Source, source_id)
    if source is None:
        raise NotFoundError(f"unknown source {source_id}")
    return source


def public(source: Source, org: Organization) -> SourcePublic:
    """The shape shown to users and API clients."""
    return SourcePublic.model_validate({**source.model_dump(), "org": org.slug})


def resolve_secret(secret_ref: str | None) -> str | None:
    """Read the secret a reference points at; ConfigError naming the reference if missing."""
    if secret_ref is None:
        return None
    where, _, target = secret_ref.partition(":")
    if where == "env":
        value = os.environ.get(target)
        if not value:
            raise ConfigError(f"the secret environment variable {target} is not set")
    elif where == "file":
        try:
            value = Path(target).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the secret file {target}: {exc.strerror}") from None
    else:
        raise ConfigError(f"unsupported secret reference {secret_ref!r}")
    register_secret(value)
    return value


def spec_for(source: Source, org: Organization) -> SourceSpec:
    """A detached snapshot of `source` for its connector, with its secret resolved."""
    assert source.id is not None and org.id is not None
    return SourceSpec(
        id=source.id,
        org_id=org.id,
        org_slug=org.slug,
        kind=source.kind,
        account=source.account,
        name=source.name,
        org_timezone=org.timezone,
        org_currency=org.currency,
        endpoint=source.endpoint,
        secret=resolve_secret(source.secret_ref),
        settings=dict(source.settings),
        defaults=get_settings().connector(source.kind).model_dump(),
    )


def sources_to_sync(
    session: Session, kind: str, *, org_slugs: Sequence[str] | None = None
) -> list[tuple[Source, Organization]]:
    """The enabled sources of `kind`, optionally only of some organizations."""
    return enabled_sources(session, kind=kind, org_slugs=org_slugs)


def enabled_sources(
    session: Session, *, kind: str | None = None, org_slugs: Sequence[str] | None = None
) -> list[tuple[Source, Organization]]:
    """The enabled sources (of `kind`, of some organizations), by organization and id."""
    query = (
        select(Source, Organization)
        .join(Organization)
        .where(Source.enabled == True)  # noqa: E712 - SQL, not Python
        .order_by(Organization.slug, col(Source.id))
    )
    if kind is not None:
        query = query.where(Source.kind == kind)
    if org_slugs:
        ids = [get_org(session, slug).id for slug in org_slugs]
        query = query.where(Organization.id.in_(ids))  # type: ignore[union-attr]
    return [(s, o) for s, o in session.exec(query)]


def source_with_org(session: Session, source_id: int) -> tuple[Source, Organization] | None:
    """A source and its organization, or None when there is no such source."""
    found = session.exec(
        select(Source, Organization).join(Organization).where(Source.id == source_id)
    ).first()
    return None if found is None else (found[0], found[1])


@dataclass(frozen=True)
class SourceCheck:
    """Whether a source's credentials work, as one cheap authenticated call found."""

    source: str
    kind: str
    is_ok: bool
    message: str
    exit_code: int


def check_sources(session: Session, org_slug: str, *, kind: str | None = None) -> list[SourceCheck]:
    """Make one cheap authenticated call per source of an organization (optionally one kind)."""
    org = get_org(session, org_slug)
    query = select(Source).where(Source.org_id == org.id).order_by(col(Source.id))
    if kind is not None:
        query = query.where(Source.kind == kind)
    found = list(session.exec(query))
    if not found:
        scope = f"{kind} sources" if kind else "sources"
        raise NotFoundError(f"{org_slug} has no {scope}")
    return [check_source(source, org) for source in found]


def check_source(source: Source, org: Organization) -> SourceCheck:
    """One source's check; failures are reported, not raised."""
    label = f"{org.slug}/{source.name}"
    try:
        connector = connectors.connector_class(source.kind)(spec_for(source, org))
        try:
            message = connector.check()
        finally:
            connector.close()
    except DpoError as exc:
        return SourceCheck(label, source.kind, False, describe(exc), exc.exit_code)
    except Exception as exc:
        log.debug("checking %s failed", label, exc_info=True)
        return SourceCheck(label, source.kind, False, describe(exc), EXIT_UNEXPECTED)
    return SourceCheck(label, source.kind, True, message, EXIT_OK)
