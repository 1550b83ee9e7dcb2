"""Bulk writes of facts: stream a window into a staging table, then swap it in atomically.

Rows arrive as an iterator (pages are never collected in memory) and go into a per-connection
TEMP table — COPY on PostgreSQL, `executemany` on SQLite — outside any lock on the real tables.
Then one short transaction deletes the window's old facts, inserts the staged ones and runs the
caller's bookkeeping (sync state, change log), so readers and other writers never see half a
window and a slow upstream never holds a write lock.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, text

from dpo.storage.models import METRICS, Fact

FACT_COLUMNS: tuple[str, ...] = (
    "source_id",
    "org_id",
    "grain",
    "period_start",
    "channel",
    "campaign",
    "campaign_name",
    "currency",
    *METRICS,
)
BATCH = 10_000
_FACT = Fact.__table__  # type: ignore[attr-defined]
_COLS = ", ".join(FACT_COLUMNS)
_NULLABLE = ("campaign_name", "currency", *METRICS)

FactTuple = Sequence[Any]


def replace_facts(
    engine: Engine,
    rows: Iterable[FactTuple],
    *,
    source_id: int,
    start: datetime,
    end: datetime,
    bookkeeping: Callable[[Connection], None],
) -> int:
    """Replace the source's facts in [start, end) with `rows`; return how many were written.

    `rows` are tuples in FACT_COLUMNS order. `bookkeeping` runs inside the swap transaction.
    Any exception (from the rows iterator too) leaves the table as it was.
    """
    with engine.connect() as conn:
        loader = _PgStage(conn) if conn.dialect.name == "postgresql" else _SqliteStage(conn)
        loader.reset()
        count = loader.load(rows)
        conn.commit()
        conn.execute(
            _FACT.delete().where(
                _FACT.c.source_id == source_id,
                _FACT.c.period_start >= start,
                _FACT.c.period_start < end,
            )
        )
        conn.execute(text(f"INSERT INTO fact ({_COLS}) SELECT {_COLS} FROM {loader.table}"))
        bookkeeping(conn)
        conn.commit()
        loader.reset()
        conn.commit()
    return count


def _batches(rows: Iterable[FactTuple]) -> Iterator[list[FactTuple]]:
    it = iter(rows)
    while batch := list(islice(it, BATCH)):
        yield batch


class _PgStage:
    """A TEMP table filled with COPY (no WAL, no indexes: the fastest way in)."""

    table = "fact_stage"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {self.table} (LIKE fact)"))

    def reset(self) -> None:
        self.conn.execute(text(f"TRUNCATE {self.table}"))

    def load(self, rows: Iterable[FactTuple]) -> int:
        # The csv module writes None and '' alike (as ""): FORCE_NULL turns "" into NULL in the
        # nullable columns, while channel and campaign keep '' ("not broken down by it").
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        sql = (
            f"COPY {self.table} ({_COLS}) FROM STDIN "
            f"WITH (FORMAT csv, FORCE_NULL ({', '.join(_NULLABLE)}))"
        )
        count = 0
        try:
            for batch in _batches(rows):
                buffer = io.StringIO()
                csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC).writerows(batch)
                buffer.seek(0)
                cursor.copy_expert(sql, buffer)
                count += len(batch)
        finally:
            cursor.close()
        return count


class _SqliteStage:
    """A TEMP table (in SQLite's separate temp database: no lock on the main file)."""

    table = "temp.fact_stage"

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        conn.execute(
            text(f"CREATE TEMP TABLE IF NOT EXISTS fact_stage AS SELECT {_COLS} FROM fact WHERE 0")
        )
        # The dialect's own processors, so staged values are stored exactly as the ORM would
        # store them (SQLite compares datetimes as text: the format must be identical).
        dialect = conn.dialect
        self.processors = [
            _FACT.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in FACT_COLUMNS
        ]

    def reset(self) -> None:
        self.conn.execute(text(f"DELETE FROM {self.table}"))

    def load(self, rows: Iterable[FactTuple]) -> int:
        marks = ", ".join("?" for _ in FACT_COLUMNS)
        sql = f"INSERT INTO {self.table} ({_COLS}) VALUES ({marks})"
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        active = [(i, p) for i, p in enumerate(self.processors) if p is not None]
        count = 0
        try:
            for batch in _batches(rows):
                converted = []
                for row in batch:
                    values = list(row)
                    for i, process in active:
                        if values[i] is not None:
                            values[i] = process(values[i])
                    converted.append(values)
                cursor.executemany(sql, converted)
                count += len(batch)
        finally:
            cursor.close()
        return count
