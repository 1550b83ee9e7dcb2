"""The connector contract: every real connector, through its official client library, against
a fake server speaking its upstream's protocol, on SQLite and PostgreSQL.

The CLI's clock is fixed at 2026-03-10 12:00 UTC; retry waits are recorded, never slept.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import DST_DAY, Harness
from tests.fakes.http import Response

SINCE, UNTIL = "2026-03-06", "2026-03-08"


def facts(db: Database) -> list[tuple[object, ...]]:
    return db.rows(
        "SELECT grain, period_start, channel, campaign, campaign_name, currency, impressions, "
        "clicks, spend, sessions, users, conversions, revenue, orders, refunds, "
        "attributed_conversions, attributed_revenue FROM fact "
        "ORDER BY grain, period_start, channel, campaign"
    )


def sync_state(db: Database) -> tuple[object, ...]:
    return db.rows("SELECT watermark, covered_from FROM sync_state")[0]


def last_job(cli: CliInvoker) -> dict[str, object]:
    job: dict[str, object] = json.loads(cli.ok("jobs", "list", "--json").stdout)[0]
    return job


def test_multi_page_results_are_complete_and_match_the_upstream_per_local_day(
    cli: CliInvoker, database: Database, upstream_: Harness
) -> None:
    upstream_.add_source(cli)
    result = cli.ok("sync", upstream_.kind, "--since", SINCE, "--until", UNTIL)
    assert ": ok, 3 windows" in result.stdout
    assert upstream_.later_pages() >= 3  # every window took more than one page
    expected = upstream_.expected_days(date(2026, 3, 6), date(2026, 3, 8))
    assert upstream_.stored(database) == expected
    assert all(totals[upstream_.metrics[0]] > 0 for totals in expected.values())


def test_a_rerun_leaves_the_facts_identical(
    cli: CliInvoker, database: Database, upstream_: Harness
) -> None:
    upstream_.add_source(cli)
    cli.ok("sync", upstream_.kind, "--since", SINCE, "--until", UNTIL)
    first = facts(database)
    assert len(first) > 60
    cli.ok("sync", upstream_.kind, "--since", SINCE, "--until", UNTIL)
    cli.ok("sync", upstream_.kind, "--since", "2026-03-07", "--until", "2026-03-07")
    assert facts(database) == first


def test_restated_upstream_data_replaces_the_old_values(
    cli: CliInvoker, database: Database, upstream_: Harness, clock: Clock
) -> None:
    upstream_.add_source(cli)
    cli.ok("sync", upstream_.kind, "--since", SINCE)
    before = upstream_.stored(database)
    clock.advance(minutes=15)
    day = upstream_.restate(clock)
    if upstream_.kind == "meta":  # today+yesterday only: the restatement waits for a new day
        cli.ok("sync", upstream_.kind)
        assert upstream_.stored(database)[day] == before[day]
        clock.advance(days=1)
    cli.ok("sync", upstream_.kind)
    after = upstream_.stored(database)
    assert after[day] != before[day]
    assert after[day] == upstream_.expected_days(day, day)[day]
    untouched = [d for d in before if d != day and d < date(2026, 3, 9)]
    assert [after[d] for d in untouched] == [before[d] for d in untouched]


def test_rate_limited_then_success_waits_as_asked_and_succeeds(
    cli: CliInvoker, database: Database, upstream_: Harness, waits: list[float]
) -> None:
    upstream_.add_source(cli)
    response, wait = upstream_.rate_limit()
    upstream_.fake.fail(response, times=1, after=1)
    cli.ok("sync", upstream_.kind, "--since", SINCE, "--until", UNTIL)
    assert max(waits) >= wait
    expected = upstream_.expected_days(date(2026, 3, 6), date(2026, 3, 8))
    assert upstream_.stored(database) == expected


def test_a_wait_longer_than_the_time_budget_stops_the_run_at_once(
    cli: CliInvoker, database: Database, upstream_: Harness, waits: list[float]
) -> None:
    upstream_.add_source(cli)
    upstream_.fake.fail(upstream_.rate_limit()[0], times=None)
    result = cli("sync", upstream_.kind, "--since", SINCE, "--until", UNTIL, "--max-seconds", "5")
    assert result.exit_code == 75
    assert "the next run carries on" in result.stderr
    assert waits == []
    assert database.scalar("SELECT count(*) FROM fact") == 0


def test_persistent_server_errors_exit_75_and_write_nothing_half(
    cli: CliInvoker, database: Database, upstream_: Harness, waits: list[float]
) -> None:
    upstream_.add_source(cli)
    cli.ok("sync", upstream_.kind, "--since", SINCE, "--until", "2026-03-07")
    before, state_before = facts(database), sync_state(database)
    upstream_.fake.fail(upstream_.server_error(), times=None, when=upstream_.is_later_page)
    result = cli("sync", upstream_.kind, "--since", "2026-03-08", "--until", "2026-03-09")
    assert result.exit_code == 75
    assert len(result.stderr.strip().splitlines()) == 1
    assert "failed 5 times" in result.stderr
    assert len(waits) >= 4  # five attempts, four waits (and Meta's polls of its report)
    assert facts(database) == before  # the first page of 03-08 was not kept
    assert sync_state(database) == state_before
    job = last_job(cli)
    assert job["status"] == "failed" and "failed 5 times" in str(job["error"])


def test_refused_credentials_exit_4_with_one_clear_line(
    cli: CliInvoker, database: Database, upstream_: Harness, waits: list[float]
) -> None:
    upstream_.add_source(cli)
    upstream_.break_credentials()
    result = cli("sync", upstream_.kind, "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "refused" in lines[0]
    assert "Traceback" not in result.output
    assert waits == []  # permanent: not retried
    stored = json.dumps(database.rows("SELECT error FROM job_run"))
    for text in (result.output, stored):
        assert upstream_.secret not in text
        assert "access_token=" not in text and "consumer_secret" not in text


@pytest.mark.parametrize("status", [502, 200])
def test_an_html_error_page_is_retried(
    cli: CliInvoker, database: Database, upstream_: Harness, waits: list[float], status: int
) -> None:
    upstream_.add_source(cli)
    upstream_.fake.fail(Response.html(status), times=2, when=upstream_.is_later_page)
    cli.ok("sync", upstream_.kind, "--since", SINCE, "--until", UNTIL)
    assert len(waits) >= 2
    expected = upstream_.expected_days(date(2026, 3, 6), date(2026, 3, 8))
    assert upstream_.stored(database) == expected


def test_a_dst_day_is_stored_in_utc_hours_of_the_upstreams_zone(
    cli: CliInvoker, database: Database, upstream_: Harness
) -> None:
    upstream_.add_source(cli)
    day = DST_DAY.isoformat()
    cli.ok("sync", upstream_.kind, "--since", day, "--until", day)
    zone = ZoneInfo(upstream_.tz)
    start = datetime(2026, 3, 8, tzinfo=zone).astimezone(UTC)
    end = datetime(2026, 3, 9, tzinfo=zone).astimezone(UTC)
    assert end - start == timedelta(hours=23)
    hours = {
        _utc(p)
        for (p,) in database.rows("SELECT DISTINCT period_start FROM fact WHERE grain = 'hour'")
    }
    assert hours <= {start + timedelta(hours=h) for h in range(23)}
    assert len(hours) >= 20
    local = {h.astimezone(zone).hour for h in hours}
    assert 2 not in local  # 02:00 does not exist that day
    assert upstream_.stored(database) == upstream_.expected_days(DST_DAY, DST_DAY)


def test_sources_test_says_whether_the_credentials_work(
    cli: CliInvoker, database: Database, upstream_: Harness
) -> None:
    upstream_.add_source(cli)
    ok = cli.ok("sources", "test", "acme")
    assert ok.stdout.count("\n") == 1 and ": ok" in ok.stdout
    upstream_.break_credentials()
    refused = cli("sources", "test", "acme", upstream_.kind)
    assert refused.exit_code == 4
    assert "refused" in refused.stdout + refused.stderr
    assert upstream_.secret not in refused.output


def _utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
