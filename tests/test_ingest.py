"""The bulk path that writes facts: exact round trips, atomic swaps, no stale rows left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, text
from sqlmodel import Session

from dpo import metrics
from dpo.connectors.base import FactRow, SourceSpec, Window
from dpo.errors import DpoError
from dpo.ingest.sync import fact_tuples
from dpo.storage import tables
from dpo.storage.facts import replace_facts
from dpo.storage.models import Organization, Source
from dpo.storage.tables import FACT_COLUMNS
from dpo.vocab import Grain
from tests.conftest import Database

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)


@pytest.fixture
def source(database: Database) -> int:
    with Session(database.engine) as s:
        org = Organization(slug="acme", name="Acme", timezone="UTC", currency="EUR")
        s.add(org)
        s.flush()
        assert org.id is not None
        src = Source(org_id=org.id, kind="demo", account="woo", name="w")
        s.add(src)
        s.commit()
        assert src.id is not None
        return src.id


def row(hour: int, **values: object) -> tuple[object, ...]:
    base: dict[str, object] = dict.fromkeys(FACT_COLUMNS)
    base.update(
        source_id=1,
        org_id=1,
        grain="hour",
        period_start=START + timedelta(hours=hour),
        channel="",
        campaign="",
    )
    base.update(values)
    return tuple(base[c] for c in FACT_COLUMNS)


def nothing(conn: Connection) -> None:
    pass


def stored(database: Database) -> list[sa.Row[Any]]:
    f = tables.fact.c
    with database.engine.connect() as conn:
        return list(conn.execute(sa.select(tables.fact).order_by(f.period_start, f.channel)))


def test_values_round_trip_exactly(database: Database, source: int) -> None:
    awkward = 'Spring "Sale", 50%\toff\nnew line \\ backslash'
    rows = [
        row(
            0,
            channel="Paid Social",
            campaign="123",
            campaign_name=awkward,
            currency="EUR",
            spend=Decimal("0.000001"),
            impressions=9_007_199_254_740_993,
            revenue=None,
        ),
        row(1, channel="", campaign="", campaign_name=None, orders=0, refunds=Decimal("0")),
    ]
    assert (
        replace_facts(
            database.engine, rows, source_id=source, start=START, end=END, bookkeeping=nothing
        )
        == 2
    )
    first, second = stored(database)
    assert first.period_start == START and first.period_start.tzinfo is not None
    assert (first.channel, first.campaign, first.campaign_name) == ("Paid Social", "123", awkward)
    assert first.spend == Decimal("0.000001") and first.revenue is None
    assert first.impressions == 9_007_199_254_740_993
    assert (second.channel, second.campaign, second.campaign_name) == ("", "", None)
    assert second.orders == 0 and second.refunds == Decimal("0") and second.spend is None


def test_a_replace_removes_rows_written_by_any_path(database: Database, source: int) -> None:
    with database.engine.begin() as conn:
        conn.execute(
            sa.insert(tables.fact),
            [
                {
                    "source_id": source,
                    "org_id": 1,
                    "grain": "hour",
                    "period_start": START,
                    "orders": 5,
                },
                {
                    "source_id": source,
                    "org_id": 1,
                    "grain": "hour",
                    "period_start": END,
                    "orders": 7,
                },
            ],
        )
    replace_facts(
        database.engine,
        [row(0, orders=1), row(2, orders=2)],
        source_id=source,
        start=START,
        end=END,
        bookkeeping=nothing,
    )
    assert [(f.period_start, f.orders) for f in stored(database)] == [
        (START, 1),
        (START + timedelta(hours=2), 2),
        (END, 7),
    ]


def test_a_failure_midway_leaves_everything_as_it_was(database: Database, source: int) -> None:
    replace_facts(
        database.engine,
        [row(0, orders=1)],
        source_id=source,
        start=START,
        end=END,
        bookkeeping=nothing,
    )
    ran: list[bool] = []

    def broken() -> Iterator[tuple[object, ...]]:
        for i in range(25_000):  # several batches, then the upstream fails
            yield row(i % 24, channel=str(i), orders=9)
        raise RuntimeError("connection reset")

    with pytest.raises(RuntimeError, match="connection reset"):
        replace_facts(
            database.engine,
            broken(),
            source_id=source,
            start=START,
            end=END,
            bookkeeping=lambda conn: ran.append(True),
        )
    assert ran == []
    assert [(f.period_start, f.orders) for f in stored(database)] == [(START, 1)]
    # and the staging area does not leak into the next window
    replace_facts(
        database.engine,
        [row(3, orders=3)],
        source_id=source,
        start=START,
        end=END,
        bookkeeping=nothing,
    )
    assert [(f.period_start, f.orders) for f in stored(database)] == [
        (START + timedelta(hours=3), 3)
    ]


def test_duplicate_keys_fail_the_whole_window(database: Database, source: int) -> None:
    with pytest.raises(DpoError, match="two facts for the same period and segment"):
        replace_facts(
            database.engine,
            [row(0, orders=1), row(0, orders=2)],
            source_id=source,
            start=START,
            end=END,
            bookkeeping=nothing,
        )
    assert database.scalar("SELECT count(*) FROM fact") == 0


def test_connector_rows_map_onto_the_fact_columns() -> None:
    spec = SourceSpec(7, 3, "acme", "demo", "woo", "w", "UTC", "EUR")
    keys = ("channel", "campaign", "campaign_name", "currency")
    values: dict[str, Any] = {name: f"v-{name}" for name in (*keys, *metrics.NAMES)}
    row = FactRow(Grain.day, START, **values)
    values.update(grain=Grain.day, period_start=START)
    (mapped,) = fact_tuples([row], spec, Window.for_day(START.date(), ZoneInfo("UTC")))
    expected = {**values, "grain": "day", "source_id": 7, "org_id": 3}
    assert dict(zip(FACT_COLUMNS, mapped, strict=True)) == expected


def test_bookkeeping_commits_with_the_facts(database: Database, source: int) -> None:
    def note(conn: Connection) -> None:
        conn.execute(text("UPDATE source SET name = 'synced' WHERE id = :id"), {"id": source})

    replace_facts(
        database.engine,
        [row(0, orders=1)],
        source_id=source,
        start=START,
        end=END,
        bookkeeping=note,
    )
    assert database.scalar("SELECT name FROM source") == "synced"
