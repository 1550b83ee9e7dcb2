"""WooCommerce specifics: revenue definitions, changes found by modified_after, auth modes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import WooHarness, utc
from tests.fakes.http import Response

NY = ZoneInfo("America/New_York")


def add(cli: CliInvoker, woo: WooHarness, *settings: str) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", woo.tz, "--currency", "USD")
    extra = [a for s in settings for a in ("--setting", s)]
    cli.ok("sources", "add", "acme", "woo", *woo.source_args(), *extra)


def at(hour: int, minute: int = 0, day: int = 6) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=NY)


def hour_row(db: Database, moment: datetime) -> tuple[object, ...]:
    start = moment.astimezone(UTC).replace(minute=0)
    for period_start, orders, revenue, refunds in db.rows(
        "SELECT period_start, orders, revenue, refunds FROM fact"
    ):
        if utc(period_start) == start:
            return orders, Decimal(str(revenue)), Decimal(str(refunds))
    raise AssertionError(f"no fact for {start}")


def test_revenue_orders_and_refunds_follow_the_documented_definitions(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.add_order(at(9, 15), status="processing", total="100.00")
    woo.woo.add_order(at(9, 40), status="completed", total="50.50", refunds=("10.00",))
    woo.woo.add_order(at(9, 50), status="on-hold", total="20.00")
    woo.woo.add_order(at(9, 55), status="refunded", total="30.00", refunds=("30.00",))
    for status in ("pending", "cancelled", "failed"):
        woo.woo.add_order(at(9, 5), status=status, total="999.00", refunds=("5.00",))
    add(cli, woo)
    cli.ok("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert hour_row(database, at(9)) == (4, Decimal("200.50"), Decimal("40.00"))
    assert hour_row(database, at(10)) == (0, Decimal(0), Decimal(0))  # an hour with none
    assert database.scalar("SELECT count(*) FROM fact") == 24


def test_counted_statuses_are_an_allow_list_that_can_leave_refunded_orders_out(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.add_order(at(9), status="refunded", total="80.00", refunds=("80.00",))
    woo.woo.add_order(at(9), status="shipped", total="7.00")  # a custom status
    woo.woo.add_order(at(9), status="processing", total="3.00", refunds=("1.00",))
    add(cli, woo, "counted_statuses=processing,completed,on-hold")
    cli.ok("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert hour_row(database, at(9)) == (1, Decimal("3.00"), Decimal("1.00"))


def test_an_order_created_at_midnight_belongs_to_its_day(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.add_order(at(0, 0), total="12.00")  # `after` is exclusive: dpo widens it a second
    woo.woo.add_order(at(0, 0, day=7), total="13.00")
    add(cli, woo)
    cli.ok("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert woo.stored(database)[date(2026, 3, 6)]["revenue"] == Decimal("12.00")


def test_a_change_to_an_old_order_is_found_and_its_day_refetched(
    cli: CliInvoker, database: Database, woo: WooHarness, clock: Clock
) -> None:
    old = woo.woo.add_order(at(14, day=2), total="40.00")
    add(cli, woo)
    cli.ok("sync", "woo", "--since", "2026-03-01")
    assert hour_row(database, at(14, day=2))[0] == 1
    clock.advance(minutes=15)
    woo.woo.clock = clock.moment - timedelta(minutes=1)
    woo.woo.touch(old["id"], status="cancelled")
    cli.ok("sync", "woo")
    assert hour_row(database, at(14, day=2))[0] == 0
    scans = [r for r in woo.fake.requests if r.arg("modified_after")]
    assert len(scans) == 1 and scans[0].arg("dates_are_gmt") == "true"
    assert scans[0].arg("modified_after") == "2026-03-10T11:00:00"  # last run minus 1 h overlap
    windows = [r.arg("after") for r in woo.fake.requests[-4:] if r.arg("after")]
    assert windows == ["2026-03-09T03:59:59", "2026-03-10T03:59:59", "2026-03-02T04:59:59"]


def test_the_first_run_of_a_day_rescans_the_last_30_days(
    cli: CliInvoker, database: Database, woo: WooHarness, clock: Clock
) -> None:
    woo.woo.add_order(datetime(2026, 2, 1, 15, tzinfo=UTC))  # the store's first order
    add(cli, woo)
    cli.ok("sync", "woo", "--since", "2026-02-01")
    clock.advance(hours=1)
    assert '"windows": 2' in cli.ok("sync", "woo", "--json").stdout  # today and yesterday
    clock.advance(days=1)
    out = cli.ok("sync", "woo", "--json").stdout
    assert '"windows": 31' in out  # 03-09..03-11, then the rest of 02-09..03-10


def test_query_string_auth_sends_no_authorization_header_and_leaks_nothing(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.add_order(at(9), total="10.00")
    woo.woo.https = True  # query keys count only where WordPress sees HTTPS (behind a proxy)
    add(cli, woo, "auth=query")
    cli.ok("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    sent = woo.fake.requests[-1]
    assert "authorization" not in sent.headers and sent.arg("consumer_key") == woo.woo.key
    woo.fake.fail(Response.json({"code": "x", "message": "nope"}, 418), times=None)
    result = cli("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert result.exit_code == 4
    assert woo.woo.secret not in result.output and woo.woo.key not in result.output
    assert "HTTP 418" in result.stderr


def test_orders_vanishing_while_paging_are_caught_by_the_count_and_retried(
    cli: CliInvoker, database: Database, woo: WooHarness, waits: list[float]
) -> None:
    for minute in range(0, 60 * 20, 10):  # 120 orders: five pages of 25
        woo.woo.add_order(at(0) + timedelta(minutes=minute), total="1.00")
    woo.woo.vanish_after_first_page = 1
    add(cli, woo)
    cli.ok("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert len(waits) == 1
    assert woo.stored(database)[date(2026, 3, 6)]["orders"] == 120


def test_orders_in_another_currency_are_left_out_with_a_warning(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.add_order(at(9), total="10.00")
    woo.woo.add_order(at(9), total="99.00", currency="EUR")
    add(cli, woo)
    result = cli.ok("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert hour_row(database, at(9)) == (1, Decimal("10.00"), Decimal(0))
    assert "1 orders of 2026-03-06 not in USD were left out" in result.stderr


def test_a_missing_api_is_refused_with_a_hint(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", woo.tz, "--currency", "USD")
    args = woo.source_args()
    args[1] = woo.fake.url + "/shop"
    cli.ok("sources", "add", "acme", "woo", *args)
    result = cli("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert result.exit_code == 4
    assert "no WooCommerce REST API at" in result.stderr and "permalinks" in result.stderr


def test_bad_settings_are_refused_when_the_source_is_added(
    cli: CliInvoker, database: Database
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "USD")
    for args, message in [
        (["--account", "shop.example.com"], "store URL"),
        (["--account", "https://shop.example", "--setting", "page_size=500"], "page_size"),
        (["--account", "https://shop.example", "--setting", "auth=oauth"], "auth"),
    ]:
        result = cli("sources", "add", "acme", "woo", *args)
        assert result.exit_code == 2, args
        assert message in result.stderr, (args, result.stderr)


def test_a_secret_without_a_colon_is_a_configuration_error(
    cli: CliInvoker, database: Database, woo: WooHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(cli, woo)
    monkeypatch.setenv("ACME_WOO_KEY", "ck_only")
    result = cli("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert result.exit_code == 3
    assert "KEY:SECRET" in result.stderr


@pytest.mark.parametrize("auth", ["query", "oauth1"])
def test_debug_logs_never_show_the_key_or_secret(
    cli: CliInvoker, database: Database, woo: WooHarness, isolated: Path, auth: str
) -> None:
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    woo.woo.add_order(at(9), total="10.00")
    woo.woo.https = auth == "query"  # behind a TLS-terminating proxy WordPress trusts
    add(cli, woo, f"auth={auth}")
    env = {**subprocess_env(database, isolated), "ACME_WOO_KEY": f"{woo.woo.key}:{woo.woo.secret}"}
    env["NO_PROXY"] = "127.0.0.1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dpo",
            "--debug",
            "sync",
            "woo",
            "--since",
            "2026-03-06",
            "--until",
            "2026-03-06",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert woo.woo.secret not in done.stderr and woo.woo.key not in done.stderr


def test_the_config_files_section_applies_and_a_sources_own_setting_wins(
    cli: CliInvoker, database: Database, woo: WooHarness, tmp_path: Path
) -> None:
    woo.woo.add_order(at(9), status="refunded", total="80.00", refunds=("80.00",))
    woo.woo.add_order(at(9), status="pending", total="5.00")
    config = tmp_path / "dpo.toml"
    config.write_text('[woo]\ncounted_statuses = ["refunded", "pending"]\n')
    add(cli, woo)
    cli.ok("--config", str(config), "sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert hour_row(database, at(9)) == (2, Decimal("85.00"), Decimal("80.00"))
    source_id = database.scalar("SELECT id FROM source")
    with database.engine.begin() as conn:  # as if added with --setting counted_statuses=pending
        conn.execute(
            sa.text("UPDATE source SET settings = :s WHERE id = :id"),
            {"s": '{"page_size": 25, "counted_statuses": ["pending"]}', "id": source_id},
        )
    cli.ok("--config", str(config), "sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert hour_row(database, at(9)) == (1, Decimal("5.00"), Decimal(0))
