"""Schema migrations on both backends, and the column types that must be exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, SQLModel

from dpo.storage import db as dbmod
from dpo.storage import tables  # noqa: F401 - every table on SQLModel.metadata
from dpo.storage.models import Organization
from tests.conftest import Database

TABLES = {
    "organization",
    "source",
    "fact",
    "fact_change",
    "sync_state",
    "job_run",
    "goal",
    "insight",
    "api_token",
    "agg_hourly",
    "agg_daily",
    "agg_state",
}


def test_migrations_from_empty_to_head_and_back(database: Database) -> None:
    engine = database.engine
    assert dbmod.current_revision(engine) == dbmod.head_revision()
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == []
    command.downgrade(dbmod.alembic_config(engine), "base")
    assert not TABLES & set(sa.inspect(engine).get_table_names())
    assert dbmod.upgrade(engine) == (None, dbmod.head_revision())
    assert dbmod.upgrade(engine) == (dbmod.head_revision(), dbmod.head_revision())


def test_money_is_exact_and_times_are_utc(database: Database) -> None:
    with Session(database.engine) as s:
        s.add(Organization(slug="x", name="X", timezone="UTC", currency="EUR"))
        s.commit()
        org = s.exec(sa.select(Organization)).scalar_one()  # type: ignore[call-overload]
        assert org.created_at.tzinfo is UTC
    with database.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO source (org_id, kind, account, name, settings, enabled, "
                "created_at) VALUES (1, 'demo', 'woo', 'w', '{}', true, :t)"
            ),
            {"t": datetime(2026, 1, 1)},
        )
    from dpo.storage.tables import fact

    start = datetime(2026, 1, 1, tzinfo=UTC)
    with database.engine.begin() as conn:
        conn.execute(
            sa.insert(fact),
            [
                {
                    "source_id": 1,
                    "org_id": 1,
                    "grain": "hour",
                    "period_start": start + timedelta(hours=i),
                    "revenue": Decimal("0.10"),
                    "spend": Decimal("1234567.891234"),
                }
                for i in range(1000)
            ],
        )
        got = conn.execute(sa.select(sa.func.sum(fact.c.revenue))).scalar_one()
        assert Decimal(str(got)).quantize(Decimal("0.01")) == Decimal("100.00")
        row = conn.execute(
            sa.select(fact).where(fact.c.source_id == 1, fact.c.period_start == start)
        ).one()
        assert row.spend == Decimal("1234567.891234") and row.channel == ""
        assert row.period_start == start and row.period_start.tzinfo is not None


def test_naive_datetimes_are_refused(database: Database) -> None:
    with Session(database.engine) as s:
        s.add(
            Organization(
                slug="x", name="X", timezone="UTC", currency="EUR", created_at=datetime(2026, 1, 1)
            )
        )
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            s.commit()


def test_other_offsets_are_stored_as_the_same_instant(database: Database) -> None:
    plus2 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with Session(database.engine) as s:
        s.add(Organization(slug="x", name="X", timezone="UTC", currency="EUR", created_at=plus2))
        s.commit()
    with Session(database.engine) as s:
        org = s.exec(sa.select(Organization)).scalar_one()  # type: ignore[call-overload]
        assert org.created_at == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
