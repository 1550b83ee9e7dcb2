"""Benchmark `dpo insights generate` for many organizations, and `insights detect` on a CSV.

    python bench/insights.py [--orgs 100] [--days 63] [--backend sqlite|pg] [--jobs N]

It builds one demo organization (sync, rollups), clones its sources and rollups into
`--orgs` organizations (the rollups are what the insights read), then measures, in the same
run:

- the baseline: reading every organization's hourly and daily rollups into KPI series, which
  any insights run has to do;
- `insights generate` for all organizations (one job each: lock, job_run row, rollups checked,
  100+ series scored, trends, recommendations, goals, saved), against the baseline and
  against the hour between two cron runs;
- `insights detect` on a 90-day hourly CSV: in-process, and as a fresh `dpo` process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import record

PG_URL = os.environ.get("DPO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 3, 20, 12, 30, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--days", type=int, default=63)
    parser.add_argument("--backend", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--jobs", type=int, default=None, help="processes (default: auto)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["DPO_HOME"] = home
        schema = _database(args.backend)
        try:
            _run(args.orgs, args.days, Path(home), args.jobs)
        finally:
            if schema:
                _drop(schema)


def _database(backend: str) -> str | None:
    if backend == "sqlite":
        return None
    import uuid

    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://"))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    os.environ["DPO_DATABASE_URL"] = f"{PG_URL}?options=-csearch_path%3D{schema}"
    from dpo.storage import db

    db.upgrade(db.get_engine())  # what `dpo init` does
    return schema


def _drop(schema: str) -> None:
    import sqlalchemy as sa

    from dpo.storage import db

    db.reset_caches()
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://"))
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def _run(orgs: int, days: int, home: Path, jobs: int | None) -> None:
    from dpo.jobs.demo import run_demo
    from dpo.storage.db import ready_engine

    started = time.perf_counter()
    run_demo(now=NOW, days=days)
    engine = ready_engine()
    _clone(engine, orgs - 1)
    print(
        f"setup: {orgs} organizations x {days} days of demo rollups "
        f"({_count(engine, 'agg_hourly'):,} hourly and {_count(engine, 'agg_daily'):,} daily "
        f"rows) in {time.perf_counter() - started:.1f}s on {engine.dialect.name}"
    )
    read = _read_all(engine)
    generate, series = _generate_all(orgs, jobs)
    per_org = generate / orgs
    print(f"baseline: read every organization's rollups into KPI series: {read:.2f}s")
    print(
        f"insights generate ({_processes(jobs)}), {orgs} organizations, {series:,} series: "
        f"{generate:.1f}s "
        f"({per_org:.2f}s per organization; {generate / read:.1f}x the baseline; "
        f"{generate / 3600:.1%} of the hour between runs)"
    )
    record(
        "insights",
        f"insights generate, {orgs} organizations ({series:,} series) vs reading their rollups",
        f"{generate:.1f} s",
        f"{read:.2f} s",
        generate / read,
    )
    record(
        "insights",
        f"insights generate, {orgs} organizations, vs the hour between runs",
        f"{generate:.1f} s",
        "3600 s",
        generate / 3600,
        at_most=1.0,
    )
    _detect(home)


def _clone(engine: object, copies: int) -> None:
    """Copy the demo organization's sources, sync state and rollups `copies` times."""
    import sqlalchemy as sa

    from dpo.storage import tables

    tables = {
        "org": tables.organization,
        "source": tables.source,
        "sync": tables.sync_state,
        "hourly": tables.agg_hourly,
        "daily": tables.agg_daily,
        "state": tables.agg_state,
    }
    with engine.begin() as conn:  # type: ignore[attr-defined]
        org = conn.execute(sa.select(tables["org"])).mappings().one()
        sources = list(conn.execute(sa.select(tables["source"])).mappings())
        syncs = list(conn.execute(sa.select(tables["sync"])).mappings())
        states = list(conn.execute(sa.select(tables["state"])).mappings())
        demo = {"org": org, "sources": sources, "syncs": syncs, "states": states}
        for k in range(1, copies + 1):
            _clone_one(conn, tables, demo, k)


