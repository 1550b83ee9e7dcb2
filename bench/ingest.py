"""Ingest benchmark: dpo's window writes against the databases' own limits, in one run.

    python bench/ingest.py [--rows 1000000] [--pg postgresql://postgres@127.0.0.1/test]

Prints, for PostgreSQL and SQLite, the time to write ROWS facts through dpo's replace-window
path and through a baseline measured in the same run — PostgreSQL: a raw COPY into an indexed
table (the limit); SQLite: one-transaction `executemany` upsert — and the ratio of the rates
(1.0 = as fast as the baseline). Then the peak RSS of a whole `sync_source` run over ROWS rows
from a synthetic upstream (rows are streamed, never collected). Targets: ratios >= 0.5,
peak RSS < 300 MB for 1 M rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import record

CAMPAIGNS = 500
START = datetime(2025, 1, 1, tzinfo=UTC)


def fact_rows(n: int, source_id: int = 1, org_id: int = 1) -> Iterator[tuple[object, ...]]:
    """n hourly fact tuples (FACT_COLUMNS order): CAMPAIGNS campaigns per hour."""
    from dpo.storage.tables import FACT_COLUMNS

    spend, impressions, clicks = (FACT_COLUMNS.index(c) for c in ("spend", "impressions", "clicks"))
    for i in range(n):
        hour, campaign = divmod(i, CAMPAIGNS)
        head = (source_id, org_id, "hour", START + timedelta(hours=hour))
        row: list[object] = [*head, "Paid Social", f"c{campaign}", f"Campaign {campaign}", "EUR"]
        row += [None] * (len(FACT_COLUMNS) - len(row))
        row[spend], row[impressions], row[clicks] = Decimal(i % 9973) / 100, i % 5000, i % 97
        yield tuple(row)


def span(n: int) -> tuple[datetime, datetime]:
    return START, START + timedelta(hours=n // CAMPAIGNS + 1)


# --- PostgreSQL ------------------------------------------------------------------------------


def pg_copy_baseline(url: str, n: int) -> float:
    """Raw psycopg2 COPY of the same rows into a table with the fact table's primary key."""
    import psycopg2

    from dpo.storage.tables import FACT_COLUMNS

    columns = ", ".join(FACT_COLUMNS)
    conn = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS bench_copy")
    cur.execute(
        "CREATE TABLE bench_copy (source_id int, org_id int, grain varchar(8), "
        "period_start timestamptz, channel varchar(200), campaign varchar(200), "
        "campaign_name varchar(500), currency varchar(3), impressions bigint, clicks bigint, "
        "spend numeric(20,6), sessions bigint, users bigint, conversions numeric(20,6), "
        "revenue numeric(20,6), orders bigint, refunds numeric(20,6), "
        "attributed_conversions numeric(20,6), attributed_revenue numeric(20,6), "
        "PRIMARY KEY (source_id, grain, period_start, channel, campaign))"
    )
    conn.commit()
    started = time.perf_counter()
    rows = fact_rows(n)
    while batch := list(islice(rows, 10_000)):
        buffer = io.StringIO()
        csv.writer(buffer).writerows(batch)
        buffer.seek(0)
        cur.copy_expert(f"COPY bench_copy ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
    conn.commit()
    elapsed = time.perf_counter() - started
    cur.execute("DROP TABLE bench_copy")
    conn.commit()
    conn.close()
    return elapsed


def dpo_write(url: str, n: int) -> float:
    """dpo's path: stage, then delete + insert the window, in a fresh dpo database."""
    from dpo.storage.db import get_engine, upgrade
    from dpo.storage.facts import replace_facts

    engine = get_engine(url)
    upgrade(engine)
    _seed_org_and_source(engine)
    start, end = span(n)
    began = time.perf_counter()
    replace_facts(engine, fact_rows(n), source_id=1, start=start, end=end,
                  bookkeeping=lambda conn: None)  # fmt: skip
    return time.perf_counter() - began


def _seed_org_and_source(engine: object) -> None:
    from sqlmodel import Session

    from dpo.storage.models import Organization, Source

    with Session(engine) as s:  # type: ignore[call-overload]
        s.add(Organization(id=1, slug="bench", name="Bench", timezone="UTC", currency="EUR"))
        s.flush()
        s.add(Source(id=1, org_id=1, kind="demo", account="meta", name="bench"))
        s.commit()


def pg_schema_url(url: str) -> tuple[str, str]:
    import sqlalchemy as sa

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    return f"{url}?options=-csearch_path%3D{name}", name


def drop_schema(url: str, name: str) -> None:
    import sqlalchemy as sa

    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))


# --- SQLite --------------------------------------------------------------------------------


