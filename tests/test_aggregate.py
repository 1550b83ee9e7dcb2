"""Rollups equal the sums of the facts, across DST, incrementally as well as in full."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dpo.resources import fx
from dpo.rollup.aggregate import AggregateRequest, aggregate_org
from dpo.storage import tables
from dpo.storage.locks import hold_lock
from dpo.vocab import Grain
from tests import oracle
from tests.conftest import CliInvoker, Database

FACT = tables.fact
CHANGE = tables.fact_change
TABLES = {Grain.hour: tables.agg_hourly, Grain.day: tables.agg_daily}
PROFILES = ("woo", "ga", "meta")  # source ids 1, 2, 3: the store owns the revenue


def setup_org(cli: CliInvoker, *profiles: str, tz: str = "Europe/Berlin") -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", tz, "--currency", "EUR")
    for profile in profiles:
        cli.ok(
            "sources", "add", "acme", "demo", "--account", profile, "--setting", "anchor=2026-01-20"
        )


def stored(db: Database, grain: Grain) -> dict[tuple[Any, ...], dict[str, Any]]:
    table = TABLES[grain]
    key = table.c.day if grain is Grain.day else table.c.hour_start
    columns = [table.c[m] for m in oracle.MEASURES]
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(key, table.c.source_id, table.c.channel, table.c.campaign, *columns)
        )
        return {
            tuple(r[:4]): {m: oracle.norm(v) for m, v in zip(oracle.MEASURES, r[4:], strict=True)}
            for r in rows
        }


def all_facts(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(FACT))]


def aggregate(db: Database, grain: Grain, **request: Any) -> None:
    aggregate_org(db.engine, 1, grain, AggregateRequest(**request))


def check_rollups(
    db: Database, *, tz: str, owners: set[int], rates: Sequence[tuple[date, Decimal]] = ()
) -> None:
    """The rollups equal the oracle's; `rates`: (effective from, rate) of USD → EUR."""
    facts = all_facts(db)
    days = {oracle_day(f, ZoneInfo(tz)) for f in facts}
    by_day = {}
    for day in days:
        effective = [rate for start, rate in sorted(rates) if start <= day]
        if effective:
            by_day[("USD", day)] = effective[-1]
    for grain in Grain:
        want = oracle.expected(
            facts,
            tz=ZoneInfo(tz),
            currency="EUR",
            owners=owners,
            daily=grain is Grain.day,
            rates=by_day,
        )
        assert stored(db, grain) == want, grain


def oracle_day(fact: Mapping[str, Any], tz: ZoneInfo) -> date:
    start: datetime = fact["period_start"]
    return (start + timedelta(hours=12 if fact["grain"] == "day" else 0)).astimezone(tz).date()


# --- random facts --------------------------------------------------------------------------------

BASES = (datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 10, 22, tzinfo=UTC))
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC")
money = st.one_of(st.none(), st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False))
count = st.one_of(st.none(), st.integers(min_value=0, max_value=100_000))


@st.composite
def fact_rows(draw: st.DrawFn, base: datetime, *, hours: int = 24 * 30) -> list[dict[str, Any]]:
    keys = draw(
        st.sets(
            st.tuples(
                st.sampled_from((1, 2, 3)),
                st.sampled_from(("hour", "hour", "day")),
                st.integers(min_value=0, max_value=hours),
                st.sampled_from(("", "Paid Social", "Email")),
                st.sampled_from(("", "c1", "c2")),
            ),
            max_size=40,
        )
    )
    rows = []
    for source_id, grain, hour, channel, campaign in keys:
        rows.append(
            {
                "source_id": source_id,
                "org_id": 1,
                "grain": grain,
                "period_start": base + timedelta(hours=hour),
                "channel": channel,
                "campaign": campaign,
                "campaign_name": f"Campaign {campaign}" if campaign else None,
                "currency": draw(st.sampled_from((None, "EUR", "EUR", "EUR", "USD"))),
                "impressions": draw(count),
                "clicks": draw(count),
                "spend": draw(money),
                "sessions": draw(count),
                "users": draw(count),
                "conversions": draw(money),
                "revenue": draw(money),
                "orders": draw(count),
                "refunds": draw(money),
                "attributed_conversions": draw(money),
                "attributed_revenue": draw(money),
            }
        )
    return rows


