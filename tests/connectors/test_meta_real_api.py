"""Meta as the real Marketing API answers: deleted campaigns, attribution windows, the day's own
spend, the 37-month retention, "too much data", account usage headers, app secret proofs.

Through facebook-business against the fake Graph API; the CLI's clock is 2026-03-10 12:00 UTC.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import MetaHarness, utc
from tests.fakes.meta import APP_SECRET, TOKEN

DAY = "2026-03-06"
LA = ZoneInfo("America/Los_Angeles")


def add(cli: CliInvoker, meta: MetaHarness, *settings: str) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", meta.tz, "--currency", "USD")
    extra = [a for s in settings for a in ("--setting", s)]
    cli.ok("sources", "add", "acme", "meta", *meta.source_args(), *extra)


def local_day(moment: object) -> date:
    return utc(moment).astimezone(LA).date()


def hour_spend(database: Database) -> dict[tuple[str, date], Decimal]:
    """Stored hourly spend per campaign and local day."""
    out: dict[tuple[str, date], Decimal] = {}
    for campaign, start, spend in database.rows(
        "SELECT campaign, period_start, spend FROM fact WHERE grain = 'hour'"
    ):
        key = (campaign, local_day(start))
        out[key] = out.get(key, Decimal(0)) + Decimal(str(spend))
    return out


def day_rows(database: Database, *columns: str) -> dict[tuple[str, date], tuple[Any, ...]]:
    """Stored day facts per campaign and local day: the given columns."""
    sql = f"SELECT campaign, period_start, {', '.join(columns)} FROM fact WHERE grain = 'day'"
    return {(c, local_day(start)): tuple(rest) for c, start, *rest in database.rows(sql)}


# --- 1. deleted and archived campaigns ----------------------------------------------------------


def test_deleted_and_archived_campaigns_keep_their_spend_when_past_days_are_restated(
    cli: CliInvoker, database: Database, meta: MetaHarness, clock: Clock
) -> None:
    add(cli, meta, "async_reports=never")
    cli.ok("sync", "meta", "--since", "2026-03-05")
    before = hour_spend(database)
    deleted, archived = meta.meta.campaigns[0], meta.meta.campaigns[1]
    deleted.status, archived.status = "DELETED", "ARCHIVED"
    clock.advance(days=1)
    meta.meta.today += timedelta(days=1)
    cli.ok("sync", "meta")  # the first run of 11 March restates the last 7 days
    restated = {
        json.loads(r.arg("time_range") or "{}").get("since")
        for r in meta.fake.requests
        if "insights" in r.path
    }
    assert {"2026-03-05", "2026-03-06", "2026-03-07"} <= restated
    after = hour_spend(database)
    for campaign in (deleted.id, archived.id):
        kept = {k: v for k, v in after.items() if k[0] == campaign}
        assert kept == {k: v for k, v in before.items() if k[0] == campaign}
        assert len(kept) == 6  # 5 to 10 March
    assert meta.stored(database) == meta.expected_days(date(2026, 3, 5), date(2026, 3, 10))


# --- 2. attribution: the configured windows, summed ------------------------------------------


def test_purchases_are_the_configured_windows_summed_not_metas_default_value(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    quiet = meta.meta.daily[(date(2026, 3, 7), meta.meta.campaigns[2].id)]
    quiet.purchases, quiet.value = 0, Decimal(0)  # no purchase action at all that day
    add(cli, meta, "async_reports=never", "attribution_windows=7d_click,1d_view")
    cli.ok("sync", "meta", "--since", "2026-03-05", "--until", "2026-03-08")
    stored = day_rows(database, "attributed_conversions", "attributed_revenue")
    windows = ("7d_click", "1d_view")
    expected: dict[tuple[str, date], tuple[int, Decimal]] = {}
    default: dict[tuple[str, date], int | None] = {}
    for (day, campaign), figures in meta.meta.daily.items():
        if day > date(2026, 3, 8):
            continue
        setting = meta.meta.campaign(campaign).attribution
        expected[(campaign, day)] = (
            sum(figures.window(w)[0] for w in windows),
            sum((figures.window(w)[1] for w in windows), Decimal(0)),
        )
        default[(campaign, day)] = (
            None if setting is None else sum(figures.window(w)[0] for w in setting)
        )
    assert {k: (int(c), Decimal(str(r))) for k, (c, r) in stored.items()} == expected
    # The fake's `value` (Meta's default attribution) differs, or is left out for a campaign
    # whose ad sets use different settings; days without purchases have no purchase action.
    assert any(default[k] not in (None, expected[k][0]) for k in expected)
    assert any(default[k] is None and expected[k][0] for k in expected)
    assert any(expected[k][0] == 0 for k in expected)


def test_an_action_without_the_configured_windows_is_not_reported() -> None:
    from dpo.connectors.meta import _attributed

    windows = ["7d_click", "1d_view"]
    both = [{"action_type": "omni_purchase", "value": "9", "7d_click": "4", "1d_view": "2"}]
    assert _attributed(both, "omni_purchase", windows) == Decimal(6)
    one = [{"action_type": "omni_purchase", "value": "9", "7d_click": "4"}]
    assert _attributed(one, "omni_purchase", windows) == Decimal(4)  # nothing in 1d_view
    only_default = [{"action_type": "omni_purchase", "value": "9"}]
    assert _attributed(only_default, "omni_purchase", windows) is None
    others = [{"action_type": "link_click", "value": "30", "7d_click": "30"}]
    assert _attributed(others, "omni_purchase", windows) == Decimal(0)
    assert _attributed(None, "omni_purchase", windows) == Decimal(0)


# --- 4. the day's own spend ----------------------------------------------------------------------


def test_the_day_row_carries_metas_daily_spend_and_the_hours_keep_the_shape(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, "async_reports=never")
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    day = date.fromisoformat(DAY)
    stored = day_rows(database, "spend", "impressions", "clicks")
    hours = hour_spend(database)
    assert len(stored) == 3
    for c in meta.meta.campaigns:
        figures = meta.meta.day_figures(day, c.id)
        spend, impressions, clicks = stored[(c.id, day)]
        assert spend is not None
        assert (Decimal(str(spend)), impressions, clicks) == (
            figures["spend"],
            int(figures["impressions"]),
            int(figures["clicks"]),
        )
        assert hours[(c.id, day)] != figures["spend"]  # Meta's hours are estimated
    count = database.scalar("SELECT count(*) FROM fact WHERE grain = 'hour'")
    assert count == 72
    assert meta.stored(database) == meta.expected_days(day, day)


# --- 3a. the 37-month retention -----------------------------------------------------------------


def test_history_older_than_37_months_is_left_out_with_one_message(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, "async_reports=never")
    cli.ok("sync", "meta", "--since", "2026-03-10", "--until", "2026-03-10")
    # As if an earlier backfill from December 2022 had come down to 16 February 2023.
    from dpo.storage import tables

    with database.engine.begin() as conn:
        conn.execute(
            update(tables.sync_state).values(
                watermark=datetime(2026, 3, 10, 12, tzinfo=UTC),
                covered_from=datetime.combine(date(2023, 2, 16), time(), LA).astimezone(UTC),
                history_start=date(2022, 12, 1),
            )
        )
    first = cli("sync", "meta")
    assert first.exit_code == 0, first.stderr
    assert first.stderr.count("2023-02-11") == 1 and "2022-12-01" in first.stderr
    starts = {
        json.loads(r.arg("time_range") or "{}").get("since")
        for r in meta.fake.requests
        if "insights" in r.path
    }
    assert min(s for s in starts if s) == "2023-02-11"  # never beyond what Meta keeps
    assert str(database.scalar("SELECT history_start FROM sync_state"))[:10] == "2023-02-11"
    second = cli("sync", "meta")
    assert second.exit_code == 0, second.stderr
    assert "2023-02-11" not in second.stderr


def test_an_explicit_range_beyond_37_months_syncs_the_days_meta_still_has(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, "async_reports=never")
    result = cli("sync", "meta", "--since", "2023-02-01", "--until", "2023-02-14")
    assert result.exit_code == 0, result.stderr
    assert "2023-02-11" in result.stderr
    assert ": ok, 4 windows" in result.stdout


# --- 3b. "Please reduce the amount of data you're asking for" ----------------------------------


@pytest.mark.parametrize(("code", "mode"), [(100, "never"), (1, "never"), (100, "always")])
def test_too_much_data_is_asked_again_in_smaller_parts(
    cli: CliInvoker, database: Database, meta: MetaHarness, code: int, mode: str
) -> None:
    meta.meta.max_rows = 30  # one campaign's 24 hours fit, two campaigns' 48 do not
    meta.meta.too_much_data_code = code
    add(cli, meta, f"async_reports={mode}")
    result = cli("sync", "meta", "--since", DAY, "--until", DAY)
    assert result.exit_code == 0, result.stderr
    day = date.fromisoformat(DAY)
    assert meta.stored(database) == meta.expected_days(day, day)
    assert database.scalar("SELECT count(*) FROM fact WHERE grain = 'hour'") == 72
    parts = [
        json.loads(r.arg("filtering") or r.form().get("filtering") or "[]")
        for r in meta.fake.requests
        if "insights" in r.path
    ]
    assert any(f.get("field") == "campaign.id" for part in parts for f in part)


# --- 3c. x-ad-account-usage --------------------------------------------------------------------


def test_a_busy_ad_account_pauses_until_its_usage_resets(
    cli: CliInvoker, database: Database, meta: MetaHarness, waits: list[float]
) -> None:
    add(cli, meta, "async_reports=never")
    meta.meta.account_usage_percent, meta.meta.reset_seconds = 95, 240
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    assert 240.0 in waits and 60.0 not in waits


def test_an_account_limit_error_is_retried_after_the_reset_time(
    cli: CliInvoker, database: Database, meta: MetaHarness, waits: list[float]
) -> None:
    add(cli, meta, "async_reports=never")
    meta.fake.fail(meta.meta.account_throttled(reset_seconds=90), path_contains="insights")
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    assert waits and waits[0] == 90.0
    day = date.fromisoformat(DAY)
    assert meta.stored(database) == meta.expected_days(day, day)


# --- 3d. appsecret_proof ------------------------------------------------------------------------


def test_an_app_secret_in_the_secret_signs_every_call_with_a_proof(
    cli: CliInvoker, database: Database, meta: MetaHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta.meta.require_proof = True
    monkeypatch.setenv("ACME_META_TOKEN", f"{TOKEN}:{APP_SECRET}")
    add(cli, meta, "async_reports=never")
    result = cli("sync", "meta", "--since", DAY, "--until", DAY)
    assert result.exit_code == 0, result.stderr
    proof = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert {r.arg("appsecret_proof") for r in meta.fake.requests} == {proof}
    assert {r.arg("access_token") for r in meta.fake.requests} == {TOKEN}
    tested = cli.ok("sources", "test", "acme")
    for text in (result.stdout, result.stderr, tested.stdout, tested.stderr):
        assert APP_SECRET not in text and TOKEN not in text and proof not in text


@pytest.mark.parametrize("secret", [TOKEN, f"{TOKEN}:{'0' * 32}"])
def test_a_missing_or_wrong_app_secret_is_refused_with_a_hint(
    cli: CliInvoker,
    database: Database,
    meta: MetaHarness,
    monkeypatch: pytest.MonkeyPatch,
    secret: str,
) -> None:
    meta.meta.require_proof = True
    monkeypatch.setenv("ACME_META_TOKEN", secret)
    add(cli, meta, "async_reports=never")
    result = cli("sync", "meta", "--since", DAY, "--until", DAY)
    assert result.exit_code == 4
    assert "appsecret_proof" in result.stderr
    assert "ACCESS_TOKEN:APP_SECRET" in result.stderr
