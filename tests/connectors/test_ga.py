"""GA4 specifics: the property's own time zone, DST folds, campaigns, quota, refusals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import GaHarness


def add(cli: CliInvoker, ga: GaHarness, *settings: str, org_tz: str = "America/New_York") -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", org_tz, "--currency", "USD")
    extra = [a for s in settings for a in ("--setting", s)]
    cli.ok("sources", "add", "acme", "ga", *ga.source_args(), *extra)


def test_days_follow_the_property_time_zone_that_ga_reports(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga, org_tz="Europe/Berlin")  # the organization's zone is not the property's
    cli.ok("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    hours = sorted(p for (p,) in database.rows("SELECT DISTINCT period_start FROM fact"))
    first, last = (datetime.fromisoformat(str(h)[:19]) for h in (hours[0], hours[-1]))
    assert (first.isoformat(), last.isoformat()) == ("2026-03-07T05:00:00", "2026-03-08T04:00:00")
    assert ga.stored(database) == ga.expected_days(date(2026, 3, 7), date(2026, 3, 7))


def test_a_configured_time_zone_that_ga_contradicts_is_an_error_naming_the_fix(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga, "timezone=Europe/Paris")
    result = cli("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    assert result.exit_code == 1
    assert "--setting timezone=America/New_York" in result.stderr
    assert database.scalar("SELECT count(*) FROM fact") == 0


def test_the_repeated_autumn_hour_is_stored_once_at_its_first_utc_hour(
    cli: CliInvoker, database: Database, ga: GaHarness, clock: Clock
) -> None:
    clock.moment = datetime(2026, 11, 5, tzinfo=UTC)
    ga.ga.data.clear()
    ga.ga.generate(date(2026, 11, 1), 1)  # 25 hours in New York, but 24 dateHours
    add(cli, ga)
    cli.ok("sync", "ga", "--since", "2026-11-01", "--until", "2026-11-01")
    hours = {str(p)[:16] for (p,) in database.rows("SELECT period_start FROM fact")}
    assert len(hours) == 24
    assert "2026-11-01 05:00" in hours and "2026-11-01 06:00" not in hours  # 01:00 EDT, not EST
    assert ga.stored(database) == ga.expected_days(date(2026, 11, 1), date(2026, 11, 1))


def test_a_campaign_dimension_breaks_facts_down_by_campaign(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    ga.ga.data.clear()
    ga.ga.generate(date(2026, 3, 7), 1, campaigns=True)
    add(cli, ga, "campaign_dimension=sessionCampaignName")
    cli.ok("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    campaigns = {c for (c,) in database.rows("SELECT DISTINCT campaign FROM fact")}
    assert campaigns == {"spring_sale", "(not set)"}
    assert ga.stored(database) == ga.expected_days(date(2026, 3, 7), date(2026, 3, 7))
    sent = json.loads(ga.fake.requests[-1].body)
    assert [d["name"] for d in sent["dimensions"]][-1] == "sessionCampaignName"
    assert sent["returnPropertyQuota"] is True


def test_the_run_stops_before_the_property_quota_runs_out(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga, "quota_reserve_tokens=2000")
    ga.ga.tokens_left = 2004  # enough for the probe and a few pages, then below the reserve
    result = cli("sync", "ga", "--since", "2026-03-06", "--until", "2026-03-08")
    assert result.exit_code == 75
    assert "GA quota nearly spent" in result.stderr
    assert ga.ga.tokens_left >= 1990  # it stopped asking
    done = {str(p)[:10] for (p,) in database.rows("SELECT DISTINCT period_start FROM fact")}
    assert done and "2026-03-09" not in done  # finished windows are kept, later ones wait


def test_no_access_to_the_property_exits_4_naming_the_fix(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga)
    ga.ga.property_id = "999"  # the service account sees another property, not this one
    result = cli("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    assert result.exit_code == 4
    assert "Viewer" in result.stderr and "PERMISSION_DENIED" in result.stderr


def test_a_secret_that_is_not_a_key_is_a_configuration_error(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga)
    ga.key_file.write_text("not json")
    result = cli("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    assert result.exit_code == 3
    assert "not a service-account JSON key" in result.stderr


def test_bad_settings_are_refused_when_the_source_is_added(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "USD")
    for args, message in [
        (["--account", "properties/12x"], "GA4 property id"),
        (["--account", "123", "--setting", "page_size=0"], "page_size"),
        (["--account", "123", "--setting", "colour=blue"], "unknown setting colour"),
        (["--account", "123", "--setting", "timezone=Mars/Base"], "unknown time zone"),
    ]:
        result = cli("sources", "add", "acme", "ga", *args)
        assert result.exit_code == 2, args
        assert message in result.stderr, (args, result.stderr)


# --- what GA's numbers mean ----------------------------------------------------------------------


def report_totals(cli: CliInvoker, day: str) -> dict[str, object]:
    cli.ok("aggregate", "daily", "--quiet")
    out = json.loads(
        cli.ok("report", "--org", "acme", "--since", day, "--until", day, "--json").stdout
    )
    assert isinstance(out, dict)
    return out


def test_daily_sessions_are_gas_own_daily_figure_not_the_sum_of_hours(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga)
    cli.ok("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    gas_own = ga.ga.day_totals()[date(2026, 3, 7)]["sessions"]
    hours = database.scalar("SELECT sum(sessions) FROM fact WHERE grain = 'hour'")
    assert hours > gas_own  # sessions spanning hours count in each of them
    report = report_totals(cli, "2026-03-07")
    assert report["totals"]["sessions"] == gas_own  # type: ignore[index]
    # The hours keep GA's hourly figures for hourly charts.
    cli.ok("aggregate", "hourly", "--quiet")
    assert database.scalar("SELECT sum(sessions) FROM agg_hourly WHERE source_id = 0") == hours
    sent = [json.loads(r.body) for r in ga.fake.requests if r.path.endswith(":runReport")]
    periods = [b["dimensions"][0]["name"] for b in sent[1:]]  # after the time zone probe
    assert set(periods) == {"dateHour", "date"} and periods[-1] == "date"
    assert [m["name"] for m in sent[-1]["metrics"]] == ["sessions", "totalUsers"]


def test_purchases_and_purchase_revenue_not_every_key_event_nor_ad_revenue(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga)
    cli.ok("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    want = ga.ga.day_totals()[date(2026, 3, 7)]
    orders, events, revenue = database.rows(
        "SELECT sum(orders), sum(conversions), sum(revenue) FROM fact WHERE grain = 'hour'"
    )[0]
    assert orders == want["orders"] < events == want["conversions"]
    assert Decimal(str(revenue)).quantize(Decimal("0.01")) == want["revenue"]
    report = report_totals(cli, "2026-03-07")
    assert report["totals"]["orders"] == want["orders"]  # type: ignore[index]


def test_total_revenue_is_a_setting(cli: CliInvoker, database: Database, ga: GaHarness) -> None:
    add(cli, ga, "revenue_metric=totalRevenue", "purchases_metric=transactions")
    cli.ok("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    purchase_revenue = ga.ga.day_totals()[date(2026, 3, 7)]["revenue"]
    stored = Decimal(str(database.scalar("SELECT sum(revenue) FROM fact")))
    assert stored > purchase_revenue  # ad revenue on top
    sent = json.loads(ga.fake.requests[-2].body)
    assert {m["name"] for m in sent["metrics"]} >= {"totalRevenue", "transactions"}


def test_days_ga_thresholded_are_flagged_in_the_report_and_status(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga)
    ga.ga.thresholded_days = {"20260306", "20260307"}
    ga.ga.other_row_days = {"20260307"}
    cli.ok("sync", "ga", "--since", "2026-03-05", "--until", "2026-03-07")
    report = json.loads(
        cli.ok(
            "report", "--org", "acme", "--since", "2026-03-01", "--until", "2026-03-07", "--json"
        ).stdout
    )
    notes = [w for w in report["warnings"] if "(ga)" in w]
    assert any(
        "withheld rows for privacy (thresholding) on 2 days: 2026-03-06, 2026-03-07" in w
        for w in notes
    ), notes
    assert any('grouped rows into "(other)" on 1 day: 2026-03-07' in w for w in notes), notes
    status = cli("status")
    assert "withheld rows for privacy" in status.stdout
    # A re-fetch that GA answers in full clears the flag of that day.
    ga.ga.thresholded_days = {"20260306"}
    ga.ga.other_row_days = set()
    cli.ok("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    flagged = database.rows("SELECT day, flag FROM window_quality ORDER BY day")
    assert [(str(d)[:10], f) for d, f in flagged] == [("2026-03-06", "thresholded")]


def test_the_projects_hourly_tokens_are_kept_in_reserve_too(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga, "quota_reserve_tokens=500")
    ga.ga.project_tokens_left = 504  # the property's own quotas are plentiful
    result = cli("sync", "ga", "--since", "2026-03-06", "--until", "2026-03-08")
    assert result.exit_code == 75
    assert "GA quota nearly spent" in result.stderr


def test_an_exhausted_hourly_quota_stops_the_run_at_once(
    cli: CliInvoker, database: Database, ga: GaHarness, waits: list[float]
) -> None:
    # GA's hourly tokens return at the top of the hour, a minute away at least as the connector
    # counts: beyond the longest wait this source allows, whatever the time of day.
    add(cli, ga, "max_retry_wait_seconds=59")
    cli.ok("sync", "ga", "--since", "2026-03-06", "--until", "2026-03-06")
    ga.ga.project_tokens_left = 0
    asked = len(ga.fake.requests)
    result = cli("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    assert result.exit_code == 75
    assert "Exhausted property tokens for a project per hour" in result.stderr
    assert len(ga.fake.requests) - asked == 1  # no retry can succeed within the hour
    assert waits == []


def test_application_default_credentials_without_a_key_file(
    cli: CliInvoker,
    database: Database,
    ga: GaHarness,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Workload identity federation: no key file anywhere, the workload's token exchanged."""
    from tests.fakes.ga import WORKLOAD_TOKEN

    oidc = tmp_path / "oidc-token"
    oidc.write_text(WORKLOAD_TOKEN)
    adc = tmp_path / "application_default_credentials.json"
    adc.write_text(
        json.dumps(
            {
                "type": "external_account",
                "audience": "//iam.googleapis.com/projects/123456/locations/global/"
                "workloadIdentityPools/dpo/providers/dpo",
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "token_url": f"{ga.fake.url}/token",
                "credential_source": {"file": str(oidc)},
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "USD")
    cli.ok(
        "sources", "add", "acme", "ga", "--account", ga.ga.property_id, "--endpoint", ga.fake.url
    )
    cli.ok("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    assert ga.ga.user_tokens  # it exchanged the workload's token at the file's token_url
    assert database.scalar("SELECT count(*) FROM fact") > 0


def test_without_a_key_or_adc_the_error_says_how_to_set_up_either(
    cli: CliInvoker,
    database: Database,
    ga: GaHarness,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "USD")
    cli.ok(
        "sources", "add", "acme", "ga", "--account", ga.ga.property_id, "--endpoint", ga.fake.url
    )
    result = cli("sync", "ga", "--since", "2026-03-07", "--until", "2026-03-07")
    assert result.exit_code == 3
    assert "Application Default Credentials" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_property_time_zone_change_fetches_every_synced_day_again(
    cli: CliInvoker, database: Database, ga: GaHarness, clock: Clock
) -> None:
    """A window is a day of the property: when GA reports another zone, the days synced in the
    old one no longer line up with the new windows, and each must be fetched again, or a day's
    figure of the old zone stays beside the overlapping day of the new one."""
    add(cli, ga)
    clock.moment = datetime(2026, 3, 11, 12, tzinfo=UTC)
    cli.ok("sync", "ga", "--since", "2026-03-05")
    settled = database.rows(FACTS)
    gas_days = sum(t["sessions"] for t in ga.ga.day_totals().values())

    ga.ga.tz = ZoneInfo("Europe/Berlin")  # the property's zone changed in GA's admin
    clock.advance(hours=1)
    moved = cli("sync", "ga")
    assert moved.exit_code == 0, moved.stderr
    assert "time zone is now Europe/Berlin (it was America/New_York)" in moved.stderr
    starts = {str(p)[11:16] for (p,) in database.rows(DAY_STARTS)}
    assert starts == {"23:00"}  # every day is a Berlin day now (CET, UTC+1)
    assert database.scalar("SELECT sum(sessions) FROM fact WHERE grain = 'day'") == gas_days

    ga.ga.tz = ZoneInfo("America/New_York")  # and back
    clock.advance(hours=1)
    cli.ok("sync", "ga")
    assert database.rows(FACTS) == settled  # as if the zone had never changed


FACTS = (
    "SELECT grain, period_start, channel, campaign, sessions, users, conversions, orders, revenue"
    " FROM fact ORDER BY grain, period_start, channel, campaign"
)
DAY_STARTS = "SELECT DISTINCT period_start FROM fact WHERE grain = 'day'"