def replace_facts(db: Database, rows: list[dict[str, Any]], start: datetime, end: datetime) -> None:
    """What a sync window does: replace a range's facts and record the change."""
    with db.engine.begin() as conn:
        conn.execute(sa.delete(FACT).where(FACT.c.period_start >= start, FACT.c.period_start < end))
        inside = [r for r in rows if start <= r["period_start"] < end]
        if inside:
            conn.execute(sa.insert(FACT), inside)
        for source_id in (1, 2, 3):
            conn.execute(
                sa.insert(CHANGE).values(
                    org_id=1, source_id=source_id, range_start=start, range_end=end, created_at=end
                )
            )


@pytest.fixture
def acme(cli: CliInvoker, database: Database) -> Database:
    setup_org(cli, *PROFILES)
    return database


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    tz=st.sampled_from(ZONES),
    base=st.sampled_from(BASES),
)
def test_rollups_equal_the_sums_of_the_facts_full_and_incremental(
    acme: Database, data: st.DataObject, tz: str, base: datetime
) -> None:
    with acme.engine.begin() as conn:
        for table in (FACT, CHANGE, tables.fx_rate, *TABLES.values()):
            conn.execute(sa.delete(table))
        conn.execute(sa.text("UPDATE organization SET timezone = :tz"), {"tz": tz})
    rates = data.draw(usd_rates(base))
    fx.save_rates(acme.engine, [fx.Rate("USD", "EUR", d, r) for d, r in rates])
    span = (base - timedelta(days=1), base + timedelta(days=32))
    replace_facts(acme, data.draw(fact_rows(base)), *span)
    for grain in Grain:
        aggregate(acme, grain)  # the first run (and a time zone change) rebuilds in full
    check_rollups(acme, tz=tz, owners={1}, rates=rates)

    # A later sync rewrites a few days; the incremental run must match the facts again.
    first = base + timedelta(hours=data.draw(st.integers(0, 24 * 28)))
    end = first + timedelta(hours=data.draw(st.integers(1, 24 * 3)))
    replace_facts(acme, data.draw(fact_rows(base)), first, end)
    for grain in Grain:
        aggregate(acme, grain)
    check_rollups(acme, tz=tz, owners={1}, rates=rates)
    assert acme.scalar("SELECT count(*) FROM fact_change") == 0

    # A rate added or changed later recomputes what it converts, incrementally too.
    more = data.draw(usd_rates(base))
    fx.save_rates(acme.engine, [fx.Rate("USD", "EUR", d, r) for d, r in more])
    for grain in Grain:
        aggregate(acme, grain)
    check_rollups(acme, tz=tz, owners={1}, rates=list({**dict(rates), **dict(more)}.items()))


@st.composite
def usd_rates(draw: st.DrawFn, base: datetime) -> list[tuple[date, Decimal]]:
    """A few USD → EUR rates effective from days around `base`'s month."""
    days = draw(st.sets(st.integers(-2, 33), max_size=3))
    rate = st.decimals(min_value=Decimal("0.5"), max_value=Decimal(2), places=4)
    return [(base.date() + timedelta(days=d), draw(rate)) for d in sorted(days)]


# --- DST -----------------------------------------------------------------------------------------


