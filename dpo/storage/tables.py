"""Every table, typed: the one way the library reaches the database's tables.

The wide tables are built here from the metric table (`dpo.metrics`): `fact` has a column per
metric, `agg_hourly` / `agg_daily` one per metric that adds up (plus `source_<name>` for the
owned ones). In `fact`, a NULL metric means "this source does not report it", never zero;
`''` in channel or campaign means "not broken down by it". The other tables are the SQLModel
models' (`storage/models.py`), taken from the shared metadata so they need no casts.

SQL that does not go through SQLAlchemy (the bare-driver fast path in `storage/quick.py`, the
COPY in `storage/facts.py`) names its columns from these tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)
from sqlalchemy.types import TypeEngine
from sqlmodel import SQLModel

from dpo import metrics
from dpo.metrics import Metric
from dpo.storage import models  # noqa: F401 - declares the other tables
from dpo.storage.types import Money, UTCDateTime

metadata = SQLModel.metadata
TOTAL = 0
"""`source_id` of an organization's total rows in the rollups."""

FACT_KEY = ("source_id", "grain", "period_start", "channel", "campaign")
FACT_COLUMNS: tuple[str, ...] = (
    "source_id",
    "org_id",
    "grain",
    "period_start",
    "channel",
    "campaign",
    "campaign_name",
    "currency",
    *metrics.NAMES,
)
"""The columns a fact is written with, in the order bulk writes use."""

SOURCE_OWNED: tuple[str, ...] = tuple(f"source_{m}" for m in metrics.OWNED)
ROLLUP_MEASURES: tuple[str, ...] = (
    "campaign_name",
    *metrics.SHARED,
    *metrics.OWNED,
    *SOURCE_OWNED,
    "skipped_facts",
)
"""The non-key columns of agg_hourly / agg_daily, in the order rollup statements fill them."""


def _type(metric: Metric) -> TypeEngine[Any]:
    return BigInteger() if metric.integral else Money()


def _metric_columns(names: tuple[str, ...], *, prefix: str = "") -> list[Column[Any]]:
    return [Column(prefix + n, _type(metrics.BY_NAME[n]), nullable=True) for n in names]


fact = Table(
    "fact",
    metadata,
    Column("source_id", Integer, primary_key=True, autoincrement=False),
    Column("grain", String(8), primary_key=True),
    Column("period_start", UTCDateTime, primary_key=True),
    Column("channel", String(200), primary_key=True, default=""),
    Column("campaign", String(200), primary_key=True, default=""),
    Column("org_id", Integer, nullable=False),
    Column("campaign_name", String(500), nullable=True),
    Column("currency", String(3), nullable=True),
    *_metric_columns(metrics.NAMES),
    # No foreign keys, deliberately: per-row FK checks halve the COPY rate of bulk ingest, and
    # only the sync engine writes facts, for a source it has just loaded, under that source's
    # lock. Whoever deletes a source or an organization deletes its facts too.
    Index("ix_fact_org_period", "org_id", "period_start"),
)
"""Raw facts at the finest grain a source gives: one row per source/grain/period/segment."""


def _rollup(name: str, key: Column[Any]) -> Table:
    return Table(
        name,
        metadata,
        Column(
            "org_id",
            Integer,
            ForeignKey("organization.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        key,
        Column("source_id", Integer, primary_key=True, autoincrement=False),
        Column("channel", String(200), primary_key=True, default=""),
        Column("campaign", String(200), primary_key=True, default=""),
        Column("campaign_name", String(500), nullable=True),
        *_metric_columns(metrics.SHARED),
        *_metric_columns(metrics.OWNED),
        *_metric_columns(metrics.OWNED, prefix="source_"),
        Column("skipped_facts", Integer, nullable=False, default=0),
    )


agg_hourly = _rollup("agg_hourly", Column("hour_start", UTCDateTime, primary_key=True))
"""Hourly rollups, keyed by the UTC start of the hour (facts of grain `hour` only).

`source_id = 0` marks the organization's total (channel = campaign = ''); other rows are one
source's facts in one channel and campaign. Owned metrics (revenue, orders, refunds) are the
organization's — the revenue owner's only, NULL on other sources' rows; `source_<name>` is what
each source itself reports (NULL on totals). NULL means "not reported", never zero.
Money is in the organization's currency; `skipped_facts` counts the facts whose money no
exchange rate converted (left out of the money columns, never of the counts).
"""
agg_daily = _rollup("agg_daily", Column("day", Date, primary_key=True))
"""Daily rollups, keyed by the organization's local date (23 or 25 hours on DST days)."""

organization = metadata.tables["organization"]
source = metadata.tables["source"]
fact_change = metadata.tables["fact_change"]
agg_state = metadata.tables["agg_state"]
sync_state = metadata.tables["sync_state"]
window_quality = metadata.tables["window_quality"]
fx_rate = metadata.tables["fx_rate"]
source_verification = metadata.tables["source_verification"]
job_run = metadata.tables["job_run"]
goal = metadata.tables["goal"]
insight = metadata.tables["insight"]
api_token = metadata.tables["api_token"]
