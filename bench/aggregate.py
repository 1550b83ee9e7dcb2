"""Benchmark: dpo's rollups against a hand-written statement and DuckDB, in the same run.

Generates hourly facts for a few organizations (a store, GA with 6 channels, Meta with many
campaigns and daily purchases) over a year, loads them into SQLite and/or PostgreSQL and into
DuckDB, then prints:

- full daily rebuild: dpo vs one hand-written INSERT … SELECT … GROUP BY into a bare table
  (the in-database limit; best of three interleaved rounds) and vs DuckDB grouping the same
  rows in memory (reference);
- incremental aggregate (hourly + daily, every organization) after one sync tick rewrote a
  day of one organization (median of --repeat runs after five untimed ones; the two
  histories' runs interleaved), vs DuckDB rolling up the same rows;
- the same incremental aggregate on a history ten times shorter: the ratio should stay near 1.

Run: `python bench/aggregate.py [--backend sqlite|pg|both] [--days 365] [--campaigns 24]`
(needs `pip install -e '.[bench]'`; PostgreSQL at DPO_BENCH_PG_URL, default the test server).
Never asserts timings: it prints them, for a person to read.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench.figures import record
from dpo.localdays import day_start
from dpo.rollup.aggregate import AggregateRequest, aggregate_org
from dpo.storage import db as dbmod
from dpo.vocab import Grain

PG_URL = os.environ.get("DPO_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney")
CHANNELS = ("Organic Search", "Paid Social", "Direct", "Paid Search", "Email", "Referral")
COLUMNS = (
    "source_id", "grain", "period_start", "channel", "campaign", "org_id", "campaign_name",
    "currency", "impressions", "clicks", "spend", "sessions", "users", "conversions", "revenue",
    "orders", "refunds", "attributed_conversions", "attributed_revenue",
)  # fmt: skip
END = datetime(2026, 11, 1, tzinfo=UTC)
NULL = "\\N"  # NULL in the CSV files (an empty field is the empty string)


@dataclass(frozen=True)
class Shape:
    orgs: int
    campaigns: int
    days: int

    def hourly_rows(self) -> int:
        return self.orgs * (1 + len(CHANNELS) + self.campaigns) * self.days * 24


# --- data -------------------------------------------------------------------------------------


def org_sources(org: int) -> dict[str, int]:
    """Source ids of an organization: store, analytics, ads."""
    base = (org - 1) * 3
    return {"woo": base + 1, "ga": base + 2, "meta": base + 3}


def facts(org: int, start: datetime, end: datetime, rng: random.Random) -> Iterator[tuple]:
    """Hourly facts of one organization in [start, end), plus Meta's daily purchases."""
    src, campaigns = org_sources(org), CAMPAIGNS
    tz = ZoneInfo(ZONES[(org - 1) % len(ZONES)])
    hour = start
    while hour < end:
        ts = hour.strftime("%Y-%m-%d %H:%M:%S")
        orders = rng.randint(0, 9)
        yield (src["woo"], "hour", ts, "", "", org, None, "EUR", None, None, None, None, None,
               None, f"{orders * 61.5:.2f}", orders, "0.00", None, None)  # fmt: skip
        for channel in CHANNELS:
            s = rng.randint(0, 90)
            yield (src["ga"], "hour", ts, channel, "", org, None, "EUR", None, None, None, s,
                   s * 4 // 5, s // 40, f"{s * 1.3:.2f}", None, None, None, None)  # fmt: skip
        for c in campaigns:
            imp = rng.randint(200, 3000)
            yield (src["meta"], "hour", ts, "Paid Social", c, org, f"Campaign {c}", "EUR", imp,
                   imp // 80, f"{imp * 0.009:.2f}", None, None, None, None, None, None, None,
                   None)  # fmt: skip
        local = hour.astimezone(tz)
        if local.hour == 0 and local.minute == 0:
            for c in campaigns:
                p = rng.randint(0, 20)
                yield (src["meta"], "day", ts, "Paid Social", c, org, f"Campaign {c}", "EUR",
                       None, None, None, None, None, None, None, None, None, p,
                       f"{p * 64.0:.2f}")  # fmt: skip
        hour += timedelta(hours=1)


CAMPAIGNS: list[str] = []


def write_csv(shape: Shape, path: Path) -> int:
    rng, n = random.Random(7), 0
    start = END - timedelta(days=shape.days)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        for org in range(1, shape.orgs + 1):
            for row in facts(org, start, END, rng):
                writer.writerow([NULL if v is None else v for v in row])
                n += 1
    return n


# --- databases --------------------------------------------------------------------------------


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[sa.Engine]:
    """A fresh dpo database (SQLite file or PostgreSQL schema) at the newest migration."""
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        engine = dbmod.get_engine(f"sqlite:///{path}")
        dbmod.upgrade(engine)
        yield engine
        dbmod.reset_caches()
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        engine = dbmod.get_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
        dbmod.upgrade(engine)
        yield engine
    finally:
        dbmod.reset_caches()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def load(engine: sa.Engine, shape: Shape, path: Path) -> None:
    with engine.begin() as conn:
        for org in range(1, shape.orgs + 1):
            tz = ZONES[(org - 1) % len(ZONES)]
            conn.execute(
                sa.text(
                    "INSERT INTO organization (id, slug, name, timezone, currency, created_at) "
                    "VALUES (:id, :slug, :slug, :tz, 'EUR', :now)"
                ),
                {"id": org, "slug": f"org{org}", "tz": tz, "now": END.replace(tzinfo=None)},
            )
            for kind, sid in org_sources(org).items():
                conn.execute(
                    sa.text(
                        "INSERT INTO source (id, org_id, kind, account, name, settings, enabled, "
                        "created_at) VALUES (:id, :org, 'demo', :kind, :kind, '{}', true, :now)"
                    ),
                    {"id": sid, "org": org, "kind": kind, "now": END.replace(tzinfo=None)},
                )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            with path.open() as fh:
                cur.copy_expert(
                    f"COPY fact ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}')",
                    fh,
                )
            raw.commit()
            cur.execute("ANALYZE fact")
        else:
            marks = ", ".join("?" * len(COLUMNS))
            with path.open(newline="") as fh:
                rows = (
                    [None if v == NULL else v for v in r[:2]]
                    + [r[2] + ".000000"]
                    + [None if v == NULL else v for v in r[3:]]
                    for r in csv.reader(fh)
                )
                cur.executemany(f"INSERT INTO fact ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
            raw.commit()
            cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def standard_offset(tz: str) -> int:
    """The zone's UTC offset in mid-January, in seconds."""
    offset = datetime(2026, 1, 15, tzinfo=ZoneInfo(tz)).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


# --- what is timed ----------------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def hand_written(engine: sa.Engine) -> float:
    """One INSERT … SELECT … GROUP BY to local days into a bare table: the in-database limit.

    PostgreSQL converts with AT TIME ZONE; SQLite, which has no time zones, with each
    organization's standard offset (wrong on DST days, but no statement can be cheaper).
    """
    sums = ", ".join(
        f"sum({m})"
        for m in ("impressions", "clicks", "spend", "sessions", "conversions", "revenue",
                  "orders", "refunds", "attributed_conversions", "attributed_revenue")
    )  # fmt: skip
    if engine.dialect.name == "postgresql":
        day = "(f.period_start AT TIME ZONE o.timezone)::date"
        join = "JOIN organization o ON o.id = f.org_id"
        create = "CREATE UNLOGGED TABLE IF NOT EXISTS hand_daily AS SELECT * FROM agg_daily LIMIT 0"
    else:
        day = "date(f.period_start, o.shift)"
        join = "JOIN bench_offset o ON o.org_id = f.org_id"
        create = "CREATE TABLE IF NOT EXISTS hand_daily AS SELECT * FROM agg_daily LIMIT 0"
    with engine.begin() as conn:
        conn.execute(sa.text(create))
        conn.execute(sa.text("DELETE FROM hand_daily"))
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_offset (org_id, shift)"))
            conn.execute(sa.text("DELETE FROM bench_offset"))
            for org, tz in enumerate(ZONES, 1):
                conn.execute(
                    sa.text("INSERT INTO bench_offset VALUES (:o, :s)"),
                    {"o": org, "s": f"{standard_offset(tz):+d} seconds"},
                )
    sql = (
        "INSERT INTO hand_daily (org_id, day, source_id, channel, campaign, impressions, clicks, "
        "spend, sessions, conversions, revenue, orders, refunds, attributed_conversions, "
        f"attributed_revenue, skipped_facts) SELECT f.org_id, {day}, f.source_id, f.channel, "
        f"f.campaign, {sums}, 0 FROM fact f {join} GROUP BY f.org_id, {day}, f.source_id, "
        "f.channel, f.campaign"
    )
    with engine.begin() as conn:
        return timed(lambda: conn.execute(sa.text(sql)))


def dpo_all(engine: sa.Engine, orgs: int, grain: Grain, *, full: bool) -> float:
    request = AggregateRequest(full=full)
    return timed(lambda: [aggregate_org(engine, o, grain, request) for o in range(1, orgs + 1)])


def sync_tick(engine: sa.Engine, rng: random.Random) -> tuple[datetime, datetime]:
    """What one sync tick does for organization 1: replace its newest day, record the change."""
    tz = ZoneInfo(ZONES[0])
    day = (END - timedelta(hours=1)).astimezone(tz).date()
    start, end = day_start(day, tz), day_start(day + timedelta(days=1), tz)
    rows = [dict(zip(COLUMNS, r, strict=True)) for r in facts(1, start, end, rng)]
    for row in rows:
        row["period_start"] = datetime.fromisoformat(row["period_start"]).replace(tzinfo=UTC)
    from dpo.storage import tables

    fact, change = tables.fact, tables.fact_change
    with engine.begin() as conn:
        conn.execute(
            sa.delete(fact).where(
                fact.c.org_id == 1, fact.c.period_start >= start, fact.c.period_start < end
            )
        )
        conn.execute(sa.insert(fact), rows)
        for sid in org_sources(1).values():
            conn.execute(
                sa.insert(change).values(
                    org_id=1, source_id=sid, range_start=start, range_end=end, created_at=END
                )
            )
    return start, end


def incremental(engines: dict[str, sa.Engine], orgs: int, repeat: int) -> dict[str, list[float]]:
    """Times of `dpo aggregate hourly` + `daily` for every org, each after one sync tick, on
    each database in turn (interleaved, so a slow moment of the VM hits both alike). Five
    untimed rounds first: the first ticks after a bulk load and a full rebuild run slower."""
    rngs = {label: random.Random(11) for label in engines}
    times: dict[str, list[float]] = {label: [] for label in engines}
    for round_ in range(5 + repeat):
        for label, engine in engines.items():
            sync_tick(engine, rngs[label])
            hourly = dpo_all(engine, orgs, Grain.hour, full=False)
            daily = dpo_all(engine, orgs, Grain.day, full=False)
            if round_ >= 5:
                times[label].append(hourly + daily)
    return times


# --- DuckDB -------------------------------------------------------------------------------------


def duckdb_tables(path: Path) -> object:
    import duckdb

    con = duckdb.connect()
    types = dict.fromkeys(COLUMNS, "VARCHAR")
    counts = ("source_id", "org_id", "impressions", "clicks", "sessions", "users", "orders")
    money = COLUMNS[13:15] + COLUMNS[16:]  # conversions, revenue, refunds, attributed_*
    types |= dict.fromkeys(counts, "BIGINT") | dict.fromkeys(money, "DECIMAL(20,6)")
    types["spend"] = "DECIMAL(20,6)"
    types["period_start"] = "TIMESTAMP"
    con.execute(
        f"CREATE TABLE fact AS SELECT * FROM read_csv('{path}', header=false, "
        f"nullstr='{NULL}', columns={types!r})"
    )
    offsets = ", ".join(f"({org}, {standard_offset(tz)})" for org, tz in enumerate(ZONES, 1))
    con.execute(f"CREATE TABLE off AS SELECT * FROM (VALUES {offsets}) t(org_id, secs)")
    return con


def duckdb_daily(con: object, where: str = "") -> float:
    sql = (
        "CREATE OR REPLACE TABLE out AS SELECT f.org_id, "
        "CAST(f.period_start + to_seconds(o.secs) AS DATE) AS day, f.source_id, f.channel, "
        "f.campaign, sum(impressions), sum(clicks), sum(spend), sum(sessions), sum(conversions), "
        "sum(revenue), sum(orders), sum(refunds), sum(attributed_conversions), "
        f"sum(attributed_revenue) FROM fact f JOIN off o USING (org_id) {where} "
        "GROUP BY ALL"
    )
    return min(timed(lambda: con.execute(sql)) for _ in range(3))  # type: ignore[attr-defined]


# --- the run ------------------------------------------------------------------------------------


def run_backend(backend: str, shape: Shape, workdir: Path, repeat: int) -> dict[str, float]:
    small = Shape(shape.orgs, shape.campaigns, max(2, shape.days // 10))
    out: dict[str, float] = {}
    with ExitStack() as stack:
        engines: dict[str, sa.Engine] = {}
        for label, s in (("small", small), ("big", shape)):
            path = workdir / f"facts-{s.days}.csv"
            rows = write_csv(s, path)
            engine = engines[label] = stack.enter_context(database(backend, workdir))
            out[f"load_{label}"] = timed(lambda e=engine, s=s, p=path: load(e, s, p))
            out[f"rows_{label}"] = rows
            dpo_all(engine, s.orgs, Grain.hour, full=True)
            if label == "big":
                hand, full = [], []
                for _ in range(3):  # interleaved, so a slow moment of the VM hits both alike
                    hand.append(hand_written(engine))
                    full.append(dpo_all(engine, s.orgs, Grain.day, full=True))
                out["hand"], out["full"] = min(hand), min(full)
                out["full_hourly"] = dpo_all(engine, s.orgs, Grain.hour, full=True)
                with engine.connect() as conn:
                    out["daily_rows"] = float(
                        conn.execute(sa.text("SELECT count(*) FROM agg_daily")).scalar() or 0
                    )
                con = duckdb_tables(path)
                out["duck_full"] = duckdb_daily(con)
                tz = ZoneInfo(ZONES[0])
                start = day_start((END - timedelta(hours=1)).astimezone(tz).date(), tz)
                since = f"TIMESTAMP '{start.replace(tzinfo=None)}' - INTERVAL 12 HOUR"
                out["duck_incr"] = duckdb_daily(
                    con, f"WHERE f.org_id = 1 AND f.period_start >= {since}"
                )
            else:
                dpo_all(engine, s.orgs, Grain.day, full=True)
            path.unlink()
        for label, times in incremental(engines, shape.orgs, repeat).items():
            print(
                f"  ({label}: incremental runs, ms: {' '.join(f'{t * 1000:.0f}' for t in times)})"
            )
            out[f"incr_{label}"] = statistics.median(times)
    return out


def report(backend: str, shape: Shape, r: dict[str, float]) -> None:
    series = 1 + len(CHANNELS) + shape.campaigns
    small_days = max(2, shape.days // 10)
    lines = [
        f"\n== {backend}: {int(r['rows_big']):,} facts ({shape.orgs} orgs x {series} hourly "
        f"series x {shape.days} days) -> {int(r['daily_rows']):,} daily rows",
        f"load (COPY / one-transaction insert)     {r['load_big']:8.2f} s",
        f"hand-written INSERT…SELECT…GROUP BY      {r['hand']:8.3f} s",
        f"dpo aggregate daily --full (all orgs)    {r['full']:8.3f} s"
        f"   ratio to hand-written {r['full'] / r['hand']:5.2f}"
        f"   to DuckDB {r['full'] / r['duck_full']:6.1f}",
        f"DuckDB, same rollup in memory            {r['duck_full']:8.3f} s",
        f"dpo aggregate hourly --full (all orgs)   {r['full_hourly']:8.3f} s",
        "incremental after one sync tick (hourly + daily, every org), median:",
        f"  history {small_days:>4} days ({int(r['rows_small']):>9,} facts)"
        f" {r['incr_small'] * 1000:8.1f} ms",
        f"  history {shape.days:>4} days ({int(r['rows_big']):>9,} facts)"
        f" {r['incr_big'] * 1000:8.1f} ms   ratio big/small {r['incr_big'] / r['incr_small']:5.2f}"
        f"   to DuckDB {r['incr_big'] / r['duck_incr']:6.1f}",
        f"  DuckDB, the same day's rollup          {r['duck_incr'] * 1000:8.1f} ms",
    ]
    print("\n".join(lines))
    name = {"sqlite": "SQLite", "pg": "PostgreSQL"}[backend]
    facts = f"{int(r['rows_big']):,} facts"
    record(
        "aggregate",
        f"{name}: full daily rebuild of {facts} vs hand-written INSERT…SELECT",
        f"{r['full']:.2f} s",
        f"{r['hand']:.2f} s",
        r["full"] / r["hand"],
        at_most=1.5,
    )
    record(
        "aggregate",
        f"{name}: the same rollup in DuckDB, for reference (time ratio)",
        f"{r['full']:.2f} s",
        f"{r['duck_full']:.3f} s",
        r["full"] / r["duck_full"],
    )
    record(
        "aggregate",
        f"{name}: incremental after one sync tick, {shape.days} vs {small_days} days of history",
        f"{r['incr_big'] * 1000:.0f} ms",
        f"{r['incr_small'] * 1000:.0f} ms",
        r["incr_big"] / r["incr_small"],
        at_most=1.2,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "pg", "both"), default="both")
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--campaigns", type=int, default=24)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=9, help="incremental runs (median)")
    args = parser.parse_args()
    CAMPAIGNS[:] = [f"{120210000000000000 + i}" for i in range(args.campaigns)]
    shape = Shape(args.orgs, args.campaigns, args.days)
    backends = ("sqlite", "pg") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            report(backend, shape, run_backend(backend, shape, Path(tmp), args.repeat))


if __name__ == "__main__":
    main()