def _clone_one(conn, tables, demo, k):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    org, sources, syncs, states = demo["org"], demo["sources"], demo["syncs"], demo["states"]
    values = {**org, "slug": f"demo-{k:03d}", "name": f"Demo {k}"}
    values.pop("id")
    org_id = conn.execute(sa.insert(tables["org"]).values(values)).inserted_primary_key[0]
    mapping = {0: 0}
    for source in sources:
        row = {**source, "org_id": org_id}
        old = row.pop("id")
        mapping[old] = conn.execute(sa.insert(tables["source"]).values(row)).inserted_primary_key[0]
    for sync in syncs:
        conn.execute(
            sa.insert(tables["sync"]).values({**sync, "source_id": mapping[sync["source_id"]]})
        )
    owners = ",".join(
        str(mapping[int(s)]) for s in states[0]["fingerprint"].split("owners=")[1].split(",") if s
    )
    for state in states:
        head = state["fingerprint"].split("owners=")[0]
        conn.execute(
            sa.insert(tables["state"]).values(
                {**state, "org_id": org_id, "fingerprint": head + "owners=" + owners}
            )
        )
    for name in ("hourly", "daily"):
        table = tables[name]
        columns = [c.name for c in table.columns]
        source_case = sa.case(*((table.c.source_id == old, new) for old, new in mapping.items()))
        select = sa.select(
            *(
                sa.literal(org_id)
                if c == "org_id"
                else source_case
                if c == "source_id"
                else table.c[c]
                for c in columns
            )
        ).where(table.c.org_id == 1)
        conn.execute(sa.insert(table).from_select(columns, select))


def _count(engine: object, table: str) -> int:
    import sqlalchemy as sa

    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar())


def _read_all(engine: object) -> float:
    from sqlmodel import Session, select

    from dpo.insights.generate import judged_window, load
    from dpo.settings import get_settings
    from dpo.storage.models import Organization

    started = time.perf_counter()
    with Session(engine) as session:  # type: ignore[arg-type]
        for org in session.exec(select(Organization)):
            window = judged_window(
                session.connection(), org, now=NOW, settings=get_settings().insights
            )
            load(session.connection(), org, window)
    return time.perf_counter() - started


def _processes(jobs: int | None) -> str:
    from dpo.jobs.insights import MAX_AUTO_JOBS

    n = jobs or min(os.cpu_count() or 1, MAX_AUTO_JOBS)
    return "1 process" if n == 1 else f"{n} processes"


def _generate_all(orgs: int, jobs: int | None) -> tuple[float, int]:
    from dpo.jobs.insights import run_insights

    started = time.perf_counter()
    results = run_insights(now=NOW, jobs=jobs)
    seconds = time.perf_counter() - started
    assert len(results) == orgs and all(r.exit_code == 0 for r in results), results[:3]
    return seconds, sum(r.windows for r in results)


def _detect(home: Path) -> None:
    import numpy as np

    from dpo.insights.csvseries import detect_csv

    rng = np.random.default_rng(1)
    path = home / "ninety_days.csv"
    start = datetime(2026, 1, 5)
    hours = 90 * 24
    shape = 1 + 0.8 * np.sin(np.arange(hours) / 24 * 2 * np.pi)
    values = rng.poisson(200 * shape)
    path.write_text(
        "timestamp,value\n"
        + "".join(f"{(start + timedelta(hours=i)).isoformat()},{v}\n" for i, v in enumerate(values))
    )
    started = time.perf_counter()
    detect_csv(path)
    inside = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "dpo", "insights", "detect", str(path), "-o", str(home / "out.csv")],
        check=True,
        capture_output=True,
    )
    process = time.perf_counter() - started
    print(
        f"insights detect, 90-day hourly CSV ({hours:,} rows): {inside:.2f}s in-process, "
        f"{process:.2f}s as a fresh dpo process (imports included)"
    )
    record(
        "insights",
        f"insights detect on a {hours:,}-row CSV: a fresh process vs in-process",
        f"{process:.2f} s",
        f"{inside:.2f} s",
        process / inside,
    )


if __name__ == "__main__":
    main()
