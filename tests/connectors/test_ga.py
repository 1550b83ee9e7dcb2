"""GA4 specifics: the property's own time zone, DST folds, campaigns, quota, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import GaHarness


@pytest.fixture
def ga(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock, waits: list[float]
) -> Iterator[GaHarness]:
    harness = GaHarness(tmp_path, monkeypatch)
    with harness.serving():
        yield harness


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
