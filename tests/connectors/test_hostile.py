"""Bad data from an upstream never reaches the facts.

Each probe, through the real client library against a fake that answers the way a broken
proxy, a half-deployed plugin or an API change would: the facts before, a run against the bad
answer (exit 75, one line naming the upstream, the field and the value), the facts after equal
to those before; then a clean run equals a sync that never saw the fault.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import CliInvoker, Database
from tests.connectors.harness import GaHarness, Harness, MetaHarness, WooHarness
from tests.fakes.http import Request

DAY = "2026-03-09"  # a plain (not async) Meta request at the test clock
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
Change = Callable[[Request, Any], Any]


def facts(database: Database) -> list[tuple[Any, ...]]:
    return sorted(
        tuple(str(v) for v in row)
        for row in database.rows(
            "SELECT grain, period_start, channel, campaign, campaign_name, impressions, clicks, "
            "spend, sessions, orders, revenue, refunds FROM fact"
        )
    )


def probe(
    cli: CliInvoker, database: Database, harness: Harness, change: Change, path: str, said: str
) -> None:
    """Synced once clean; the tampered run exits 75 saying `said` and changes nothing; a clean
    run afterwards is as if the fault had never been."""
    kind = harness.kind
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", harness.tz, "--currency", "USD")
    cli.ok("sources", "add", "acme", kind, *harness.source_args())
    cli.ok("sync", kind, "--since", DAY, "--until", DAY)
    before = facts(database)
    assert before
    harness.fake.tamper(change, path_contains=path)
    result = cli("sync", kind, "--since", DAY, "--until", DAY)
    assert result.exit_code == 75, (result.stdout, result.stderr)
    assert said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert facts(database) == before
    shown = json.loads(cli("status", "--json").stdout)["sources"][0]
    assert said in shown["last_error"] and shown["consecutive_failures"] == 1
    harness.fake.clear_faults()
    cli.ok("sync", kind, "--since", DAY, "--until", DAY)
    assert facts(database) == before
    assert json.loads(cli("status", "--json").stdout)["sources"][0]["consecutive_failures"] == 0


# --- Meta ---------------------------------------------------------------------------------------


def meta_rows(edit: Callable[[dict[str, Any]], Any]) -> Change:
    """Edit the first row of the hourly insights."""

    def change(_request: Request, body: Any) -> Any:
        rows = body.get("data") or []
        if rows and HOURLY in rows[0]:
            edited = edit(rows[0])
            if edited is not None:
                rows[0] = edited
        return body

    return change


def set_field(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda row: row.__setitem__(name, value)


def drop_field(name: str) -> Callable[[dict[str, Any]], None]:
    def drop(row: dict[str, Any]) -> None:
        row.pop(name)

    return drop


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (set_field("spend", "NaN"), "Meta sent spend 'NaN' for campaign"),
        (set_field("spend", "Infinity"), "Meta sent spend 'Infinity'"),
        (set_field("spend", "1e308"), "Meta sent spend '1e308' for campaign"),
        (set_field("spend", "-5.00"), "(a spend figure cannot be negative)"),
        (set_field("clicks", "-3"), "Meta sent clicks '-3'"),
        (set_field("impressions", "1.5"), "(a count must be a whole number)"),
        (set_field("impressions", "12abc"), "Meta sent impressions '12abc'"),
        (drop_field("campaign_id"), "Meta sent an insights row without campaign_id"),
        (lambda row: "<html>", "Meta answered with a body that is not the JSON expected"),
    ],
    ids=[
        "nan",
        "inf",
        "1e308",
        "negative-spend",
        "negative-clicks",
        "fraction",
        "text",
        "no-campaign",
        "html-row",
    ],
)
def test_meta_values_that_cannot_be_stored_leave_the_facts_as_they_were(
    cli: CliInvoker,
    database: Database,
    meta: MetaHarness,
    edit: Callable[[dict[str, Any]], Any],
    said: str,
) -> None:
    probe(cli, database, meta, meta_rows(edit), "insights", said)


@pytest.mark.parametrize(
    "body",
    ["<!doctype html><title>Proxy error</title>", '{"data": [{"campaign_id": "1'],
    ids=["html", "truncated"],
)
def test_meta_answering_200_with_html_or_cut_json_is_a_transient_fault(
    cli: CliInvoker, database: Database, meta: MetaHarness, body: str
) -> None:
    probe(
        cli, database, meta, lambda _r, _b: body, "insights",
        "Meta answered with a body that is not the JSON expected",
    )  # fmt: skip


def test_meta_counts_written_as_exponents_are_read_when_whole(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", meta.tz, "--currency", "USD")
    cli.ok("sources", "add", "acme", "meta", *meta.source_args())
    meta.fake.tamper(meta_rows(set_field("impressions", "1.5e3")), path_contains="insights")
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    assert 1500 in {v for (v,) in database.rows("SELECT impressions FROM fact")}


def test_campaign_names_lose_control_characters_and_fit_their_column_on_both_databases(
    cli: CliInvoker, database: Database, meta: MetaHarness
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", meta.tz, "--currency", "USD")
    cli.ok("sources", "add", "acme", "meta", *meta.source_args())
    name = "Spring\x00 sale\x07" + "x" * 100_000

    def rename(row: dict[str, Any]) -> None:
        row["campaign_name"] = name

    meta.fake.tamper(meta_rows(rename), path_contains="insights")
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    stored = {n for (n,) in database.rows("SELECT campaign_name FROM fact")}
    cleaned = [n for n in stored if n and n.startswith("Spring")]
    assert cleaned == ["Spring sale" + "x" * 489]


# --- WooCommerce --------------------------------------------------------------------------------


def woo_orders(edit: Callable[[dict[str, Any]], Any]) -> Change:
    def change(_request: Request, body: Any) -> Any:
        if isinstance(body, list) and body:
            edit(body[0])
        return body

    return change


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (set_field("total", "NaN"), "WooCommerce sent revenue 'NaN' for order"),
        (set_field("total", "Infinity"), "WooCommerce sent revenue 'Infinity' for order"),
        (set_field("total", "1e308"), "WooCommerce sent revenue '1e308' for order"),
        (drop_field("id"), "the store listed an order without a numeric id"),
        (set_field("date_created_gmt", "yesterday"), "an order date dpo cannot read: yesterday"),
        (set_field("status", None), "without a status"),
    ],
    ids=["nan", "inf", "1e308", "no-id", "bad-date", "null-status"],
)
def test_woo_values_that_cannot_be_stored_leave_the_facts_as_they_were(
    cli: CliInvoker,
    database: Database,
    woo: WooHarness,
    edit: Callable[[dict[str, Any]], Any],
    said: str,
) -> None:
    for hour in (9, 13, 18):
        woo.woo.add_order(datetime(2026, 3, 9, hour, tzinfo=UTC).astimezone(UTC))
    probe(cli, database, woo, woo_orders(edit), "/orders", said)


# --- GA -----------------------------------------------------------------------------------------


def ga_rows(edit: Callable[[dict[str, Any]], Any]) -> Change:
    def change(_request: Request, body: Any) -> Any:
        rows = body.get("rows") or []
        if len(rows) > 1:  # not the one-row time zone probe
            edit(rows[0])
        return body

    return change


def metric(index: int, value: str) -> Callable[[dict[str, Any]], None]:
    return lambda row: row["metricValues"][index].__setitem__("value", value)


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (metric(0, "NaN"), "GA sent sessions 'NaN' for channel"),
        (metric(0, "-1"), "(a sessions figure cannot be negative)"),
        (lambda row: row["metricValues"].pop(), "GA sent a report row with 2 dimensions"),
    ],
    ids=["nan", "negative", "short-row"],
)
def test_ga_values_that_cannot_be_stored_leave_the_facts_as_they_were(
    cli: CliInvoker,
    database: Database,
    ga: GaHarness,
    edit: Callable[[dict[str, Any]], Any],
    said: str,
) -> None:
    probe(cli, database, ga, ga_rows(edit), ":runReport", said)


def test_a_ga_report_that_changes_while_it_is_paged_is_read_again_whole(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    """Page 2 of the first read repeats page 1's last row and leaves one out (GA pages a fresh
    query each time): the window is read again from the start, never written short."""
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", ga.tz, "--currency", "USD")
    cli.ok("sources", "add", "acme", "ga", *ga.source_args(), "--setting", "page_size=10")
    shifted = {"done": False}

    def shift(request: Request, body: Any) -> Any:
        offset = int(json.loads(request.body).get("offset") or 0)
        if offset and not shifted["done"] and body.get("rows"):
            shifted["done"] = True
            body["rows"] = [body["rows"][0], *body["rows"][:-1]]  # one row twice, one gone
        return body

    ga.fake.tamper(shift, path_contains=":runReport")
    cli.ok("sync", "ga", "--since", DAY, "--until", DAY)
    assert shifted["done"]
    with_shift = facts(database)
    ga.fake.clear_faults()
    with database.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM fact"))
    cli.ok("sync", "ga", "--since", DAY, "--until", DAY)
    assert with_shift == facts(database)


@pytest.mark.parametrize("body", ["<!doctype html><title>502</title>", '{"report_run_id": "6'])
def test_meta_starting_an_async_report_answered_with_html_or_cut_json_is_a_transient_fault(
    cli: CliInvoker, database: Database, meta: MetaHarness, body: str
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", meta.tz, "--currency", "USD")
    cli.ok(
        "sources", "add", "acme", "meta", *meta.source_args(), "--setting", "async_reports=always"
    )
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    before = facts(database)

    def broken_start(request: Request, answer: Any) -> Any:
        return body if request.method == "POST" else answer

    meta.fake.tamper(broken_start, path_contains="insights")
    result = cli("sync", "meta", "--since", DAY, "--until", DAY)
    assert result.exit_code == 75, (result.stdout, result.stderr)
    assert "Meta answered with a body that is not the JSON expected" in result.stderr
    assert "Traceback" not in result.stderr and "TypeError" not in result.stderr
    assert facts(database) == before
    meta.fake.clear_faults()
    cli.ok("sync", "meta", "--since", DAY, "--until", DAY)
    assert facts(database) == before