def hourly_orders(start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows, moment = [], start
    while moment < end:
        rows.append(fact(1, "hour", moment, orders=1, revenue=Decimal("10.00")))
        moment += timedelta(hours=1)
    return rows


def fact(source_id: int, grain: str, start: datetime, **metrics: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys((*oracle.SUMS, *oracle.OWNED, "users"))
    row.update(
        source_id=source_id,
        org_id=1,
        grain=grain,
        period_start=start,
        channel="",
        campaign="",
        campaign_name=None,
        currency="EUR",
    )
    row.update(metrics)
    return row


@pytest.mark.parametrize(
    ("tz", "short_day", "long_day"),
    [
        ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
        ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
    ],
)
def test_dst_days_have_23_and_25_hours(
    cli: CliInvoker, database: Database, tz: str, short_day: date, long_day: date
) -> None:
    setup_org(cli, *PROFILES, tz=tz)
    zone = ZoneInfo(tz)
    rows = []
    for day in (short_day, long_day):
        midnight = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        rows += hourly_orders(midnight - timedelta(days=2), midnight + timedelta(days=3))
        # Meta's daily purchases, stamped with the local midnight that starts the day.
        rows.append(fact(3, "day", midnight, attributed_conversions=Decimal(7)))
    replace_facts(
        database, rows, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    cli.ok("aggregate", "daily", "--quiet")
    cli.ok("aggregate", "hourly", "--quiet")
    got = dict(
        database.rows(
            "SELECT day, orders FROM agg_daily WHERE source_id = 0 AND orders IS NOT NULL"
        )
    )
    got = {date.fromisoformat(str(d)[:10]): n for d, n in got.items()}
    for day, hours in ((short_day, 23), (long_day, 25)):
        assert got[day - timedelta(days=1)] == 24
        assert got[day] == hours
        assert got[day + timedelta(days=1)] == 24
    purchases = database.rows(
        "SELECT day, attributed_conversions FROM agg_daily WHERE source_id = 0 "
        "AND attributed_conversions IS NOT NULL ORDER BY day"
    )
    assert [str(d)[:10] for d, _ in purchases] == [short_day.isoformat(), long_day.isoformat()]
    # Daily-only metrics are "not available" hourly: NULL, not zero.
    assert (
        database.scalar("SELECT count(*) FROM agg_hourly WHERE attributed_conversions IS NOT NULL")
        == 0
    )
    report = json.loads(
        cli.ok(
            "report", "--org", "acme", "--since", str(long_day), "--until", str(long_day), "--json"
        ).stdout
    )
    assert report["totals"]["orders"] == 25
    assert report["totals"]["attributed_conversions"] == 7


def test_a_day_fact_is_the_days_figure_and_the_hours_its_shape(
    cli: CliInvoker, database: Database
) -> None:
    """GA's distinct sessions and Meta's day spend beat the sum of their (overlapping) hours."""
    setup_org(cli, *PROFILES, tz="UTC")
    day = datetime(2026, 3, 10, tzinfo=UTC)
    rows = [
        # GA: a session in two hours counts in both; the day's own figure says 150, not 180.
        fact(2, "hour", day + timedelta(hours=9), sessions=100),
        fact(2, "hour", day + timedelta(hours=10), sessions=80),
        fact(2, "day", day, sessions=150),
        # Meta: estimated hourly spend, and the day's billed spend.
        fact(3, "hour", day + timedelta(hours=9), spend=Decimal("10.00"), clicks=4),
        fact(3, "hour", day + timedelta(hours=10), spend=Decimal("12.00"), clicks=5),
        fact(3, "day", day, spend=Decimal("23.50"), attributed_conversions=Decimal(2)),
        # The next day has hours only: they add up as before.
        fact(3, "hour", day + timedelta(hours=33), spend=Decimal("5.00")),
    ]
    replace_facts(database, rows, day - timedelta(days=1), day + timedelta(days=3))
    cli.ok("aggregate", "daily", "--quiet")
    cli.ok("aggregate", "hourly", "--quiet")
    daily = {
        str(d)[:10]: (s, sp, c)
        for d, s, sp, c in database.rows(
            "SELECT day, sessions, spend, clicks FROM agg_daily WHERE source_id = 0 ORDER BY day"
        )
    }
    assert daily["2026-03-10"][0] == 150
    assert Decimal(daily["2026-03-10"][1]) == Decimal("23.50")
    assert daily["2026-03-10"][2] == 9  # no day figure for clicks: the hours' sum
    assert Decimal(daily["2026-03-11"][1]) == Decimal("5.00")
    hourly = database.rows(
        "SELECT sessions, spend FROM agg_hourly WHERE source_id = 0 ORDER BY hour_start"
    )
    assert [(s, Decimal(sp)) for s, sp in hourly[:2]] == [
        (100, Decimal("10.00")),
        (80, Decimal("12.00")),
    ]


# --- real syncs ----------------------------------------------------------------------------------


def snapshot(db: Database) -> tuple[dict[Any, Any], dict[Any, Any]]:
    return stored(db, Grain.hour), stored(db, Grain.day)


def test_incremental_after_a_small_sync_equals_a_full_rebuild(
    cli: CliInvoker, database: Database
) -> None:
    setup_org(cli, *PROFILES)
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-08")
    cli.ok("aggregate", "hourly")
    cli.ok("aggregate", "daily")
    before = snapshot(database)
    # The upstream restates two days (another seed gives other numbers).
    reseed(database, 8)
    cli.ok("sync", "demo", "--since", "2026-01-04", "--until", "2026-01-05")
    hourly = cli.ok("aggregate", "hourly").stdout
    daily = cli.ok("aggregate", "daily").stdout
    assert "full rebuild" not in hourly + daily
    incremental = snapshot(database)
    assert incremental != before
    cli.ok("aggregate", "hourly", "--full")
    assert "full rebuild" in cli.ok("aggregate", "daily", "--full").stdout
    assert snapshot(database) == incremental
    changed_days = {k[0] for k, v in incremental[1].items() if before[1].get(k) != v}
    assert changed_days <= {date(2026, 1, d) for d in (3, 4, 5, 6)}


def reseed(db: Database, seed: int) -> None:
    """Give every demo source another seed: the upstream now serves other numbers."""
    from sqlmodel import Session, select

    from dpo.storage.models import Source

    with Session(db.engine) as session:
        for source in session.exec(select(Source)):
            source.settings = {**source.settings, "seed": seed}
            session.add(source)
        session.commit()


def database_exec(db: Database, sql: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql))


def test_revenue_has_one_owner_and_attributed_revenue_stays_apart(
    cli: CliInvoker, database: Database
) -> None:
    setup_org(cli, "woo", "ga", "meta")
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-03")
    cli.ok("aggregate", "daily")

    def total(sql: str) -> Decimal:
        return Decimal(str(database.scalar(sql))).quantize(Decimal("0.01"))

    woo = total("SELECT sum(revenue) FROM fact WHERE source_id = 1")
    ga = total("SELECT sum(revenue) FROM fact WHERE source_id = 2")
    meta = total("SELECT sum(attributed_revenue) FROM fact WHERE source_id = 3")
    assert woo != ga
    assert total("SELECT sum(revenue) FROM agg_daily WHERE source_id = 0") == woo
    assert total("SELECT sum(attributed_revenue) FROM agg_daily WHERE source_id = 0") == meta
    assert total("SELECT sum(source_revenue) FROM agg_daily WHERE source_id = 2") == ga
    # Without its store, the organization's revenue is GA's (a settings change: full rebuild).
    database_exec(database, "DELETE FROM source WHERE id = 1")
    assert "settings changed" in cli.ok("aggregate", "daily").stdout
    assert total("SELECT sum(revenue) FROM agg_daily WHERE source_id = 0") == ga


def test_money_in_another_currency_is_converted_with_its_days_rate_and_counts_always_count(
    cli: CliInvoker, acme: Database
) -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    rows = [
        fact(3, "hour", start, spend=Decimal("10.00"), clicks=5),
        fact(
            3, "hour", start + timedelta(hours=1), spend=Decimal("99.00"), clicks=7, currency="USD"
        ),
    ]
    replace_facts(acme, rows, start, start + timedelta(days=1))
    result = cli.ok("aggregate", "daily", "--quiet")
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "Warning: acme: 1 fact has money in a currency no rate converts into EUR: left out of "
        "its money totals (`dpo report` says which; `dpo fx set` adds a rate)"
    )
    totals = "SELECT spend, clicks, skipped_facts FROM agg_daily WHERE source_id = 0"
    ((spend, clicks, skipped),) = acme.rows(totals)
    assert (Decimal(str(spend)), clicks, skipped) == (Decimal(10), 12, 1)
    period = ("--since", "2026-01-05", "--until", "2026-01-05", "--json")
    report = json.loads(cli.ok("report", "--org", "acme", *period).stdout)
    assert report["totals"]["spend"] == 10
    assert report["totals"]["clicks"] == 12
    assert (
        "USD 99.00 of demo:meta (demo) spend not converted: no USD→EUR rate for 2026-01-05 "
        "(add one with `dpo fx set USD EUR RATE --from DAY`)"
    ) in report["warnings"]

    # The inverse of a EUR → USD rate converts it, once the rollups are recomputed.
    saved = cli.ok("fx", "set", "eur", "usd", "1.1", "--from", "2026-01-01")
    assert saved.stdout.splitlines() == [
        "Rates: 1 added, 0 changed.",
        "The next `dpo aggregate` recomputes the money of 1 organization with them.",
    ]
    cli.ok("aggregate", "daily", "--quiet")
    ((spend, clicks, skipped),) = acme.rows(totals)
    assert (Decimal(str(spend)).quantize(Decimal("0.01")), clicks, skipped) == (
        Decimal("100.00"),
        12,
        0,
    )
    report = json.loads(cli.ok("report", "--org", "acme", *period).stdout)
    assert report["totals"]["spend"] == 100
    assert not any("not converted" in w for w in report["warnings"])

    # A corrected rate recomputes again; an unchanged one changes nothing.
    assert (
        "0 added, 1 changed"
        in cli.ok("fx", "set", "EUR", "USD", "0.9", "--from", "2026-01-01").stdout
    )
    assert "1 unchanged" in cli.ok("fx", "set", "EUR", "USD", "0.9", "--from", "2026-01-01").stdout
    cli.ok("aggregate", "daily", "--quiet")
    ((spend, _, _),) = acme.rows(totals)
    assert Decimal(str(spend)).quantize(Decimal("0.01")) == Decimal("120.00")


def test_each_rollup_consumes_changes_on_its_own(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "woo")
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-03")
    assert database.scalar("SELECT count(*) FROM fact_change") == 3
    cli.ok("aggregate", "daily")
    assert database.rows("SELECT hourly_done, daily_done FROM fact_change") == [(False, True)] * 3
    cli.ok("aggregate", "hourly")
    assert database.scalar("SELECT count(*) FROM fact_change") == 0
    cli.ok("sync", "demo", "--since", "2026-01-03", "--until", "2026-01-03")
    again = cli.ok("aggregate", "hourly").stdout
    # one day: 24 source rows + 24 total rows
    assert again.startswith("acme/hourly: ok, 1 range, 48 rows")


# --- the command ---------------------------------------------------------------------------------


def test_aggregate_prints_one_line_per_org_and_records_the_run(
    cli: CliInvoker, database: Database
) -> None:
    setup_org(cli, "woo")
    cli.ok("orgs", "add", "beta", "--name", "Beta", "--timezone", "UTC", "--currency", "USD")
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-02")
    lines = cli.ok("aggregate", "daily").stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["acme/daily", "beta/daily"]
    # two days: a source row and a total row each
    assert lines[0].startswith("acme/daily: ok, 1 range, 4 rows in ")
    assert lines[0].endswith("(full rebuild: first run)")
    jobs = json.loads(cli.ok("jobs", "list", "--json").stdout)
    assert [(j["job"], j["org"], j["status"]) for j in jobs[:2]] == [
        ("aggregate daily", "beta", "ok"),
        ("aggregate daily", "acme", "ok"),
    ]
    quiet = cli.ok("aggregate", "hourly", "--org", "acme", "--quiet")
    assert quiet.stdout == "" and quiet.stderr == ""
    assert database.scalar("SELECT count(*) FROM agg_hourly WHERE source_id = 0") == 48


def test_a_held_lock_skips_with_exit_75(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "woo")
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-02")
    with hold_lock(database.engine, "aggregate:day:org:1"):
        result = cli("aggregate", "daily")
        quiet = cli("aggregate", "daily", "--quiet")
    assert result.exit_code == quiet.exit_code == 75
    assert quiet.stdout == quiet.stderr == ""  # cron: another run has it in hand
    assert "another process is running aggregate daily for acme/daily" in result.stderr
    assert database.scalar("SELECT count(*) FROM agg_daily") == 0
    assert database.scalar("SELECT count(*) FROM fact_change WHERE daily_done") == 0
    cli.ok("aggregate", "daily", "--quiet")
    assert database.scalar("SELECT count(*) FROM agg_daily") == 4


def test_since_rebuilds_from_a_day_on(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "woo")
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-04")
    cli.ok("aggregate", "daily")
    database_exec(database, "UPDATE agg_daily SET orders = -1")
    assert "rebuilt from --since" in cli.ok("aggregate", "daily", "--since", "2026-01-03").stdout
    days = database.rows("SELECT day, orders FROM agg_daily WHERE source_id = 0 ORDER BY day")
    assert [o for _, o in days[:2]] == [-1, -1]  # untouched before --since
    assert all(o >= 0 for _, o in days[2:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("daily", "--org", "nope"), "Error: unknown organization 'nope'"),
        (("daily", "--full", "--since", "2026-01-01"), "Error: give --full or --since, not both"),
        (("hourly", "--since", "01/02/2026"), "Error: --since: '01/02/2026' is not a date"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    cli: CliInvoker, database: Database, args: tuple[str, ...], message: str
) -> None:
    setup_org(cli, "woo")
    result = cli("aggregate", *args)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)
    assert database.scalar("SELECT count(*) FROM job_run") == 0


def test_no_organizations_is_a_configuration_error(cli: CliInvoker, database: Database) -> None:
    result = cli("aggregate", "daily")
    assert result.exit_code == 3
    assert "no organizations to aggregate" in result.stderr


def test_an_org_consumes_only_its_own_changes(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "woo")
    cli.ok("orgs", "add", "beta", "--name", "Beta", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("sources", "add", "beta", "demo", "--account", "woo")
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-02")
    cli.ok("aggregate", "daily", "--org", "acme")
    cli.ok("aggregate", "hourly", "--org", "acme")
    left = database.rows(
        "SELECT o.slug, count(*) FROM fact_change c JOIN organization o ON o.id = c.org_id "
        "GROUP BY o.slug"
    )
    assert left == [("beta", 2)]
    assert database.scalar("SELECT count(*) FROM agg_daily WHERE org_id = 2") == 0
