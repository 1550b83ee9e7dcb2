"""Every page read: an answer is complete only when what was read agrees with what the upstream
says it sent. An empty page that still links to a next one is read past; a row sent twice
(a report that shifted while it was paged) is never added up: the day is read again, then left
for the next run (exit 75) with its previous facts in place.

Through the real clients (facebook-business, google-analytics-data) against the fakes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import GaHarness, Harness, MetaHarness, WooHarness
from tests.fakes.http import Request

DAY = "2026-03-09"


def add(cli: CliInvoker, harness: Harness, *settings: str) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", harness.tz, "--currency", "USD")
    extra = [a for s in settings for a in ("--setting", s)]
    cli.ok("sources", "add", "acme", harness.kind, *harness.source_args(), *extra)


def facts(database: Database) -> list[tuple[Any, ...]]:
    return sorted(
        tuple(str(v) for v in row)
        for row in database.rows(
            "SELECT grain, period_start, channel, campaign, impressions, clicks, spend, "
            "attributed_conversions, attributed_revenue, sessions, orders, revenue FROM fact"
        )
    )


def synced_day(harness: Harness, database: Database) -> Any:
    day = date.fromisoformat(DAY)
    return harness.stored(database).get(day), harness.expected_days(day, day).get(day)


# --- Meta -----------------------------------------------------------------------------------


def test_meta_pages_after_an_empty_page_with_a_next_link_are_read(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, "page_size=5", "async_reports=never")
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    clean = facts(database)
    meta.meta.empty_pages = {5, 10, 15}
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    assert meta.meta.empty_pages == set()  # each was served, and read past
    assert facts(database) == clean
    stored, expected = synced_day(meta, database)
    assert stored == expected


def test_a_meta_row_repeated_across_pages_once_is_read_again_not_added(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, "page_size=5", "async_reports=never")
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    clean = facts(database)
    meta.meta.repeat_rows = 1
    result = cli("sync", "meta", "--since", DAY, "--until", DAY)
    assert result.exit_code == 0, result.stderr
    assert meta.meta.repeat_rows == 0  # a row came twice, and was not added up
    assert facts(database) == clean


def test_meta_rows_that_keep_repeating_leave_the_day_as_it_was(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    add(cli, meta, "page_size=5", "async_reports=never")
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    before = facts(database)
    meta.meta.repeat_rows = 1_000
    result = cli("sync", "meta", "--since", DAY, "--until", DAY)
    assert result.exit_code == 75, (result.stdout, result.stderr)
    assert "twice, in two reads (its pages shifted while they were read)" in result.stderr
    assert facts(database) == before
    meta.meta.repeat_rows = 0
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    assert facts(database) == before


# --- GA -------------------------------------------------------------------------------------


def ga_page_tamper(ga: GaHarness, edit: Any) -> None:
    """Pass every later page (offset > 0) of GA's reports through `edit(body)`."""

    def change(request: Any, body: Any) -> Any:
        return edit(body) if ga.is_later_page(request) else body

    ga.fake.tamper(change, path_contains=":runReport")


def test_a_ga_report_with_an_empty_page_before_its_row_count_is_read_again(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga, "page_size=10")
    emptied = {"left": 1}

    def empty_once(body: Any) -> Any:
        if emptied["left"] and body.get("rows"):
            emptied["left"] -= 1
            body["rows"] = []
        return body

    ga_page_tamper(ga, empty_once)
    cli.ok("sync", "ga", "--since", DAY, "--until", DAY)
    assert emptied["left"] == 0
    stored, expected = synced_day(ga, database)
    assert stored == expected


def test_ga_rows_that_keep_repeating_leave_the_day_as_it_was(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    add(cli, ga, "page_size=10")
    cli.ok("sync", "ga", "--since", DAY, "--until", DAY)
    before = facts(database)

    def repeat_first(body: Any) -> Any:
        if body.get("rows"):
            body["rows"] = [body["rows"][0], *body["rows"]][: len(body["rows"])]
            body["rows"][0] = body["rows"][1]
        return body

    ga_page_tamper(ga, repeat_first)
    result = cli("sync", "ga", "--since", DAY, "--until", DAY)
    assert result.exit_code == 75, (result.stdout, result.stderr)
    assert "kept changing while it was read page by page" in result.stderr
    assert facts(database) == before


# --- WooCommerce ------------------------------------------------------------------------------


def test_a_busy_stores_day_syncs_though_orders_arrive_while_it_is_paged(
    cli: CliInvoker, database: Database, woo: WooHarness, clock: Clock
) -> None:
    """Each page of today's listing sees a new order placed meanwhile: the listing ends at a
    moment already past, so its pages and X-WP-Total hold still; the next run counts them."""
    ny = ZoneInfo(woo.tz)
    for minute in range(0, 120, 2):  # 60 orders this morning: three pages of 25
        woo.woo.add_order(datetime(2026, 3, 10, 5, tzinfo=ny) + timedelta(minutes=minute))
    add(cli, woo)
    arrived = count(1)

    def an_order_arrives(request: Request, body: Any) -> Any:
        if request.path.endswith("/orders") and request.arg("before"):
            woo.woo.add_order(clock.moment + timedelta(seconds=next(arrived)))
        return body

    woo.fake.tamper(an_order_arrives, path_contains="/orders")
    first = cli("sync", "woo", "--json")
    assert first.exit_code == 0, first.stderr
    assert next(arrived) > 3  # orders did arrive while pages were read
    woo.fake.clear_faults()
    clock.advance(minutes=5)
    cli.ok("sync", "woo")
    today = date(2026, 3, 10)
    assert woo.stored(database)[today] == woo.expected_days(today, today)[today]


def test_a_day_whose_answer_cannot_be_stored_does_not_hold_up_the_others(
    cli: CliInvoker, database: Database, woo: WooHarness, clock: Clock
) -> None:
    """Yesterday's listing keeps coming back broken; today's orders still arrive, yesterday keeps
    its facts and is fetched again by the next run (exit 75 names the day)."""
    ny = ZoneInfo(woo.tz)
    for day, hour in ((8, 10), (9, 11), (9, 15), (10, 6)):
        woo.woo.add_order(datetime(2026, 3, day, hour, tzinfo=ny))
    add(cli, woo)
    cli.ok("sync", "woo", "--since", "2026-03-08")
    yesterday = [r for r in facts(database) if r[1].startswith("2026-03-09")]

    start = datetime(2026, 3, 9, tzinfo=ny) - timedelta(seconds=1)  # as `after` is exclusive
    listed_after = f"{start.astimezone(UTC):%Y-%m-%dT%H:%M:%S}"

    def broken_yesterday(request: Request, body: Any) -> Any:
        if request.arg("after") == listed_after and body:
            body[0].pop("id")
        return body

    woo.fake.tamper(broken_yesterday, path_contains="/orders")
    woo.woo.add_order(datetime(2026, 3, 10, 7, 30, tzinfo=ny))  # a new order this morning
    clock.advance(minutes=30)
    stuck = cli("sync", "woo")
    assert stuck.exit_code == 75, (stuck.stdout, stuck.stderr)
    assert "2026-03-09 could not be stored: the store listed an order without a numeric id" in (
        stuck.stderr
    )
    assert "failed, 1 window" in stuck.stderr  # today's
    today = date(2026, 3, 10)
    assert woo.stored(database)[today] == woo.expected_days(today, today)[today]
    assert [r for r in facts(database) if r[1].startswith("2026-03-09")] == yesterday
    woo.fake.clear_faults()
    cli.ok("sync", "woo")
    assert woo.stored(database) == woo.expected_days(date(2026, 3, 8), today)
