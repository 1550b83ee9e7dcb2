"""Bulk writes of facts: stream one window's rows in and swap them for the old ones atomically.

Rows arrive as an iterator (pages are never collected in memory). On PostgreSQL one
transaction deletes the window's old facts and COPYs the new ones straight into the table:
MVCC keeps readers on the old rows until commit, and the lock taken is only on this source's
rows. On SQLite, whose write lock covers the whole database, the rows first go into a TEMP
table (SQLite's separate temp database: no lock on the main file) while the upstream is read,
and only the short swap holds the write lock. Either way the caller's bookkeeping (sync state,
change log) commits in the same transaction as the facts, and any exception — from the rows
iterator too — leaves the table as it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from dpo.errors import DpoError
from dpo.storage import tables
from dpo.storage.locks import check_held
from dpo.storage.tables import FACT_COLUMNS

BATCH = 10_000
_FACT = tables.fact
_COLS = ", ".join(FACT_COLUMNS)
_NULLABLE = tuple(c.name for c in _FACT.columns if c.nullable)

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

    `rows` are tuples in FACT_COLUMNS order; `bookkeeping` runs inside the same transaction.
    """
    delete_old = _FACT.delete().where(
        _FACT.c.source_id == source_id,
        _FACT.c.period_start >= start,
        _FACT.c.period_start < end,
    )
    with engine.connect() as conn:
        try:
            if conn.dialect.name == "postgresql":
                conn.execute(delete_old)
                count = _copy(conn, "fact", rows)
            else:
                stage = _SqliteStage(conn)
                count = stage.load(rows)
                conn.commit()
                conn.execute(delete_old)
                conn.execute(text(f"INSERT INTO fact ({_COLS}) SELECT {_COLS} FROM {stage.table}"))
        except (IntegrityError, conn.dialect.dbapi.IntegrityError):  # type: ignore[union-attr]
            raise DpoError(
                "the upstream returned two facts for the same period and segment; "
                "nothing was written for this window"
            ) from None
        bookkeeping(conn)
        check_held(conn)  # the run's lock still held: no other run writes these rows now
        conn.commit()
    return count


def _batches(rows: Iterable[FactTuple]) -> Iterator[list[FactTuple]]:
    it = iter(rows)
    while batch := list(islice(it, BATCH)):
        yield batch


def _copy(conn: Connection, table: str, rows: Iterable[FactTuple]) -> int:
    """COPY rows into `table` in batches, inside the connection's transaction."""
    # The csv module writes None and '' alike (as ""): FORCE_NULL turns "" into NULL in the
    # nullable columns, while channel and campaign keep '' ("not broken down by it").
    sql = (
        f"COPY {table} ({_COLS}) FROM STDIN WITH (FORMAT csv, FORCE_NULL ({', '.join(_NULLABLE)}))"
    )
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
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
        conn.execute(text(f"DELETE FROM {self.table}"))
        # The dialect's own processors, so staged values are stored exactly as the ORM would
        # store them (SQLite compares datetimes as text: the format must be identical).
        dialect = conn.dialect
        self.processors = [
            _FACT.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in FACT_COLUMNS
        ]

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
