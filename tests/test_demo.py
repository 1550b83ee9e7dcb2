"""The demo source is deterministic, and `dpo demo` sets up a working organization."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from dpo.connectors.base import Budget, FactRow, SourceSpec, Window
from dpo.connectors.demo import DemoConnector
from tests.conftest import CliInvoker, Database

TODAY = date(2026, 11, 26)


def connector(profile: str, **settings: object) -> DemoConnector:
    normalized = DemoConnector.normalize_settings(profile, settings, today=TODAY)
    return DemoConnector(
        SourceSpec(1, 1, "acme", "demo", profile, "x", "Europe/Berlin", "EUR", settings=normalized)
    )


def rows(
    conn: DemoConnector, first: date, n_days: int, *, now: datetime | None = None
) -> list[FactRow]:
    now = now or datetime(2027, 1, 1, tzinfo=UTC)
    out: list[FactRow] = []
    for i in range(n_days):
        out += list(
            conn.fetch_window(
                Window.for_day(first + timedelta(days=i), conn.timezone()), now=now, budget=Budget()
            )
        )
    return out


def reported(row: FactRow, metric: str) -> Decimal:
    """A metric the demo source reports (it never leaves one out)."""
    value = row.metrics.get(metric)
    assert value is not None, (row, metric)
    return Decimal(value)


@pytest.mark.parametrize("profile", ["ga", "meta", "woo"])
def test_same_seed_same_data_other_seed_other_data(profile: str) -> None:
    a = rows(connector(profile, seed=11), date(2026, 10, 1), 3)
    b = rows(connector(profile, seed=11), date(2026, 10, 1), 3)
    c = rows(connector(profile, seed=12), date(2026, 10, 1), 3)
    assert a == b
    assert a != c
    assert len(a) == len(c) > 0


def test_an_hour_is_the_same_whenever_it_is_fetched() -> None:
    conn = connector("meta", seed=5)
    window = Window.for_day(date(2026, 10, 1), conn.timezone())
    midday = window.start + timedelta(hours=12, minutes=30)
    early = {
        (r.campaign, r.period_start): r
        for r in conn.fetch_window(window, now=midday, budget=Budget())
        if r.grain == "hour"
    }
    late = {
        (r.campaign, r.period_start): r
        for r in conn.fetch_window(window, now=window.end, budget=Budget())
        if r.grain == "hour"
    }
    assert len(early) == 13 * 4 and len(late) == 24 * 4
    assert all(late[key] == row for key, row in early.items())


def test_no_data_from_the_future() -> None:
    conn = connector("woo")
    now = datetime(2026, 10, 1, 7, 15, tzinfo=UTC)  # 09:15 in Berlin
    got = rows(conn, date(2026, 10, 1), 1, now=now)
    assert [r.period_start.hour for r in got] == [22, 23, 0, 1, 2, 3, 4, 5, 6, 7]


def test_shapes_match_the_upstreams() -> None:
    ga = rows(connector("ga"), date(2026, 10, 1), 1)
    assert {r.channel for r in ga} >= {"Organic Search", "Paid Social", "Direct"}
    assert all(r.spend is None and r.sessions is not None for r in ga)
    meta = rows(connector("meta"), date(2026, 10, 1), 1)
    hourly = [r for r in meta if r.grain == "hour"]
    daily = [r for r in meta if r.grain == "day"]
    assert len(hourly) == 24 * 4 and len(daily) == 4
    assert all(r.attributed_revenue is None and r.spend is not None for r in hourly)
    assert all(r.attributed_revenue is not None and r.spend is None for r in daily)
    woo = rows(connector("woo"), date(2026, 10, 1), 1)
    assert all(r.orders is not None and r.sessions is None for r in woo)


def test_injected_incidents_show_in_the_data() -> None:
    ga, meta, woo = connector("ga"), connector("meta"), connector("woo")
    (outage,) = ga.incidents()
    day = outage.start.astimezone(ga.timezone()).date()
    hours = {r.period_start for r in rows(ga, day, 1)}
    assert outage.start not in hours and outage.start - timedelta(hours=1) in hours

    (spike,) = meta.incidents()
    spend = {
        r.period_start: reported(r, "spend")
        for r in rows(meta, spike.start.date(), 1)
        if r.campaign == spike.campaign and r.grain == "hour"
    }
    week_before = {
        r.period_start: reported(r, "spend")
        for r in rows(meta, spike.start.date() - timedelta(7), 1)
        if r.campaign == spike.campaign and r.grain == "hour"
    }
    assert spend[spike.start] > 2 * week_before[spike.start - timedelta(days=7)]

    (drop,) = woo.incidents()
    day = drop.start.astimezone(woo.timezone()).date()
    during = sum(
        reported(r, "orders") for r in rows(woo, day, 1) if drop.start <= r.period_start < drop.end
    )
    before = sum(
        reported(r, "orders")
        for r in rows(woo, day - timedelta(7), 1)
        if drop.start - timedelta(7) <= r.period_start < drop.end - timedelta(7)
    )
    assert during < before / 2


def test_demo_command_end_to_end_and_safe_to_rerun(cli: CliInvoker, database: Database) -> None:
    first = cli.ok("demo", "--days", "30")
    assert "Created organization 'demo'" in first.stdout
    assert "tracking_outage" in first.stdout and "dpo orgs show demo" in first.stdout
    assert "what dpo found (times in Europe/Berlin)" in first.stdout
    assert "Trends and recommendations dpo found" in first.stdout
    assert "Move budget from Prospecting - Broad" in first.stdout
    assert "demo/daily: ok" in first.stdout and "full rebuild" in first.stdout
    assert first.stdout.rstrip().splitlines()[-1].startswith("└")  # it ends with the report
    assert "KPIs" in first.stdout and "By channel" in first.stdout
    count = database.scalar("SELECT count(*) FROM fact")
    assert count and count > 30 * 24 * 10
    second = cli.ok("demo", "--days", "30")
    assert "Reused organization 'demo'" in second.stdout
    assert "demo/daily: ok" in second.stdout and "full rebuild" not in second.stdout
    assert database.scalar("SELECT count(*) FROM fact") == count
    sources = json.loads(cli.ok("sources", "list", "--org", "demo", "--json").stdout)
    assert sorted(s["account"] for s in sources) == ["ga", "meta", "woo"]


def test_the_demo_creates_its_schema_in_an_empty_postgresql_database(
    cli: CliInvoker, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dpo.config import configure
    from dpo.storage import db as dbmod

    monkeypatch.setenv("DPO_DATABASE_URL", pg_url)
    configure(config_file=None)
    dbmod.reset_caches()
    first = cli.ok("demo", "--days", "3")
    assert "Schema created at" in first.stdout
    assert "Created organization 'demo'" in first.stdout
    assert "Schema" not in cli.ok("demo", "--days", "3").stdout


def test_demo_json_is_one_object_with_the_jobs_incidents_and_report(
    cli: CliInvoker, database: Database
) -> None:
    result = cli.ok("demo", "--days", "20", "--json")
    out = json.loads(result.stdout)  # stdout holds the object and nothing else
    assert (out["org"], out["created"], out["days"]) == ("demo", True, 20)
    assert [s["status"] for s in out["syncs"]] == ["ok", "ok", "ok"]
    assert sum(s["rows_written"] for s in out["syncs"]) == database.scalar(
        "SELECT count(*) FROM fact"
    )
    assert {r["label"] for r in out["rollups"]} == {"demo/hourly", "demo/daily"}
    assert out["incidents"] and all(
        set(i) == {"kind", "profile", "start", "end", "description", "found"}
        for i in out["incidents"]
    )
    assert out["report"]["org"] == "demo" and out["report"]["totals"]["orders"] > 0
    assert all(
        set(m) == {"id", "kind", "severity", "title"} and m["kind"] in ("trend", "recommendation")
        for m in out["movements"]
    )
    again = json.loads(cli.ok("demo", "--days", "20", "--json").stdout)
    assert again["created"] is False
