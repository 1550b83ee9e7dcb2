"""Meta specifics: async report runs, usage headers, API versions, attribution settings."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from typer.testing import Result

from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import MetaHarness, utc
from tests.fakes.meta import Hour

DAY = "2026-03-06"  # older than yesterday at the test clock: an async report run


def add(cli: CliInvoker, meta: MetaHarness, *settings: str, org_tz: str | None = None) -> None:
    tz = org_tz or meta.tz
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", tz, "--currency", "USD")
    extra = [a for s in settings for a in ("--setting", s)]
    cli.ok("sources", "add", "acme", "meta", *meta.source_args(), *extra)


def sync_day(cli: CliInvoker, day: str = DAY) -> Result:
    return cli("sync", "meta", "--since", day, "--until", day)


def expected(meta: MetaHarness, day: str = DAY) -> object:
    d = date.fromisoformat(day)
    return meta.expected_days(d, d)


def test_older_days_use_async_report_runs_polled_until_complete(
    cli: CliInvoker, database: Database, meta: MetaHarness, waits: list[float]
) -> None:
    add(cli, meta)
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    posts = [r for r in meta.fake.requests if r.method == "POST"]
    assert len(posts) == 2  # hourly and daily, each one report run
    form = posts[0].form()
    assert json.loads(form["time_range"]) == {"since": DAY, "until": DAY}
    assert len(meta.meta.runs) == 2 and waits  # polled, with (recorded) waits between polls
    assert meta.stored(database) == expected(meta)


def test_today_and_yesterday_are_plain_paged_requests(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta)
    cli.ok("sync", "meta", "--since", "2026-03-09", "--until", "2026-03-10")
    assert not meta.meta.runs
    assert [r for r in meta.fake.requests if "after" in r.query]  # cursor paging
    assert meta.stored(database) == meta.expected_days(date(2026, 3, 9), date(2026, 3, 10))


def test_a_failed_report_run_is_retried_then_asked_in_smaller_pages(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta)
    meta.meta.next_runs_fail = 3  # hourly: fails twice → plain request; daily: fails once
    result = sync_day(cli)
    assert result.exit_code == 0, result.stderr
    assert len(meta.meta.runs) == 4
    plain = [r for r in meta.fake.requests if r.method == "GET" and "act_" in r.path]
    assert any(r.arg("limit") == "20" and "breakdowns" in r.query for r in plain)
    assert meta.stored(database) == expected(meta)


def test_a_stuck_report_run_leaves_the_day_for_the_next_run(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, "async_timeout_seconds=60")
    meta.meta.runs_stuck = True
    result = cli("sync", "meta", "--since", "2026-03-06", "--until", "2026-03-07")
    assert result.exit_code == 75
    assert "still Job Running after" in result.stderr
    assert database.scalar("SELECT count(*) FROM fact") == 0
    meta.meta.runs_stuck = False
    cli.ok("sync", "meta", "--since", "2026-03-06", "--until", "2026-03-07")
    assert meta.stored(database) == meta.expected_days(date(2026, 3, 6), date(2026, 3, 7))


def test_purchases_use_the_configured_action_type_and_attribution(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, "attribution_windows=28d_click", "async_reports=never")
    sync_day(cli)
    daily = [r for r in meta.fake.requests if "action_attribution_windows" in r.query]
    assert daily and json.loads(daily[0].arg("action_attribution_windows") or "") == ["28d_click"]
    rows = database.rows("SELECT grain, count(*) FROM fact GROUP BY grain ORDER BY grain")
    assert rows == [("day", 3), ("hour", 72)]
    # omni_purchase only, not every purchase type; in the configured window
    day = date.fromisoformat(DAY)
    assert meta.stored(database) == {
        d: t for d, t in meta.meta.day_totals(("28d_click",)).items() if d == day
    }


def test_high_usage_pauses_before_the_next_call(
    cli: CliInvoker, database: Database, meta: MetaHarness, waits: list[float]
) -> None:
    add(cli, meta, "async_reports=never")
    meta.meta.usage_percent = 95
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    assert 60.0 in waits


def test_usage_that_needs_a_long_pause_ends_the_run_with_75(
    cli: CliInvoker, database: Database, meta: MetaHarness, waits: list[float]
) -> None:
    add(cli, meta, "async_reports=never", "max_retry_wait_seconds=120")
    throttled = meta.meta.rate_limited(regain_minutes=30)
    meta.meta.usage_percent = 5  # only the insights calls are throttled
    meta.fake.fail(throttled, times=None, path_contains="insights")
    result = sync_day(cli)
    assert result.exit_code == 75
    assert "the next run carries on" in result.stderr
    assert waits == []


def test_a_deprecated_api_version_exits_4_naming_the_setting(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, "api_version=v19.0")
    result = sync_day(cli)
    assert result.exit_code == 4
    assert "api_version" in result.stderr and "2635" in result.stderr


def test_days_follow_the_ad_accounts_time_zone(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, org_tz="Europe/Berlin")
    sync_day(cli)
    hours = sorted(str(p)[:16] for (p,) in database.rows("SELECT period_start FROM fact"))
    assert (hours[0], hours[-1]) == ("2026-03-06 08:00", "2026-03-07 07:00")  # LA midnight
    assert meta.stored(database) == expected(meta)


def test_bad_settings_are_refused_when_the_source_is_added(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "USD")
    for args, message in [
        (["--account", "acme-ads"], "ad account id"),
        (["--account", "act_1", "--setting", "api_version=26"], "api_version"),
        (["--account", "act_1", "--setting", "async_reports=sometimes"], "async_reports"),
    ]:
        result = cli("sources", "add", "acme", "meta", *args)
        assert result.exit_code == 2, args
        assert message in result.stderr, (args, result.stderr)


def test_the_folded_autumn_hour_and_a_spring_hour_that_does_not_exist(
    cli: CliInvoker, database: Database, meta: MetaHarness, clock: Clock
) -> None:
    clock.moment = datetime(2026, 11, 5, tzinfo=UTC)
    meta.meta.hourly.clear()
    meta.meta.daily.clear()
    meta.meta.generate(date(2026, 11, 1), 1)  # 25 hours in Los Angeles, 24 buckets
    campaign = meta.meta.campaigns[0].id
    # A bucket for 02:00 on the spring-forward day, which does not exist there: dpo adds it to
    # the hour it lands on (03:00 PDT) rather than storing two rows for one UTC hour.
    meta.meta.generate(date(2026, 3, 8), 1)
    meta.meta.hourly[(date(2026, 3, 8), 2, campaign)] = Hour(10, 1, Decimal("1.50"))
    add(cli, meta, "async_reports=never")
    cli.ok("sync", "meta", "--since", "2026-11-01", "--until", "2026-11-01")
    cli.ok("sync", "meta", "--since", "2026-03-08", "--until", "2026-03-08")
    autumn = {
        str(p)[:16]
        for (p,) in database.rows("SELECT period_start FROM fact WHERE grain = 'hour'")
        if str(p).startswith("2026-11")
    }
    assert len(autumn) == 24 and "2026-11-01 08:00" in autumn and "2026-11-01 09:00" not in autumn
    assert meta.stored(database) == meta.expected_days(date(2026, 3, 8), date(2026, 11, 1))
    assert stored_hours(database, meta) == meta.meta.hour_totals()  # the spring hour included


def stored_hours(database: Database, meta: MetaHarness) -> dict[date, dict[str, Decimal]]:
    """The stored hour facts' spend, impressions and clicks, summed per local day."""
    zone = ZoneInfo(meta.tz)
    out: dict[date, dict[str, Decimal]] = {}
    for start, *values in database.rows(
        "SELECT period_start, spend, impressions, clicks FROM fact WHERE grain = 'hour'"
    ):
        day = utc(start).astimezone(zone).date()
        totals = out.setdefault(day, dict.fromkeys(("spend", "impressions", "clicks"), Decimal(0)))
        for name, value in zip(("spend", "impressions", "clicks"), values, strict=True):
            totals[name] += Decimal(str(value))
    return out
