"""The data model (DESIGN.md §3) as SQLModel tables: the rows dpo reads and writes as objects.

Datetimes are aware UTC (`UTCDateTime`); money is exact (`Money`, Decimal). The wide tables
whose columns are the metrics (`fact`, `agg_hourly`, `agg_daily`) are SQLAlchemy Core tables
built from `dpo.metrics` in `storage/tables.py`, which also gives every table typed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel

from dpo.storage.types import FX_RATE, Money, UTCDateTime


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(
            Integer, ForeignKey(target, ondelete="CASCADE"), nullable=nullable, index=index
        ),
    )


def _ts(*, nullable: bool = True) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _money(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=Money(), nullable=nullable)


def _count() -> Any:
    return Field(default=None, sa_type=BigInteger, nullable=True)


# --- organization -------------------------------------------------------------------------


class Organization(SQLModel, table=True):
    """A client of the agency (or the company itself): everything else belongs to one."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    created_at: datetime = _ts(nullable=False)


# --- source ----------------------------------------------------------------------------------


class Source(SQLModel, table=True):
    """One connection of an organization to an upstream; its secret is only referenced."""

    __table_args__ = (UniqueConstraint("org_id", "kind", "account"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organization.id")
    kind: str = Field(max_length=16)
    account: str = Field(max_length=500)
    name: str = Field(max_length=200)
    endpoint: str | None = Field(default=None, max_length=500)
    secret_ref: str | None = Field(default=None, max_length=500)
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    lookback_days: int | None = None
    enabled: bool = True
    created_at: datetime = _ts(nullable=False)


# --- facts and rollups: Core tables built from the metric table, in storage/tables.py ---


class FactChange(SQLModel, table=True):
    """A UTC range of an organization's facts that a sync rewrote: aggregation's to-do list."""

    __tablename__ = "fact_change"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organization.id")
    source_id: int = _fk("source.id", index=False)
    range_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    range_end: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = _ts(nullable=False)
    # Each rollup consumes the change on its own; a row is deleted once both have.
    hourly_done: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    daily_done: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class AggState(SQLModel, table=True):
    """What an organization's rollups were computed under; a change forces a full rebuild."""

    __tablename__ = "agg_state"

    org_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
        )
    )
    grain: str = Field(max_length=8, primary_key=True)
    fingerprint: str = Field(max_length=500)
    updated_at: datetime = _ts(nullable=False)


class OrgVersion(SQLModel, table=True):
    """A counter per organization that database triggers raise whenever what its reports and
    dashboard show can have changed: new facts (`fact_change`), a rollup run (`agg_state`),
    goals, insights, sources, data-quality flags, the organization's settings.

    `dpo serve` answers from memory while it is unchanged (every process and every worker
    reads the same row). No foreign key: a removed organization's triggers may still raise
    it while the cascade runs.
    """

    __tablename__ = "org_version"

    org_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    events_pruned: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """The organization's events up to this `seq` were removed (`dpo.storage.events`)."""


class OrgEvent(SQLModel, table=True):
    """Something a dashboard wants to hear of at once (`GET /api/events/{org}`): a sync or
    rollup run ended, an insight or a goal changed. `seq` is the organization's data version
    right after the event's own raise of it, so an organization's events are numbered in the
    order they were committed (the raise holds the `org_version` row until commit)."""

    __tablename__ = "org_event"
    __table_args__ = (UniqueConstraint("org_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organization.id", index=False)
    seq: int
    kind: str = Field(max_length=16)
    at: datetime = _ts(nullable=False)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)


# --- sync state and job history ---------------------------------------------------------------


class SyncState(SQLModel, table=True):
    """Per source and stream: the contiguous range synced, and how the last runs went."""

    __tablename__ = "sync_state"

    source_id: int = Field(
        sa_column=Column(Integer, ForeignKey("source.id", ondelete="CASCADE"), primary_key=True)
    )
    stream: str = Field(default="facts", max_length=32, primary_key=True)
    watermark: datetime | None = _ts()
    covered_from: datetime | None = _ts()
    history_start: date | None = None
    pending: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    last_success_at: datetime | None = _ts()
    last_error: str | None = None
    last_error_at: datetime | None = _ts()
    consecutive_failures: int = 0
    updated_at: datetime = _ts(nullable=False)


