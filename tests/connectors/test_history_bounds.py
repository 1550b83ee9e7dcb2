"""A backfill asks only for days the upstream can hold: `--since` long before a store's first
order, or before GA4 existed, starts where the data starts, with one message saying where."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.conftest import CliInvoker, Database
from tests.connectors.harness import GaHarness, Harness, WooHarness


def add(cli: CliInvoker, harness: Harness) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", harness.tz, "--currency", "USD")
    cli.ok("sources", "add", "acme", harness.kind, *harness.source_args())


def window_listings(woo: WooHarness) -> int:
    return sum(1 for r in woo.fake.requests if r.path.endswith("/orders") and r.arg("before"))


def test_a_backfill_from_1990_starts_at_the_stores_first_order(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    for day in (3, 5, 9):  # the store opened on 3 March 2026 (New York)
        woo.woo.add_order(datetime(2026, 3, day, 15, tzinfo=UTC))
    add(cli, woo)
    result = cli("sync", "woo", "--since", "1990-01-01")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("2026-03-03") == 1 and "1990-01-01" in result.stderr
    assert ": ok, 8 windows" in result.stdout  # 3 to 10 March, not 13,218 days
    assert window_listings(woo) == 8
    assert str(database.scalar("SELECT history_start FROM sync_state"))[:10] == "2026-03-03"
    assert database.scalar("SELECT sum(orders) FROM fact") == 3
    asked = len(woo.fake.requests)
    again = cli("sync", "woo")  # a plain run asks no more for the first order
    assert again.exit_code == 0 and "2026-03-03" not in again.stderr
    firsts = [
        r for r in woo.fake.requests[asked:] if r.arg("order") == "asc" and r.arg("per_page") == "1"
    ]
    assert firsts == []


def test_a_store_without_orders_is_backfilled_from_today(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    add(cli, woo)
    result = cli("sync", "woo", "--since", "2020-01-01")
    assert result.exit_code == 0, result.stderr
    assert ": ok, 1 window" in result.stdout
    assert "2026-03-10" in result.stderr


def test_ga_history_starts_on_14_august_2015(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga)
    result = cli("sync", "ga", "--since", "2010-01-01", "--until", "2015-08-15")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("2015-08-14") == 1 and "2010-01-01" in result.stderr
    assert ": ok, 2 windows" in result.stdout
    dates = {
        span["startDate"]
        for r in ga.fake.requests
        if r.path.endswith(":runReport")
        for span in json.loads(r.body).get("dateRanges", [])
    }
    assert min(dates) == "2015-08-14"
