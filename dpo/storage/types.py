"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, TypeDecorator

from dpo.storage.quick import utc_from_db


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime: `timestamptz` on PostgreSQL, naive UTC text on SQLite.

    Binding a naive datetime is a bug (we never guess a time zone), so it raises.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else utc_from_db(value)


def Money() -> Numeric[Any]:
    """Exact money: NUMERIC(20, 6), returned as Decimal."""
    return Numeric(20, 6, asdecimal=True)


FX_RATE = Numeric(24, 12, asdecimal=True)
"""An exchange rate: exact, with the precision published rates carry (and their inverses)."""