class WindowQuality(SQLModel, table=True):
    """A data-quality flag an upstream raised for one window (local day) of a source.

    Written with the window's facts, in the same transaction: a re-fetch replaces the flags.
    """

    __tablename__ = "window_quality"

    source_id: int = Field(
        sa_column=Column(Integer, ForeignKey("source.id", ondelete="CASCADE"), primary_key=True)
    )
    day: date = Field(primary_key=True)
    flag: str = Field(max_length=32, primary_key=True)


class FxRate(SQLModel, table=True):
    """An exchange rate the user gave: one `base` is worth `rate` of `quote` from `effective_from`
    until the pair's next rate. Rollups convert money with the rate of the fact's local day."""

    __tablename__ = "fx_rate"

    base: str = Field(max_length=3, primary_key=True)
    quote: str = Field(max_length=3, primary_key=True)
    effective_from: date = Field(primary_key=True)
    rate: Decimal = Field(sa_type=FX_RATE, nullable=False)
    source: str = Field(default="", max_length=200)
    updated_at: datetime = _ts(nullable=False)


class JobRun(SQLModel, table=True):
    """One run of a cron-facing job: what it did and how it ended (errors scrubbed)."""

    __tablename__ = "job_run"
    __table_args__ = (Index("ix_job_run_started", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    org_id: int | None = _fk("organization.id", nullable=True)
    source_id: int | None = _fk("source.id", nullable=True)
    started_at: datetime = _ts(nullable=False)
    finished_at: datetime | None = _ts()
    status: str = Field(max_length=16)
    rows_written: int = 0
    windows: int = 0
    error: str | None = None
    host: str = Field(max_length=255)
    pid: int
    worker: str | None = Field(default=None, max_length=255)  # the Celery worker's node name


# --- goals, insights, tokens ------------------------------------------------------------------


class Goal(SQLModel, table=True):
    """A target for one KPI over a recurring or custom period, optionally for one segment."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organization.id")
    name: str = Field(max_length=200)
    kpi: str = Field(max_length=32)
    target: Decimal = Field(sa_type=Money(), nullable=False)
    comparison: str = Field(max_length=16)
    period: str = Field(max_length=16)
    start_date: date | None = None
    end_date: date | None = None
    channel: str | None = Field(default=None, max_length=200)
    campaign: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class Insight(SQLModel, table=True):
    """A finding about an organization; the fingerprint makes re-runs update, not duplicate."""

    __table_args__ = (UniqueConstraint("org_id", "fingerprint"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _fk("organization.id")
    kind: str = Field(max_length=32)
    title: str = Field(max_length=300)
    description: str = ""
    severity: str = Field(max_length=16)
    confidence: float = 0.0
    kpi: str | None = Field(default=None, max_length=32)
    channel: str | None = Field(default=None, max_length=200)
    campaign: str | None = Field(default=None, max_length=200)
    period_start: datetime | None = _ts()
    period_end: datetime | None = _ts()
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    fingerprint: str = Field(max_length=128)
    status: str = Field(default="open", max_length=16)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class ApiToken(SQLModel, table=True):
    """An API token, stored only as a hash; scoped to one organization unless admin."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int | None = _fk("organization.id", nullable=True)
    is_admin: bool = False
    # viewer, editor or admin (`dpo.vocab.TokenRole`); an admin token's is admin.
    role: str = Field(
        default="viewer", max_length=16, sa_column_kwargs={"server_default": "viewer"}
    )
    name: str = Field(max_length=200)
    token_hash: str = Field(max_length=128, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = _ts(nullable=False)
    last_used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()


# --- verification -------------------------------------------------------------------------------


class SourceVerification(SQLModel, table=True):
    """One `dpo sources verify` of a source: the local days compared with what its upstream
    reports, what drifted (beyond the metric's tolerance) and what was re-synced."""

    __tablename__ = "source_verification"
    __table_args__ = (Index("ix_source_verification_source", "source_id", "verified_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = _fk("source.id", index=False)
    verified_at: datetime = _ts(nullable=False)
    status: str = Field(max_length=16)  # ok, drift, failed
    first_day: date | None = None
    last_day: date | None = None
    days: int = 0
    drift_days: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    drift_metrics: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    repaired_days: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    # The drifting figures: day, metric, stored, upstream, difference, tolerance (as text).
    differences: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON, nullable=False)
    error: str | None = None