def sqlite_upsert_baseline(path: Path, n: int) -> float:
    """Raw sqlite3: one transaction of executemany INSERT … ON CONFLICT DO UPDATE."""
    from dpo.storage.tables import FACT_COLUMNS

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    columns = ", ".join(c if c != "spend" else "spend NUMERIC" for c in FACT_COLUMNS)
    conn.execute(
        f"CREATE TABLE f ({columns}, "
        "PRIMARY KEY (source_id, grain, period_start, channel, campaign))"
    )
    sql = (
        f"INSERT INTO f VALUES ({', '.join('?' * len(FACT_COLUMNS))}) ON CONFLICT DO UPDATE SET "
        "impressions = excluded.impressions, clicks = excluded.clicks, spend = excluded.spend"
    )
    at, spend = FACT_COLUMNS.index("period_start"), FACT_COLUMNS.index("spend")

    def plain(r: tuple[object, ...]) -> tuple[object, ...]:
        values = list(r)
        values[at] = r[at].strftime("%Y-%m-%d %H:%M:%S.%f")  # type: ignore[attr-defined]
        values[spend] = float(r[spend])  # type: ignore[arg-type]
        return tuple(values)

    started = time.perf_counter()
    rows = (plain(r) for r in fact_rows(n))
    with conn:
        conn.executemany(sql, rows)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


# --- memory --------------------------------------------------------------------------------


def child_peak_rss(n: int) -> float:
    """Peak RSS (MB) of a process that runs a whole sync of n rows on SQLite."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); " \
           f"import ingest; ingest.memory_child({n})"  # fmt: skip
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DPO_HOME": home}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def memory_child(n: int) -> None:
    """Runs in the child: sync n rows from a synthetic upstream, print peak RSS in MB."""
    from dpo.connectors.base import Budget, Connector, FactRow, Role, SourceSpec, Window
    from dpo.connectors.settings import ConnectorSettings
    from dpo.ingest.plan import SyncRequest
    from dpo.ingest.sync import sync_source
    from dpo.storage.db import get_engine, upgrade
    from dpo.vocab import Grain

    per_window = n // 10

    class Synthetic(Connector):
        kind = "demo"
        summary = "a synthetic ad platform"
        account_help = "anything"
        role = Role.ads
        settings_model = ConnectorSettings
        metrics = frozenset({"impressions", "clicks", "spend"})

        def fetch_window(
            self, window: Window, *, now: datetime, budget: Budget
        ) -> Iterator[FactRow]:
            hours = int((window.end - window.start).total_seconds() // 3600)
            per_hour = per_window // hours + 1
            for i in range(per_window):
                hour, campaign = divmod(i, per_hour)
                yield FactRow(
                    Grain.hour,
                    window.start + timedelta(hours=hour),
                    channel="Paid Social",
                    campaign=f"c{campaign}",
                    currency="EUR",
                    impressions=i,
                    clicks=i % 97,
                    spend=Decimal(i % 9973) / 100,
                )

    engine = get_engine()
    upgrade(engine)
    _seed_org_and_source(engine)
    spec = SourceSpec(1, 1, "bench", "demo", "meta", "bench", "UTC", "EUR")
    request = SyncRequest(now=datetime(2025, 1, 11, tzinfo=UTC), since=datetime(2025, 1, 1).date(),
                          until=datetime(2025, 1, 10).date())  # fmt: skip
    outcome = sync_source(engine, Synthetic(spec), request, lookback_days=0, initial_days=10)
    assert outcome.rows_written == per_window * 10, outcome
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    n = args.rows
    print(f"ingest of {n:,} hourly facts")

    results = []
    url, schema = pg_schema_url(args.pg)
    try:
        copy = pg_copy_baseline(url, n)
        ours = dpo_write(url, n)
    finally:
        drop_schema(args.pg, schema)
    results.append(("PostgreSQL", "raw COPY", copy, ours))
    with tempfile.TemporaryDirectory() as tmp:
        base = sqlite_upsert_baseline(Path(tmp) / "base.db", n)
        ours = dpo_write(f"sqlite:///{tmp}/dpo.db", n)
    results.append(("SQLite", "executemany upsert", base, ours))

    print(f"{'database':<11} {'baseline':<19} {'baseline s':>10} {'dpo s':>8} {'ratio':>6}")
    for db, label, base, ours in results:
        print(f"{db:<11} {label:<19} {base:>10.2f} {ours:>8.2f} {base / ours:>6.2f}")
        record("ingest", f"{db}: write {n:,} facts, rate vs {label}", f"{ours:.2f} s",
               f"{base:.2f} s", base / ours, at_least=0.5)  # fmt: skip
    rss = child_peak_rss(n)
    print(f"peak RSS of a {n:,}-row sync: {rss:.0f} MB")
    record("ingest", f"peak RSS of a {n:,}-row sync vs the 300 MB budget", f"{rss:.0f} MB",
           "300 MB", rss / 300, at_most=1.0)  # fmt: skip


if __name__ == "__main__":
    main()
