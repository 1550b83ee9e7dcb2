"""WooCommerce as the real REST API v3 behaves: authentication by scheme (Basic over HTTPS,
OAuth 1.0a over plain HTTP or behind a TLS-terminating proxy WordPress does not know about),
firewall pages, trashed and deleted orders, proxies that strip the paging headers, the
statuses WooCommerce Analytics counts, and the store's own currency.

Every test drives `dpo` through its CLI against the fake store on 127.0.0.1, through requests.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import WooHarness, utc
from tests.fakes.http import FakeUpstream, Request, Response
from tests.fakes.woo import KEY, SECRET, FakeWoo, firewall_block, self_signed_certificate

NY = ZoneInfo("America/New_York")
ORDERS = "/wp-json/wc/v3/orders"


def add(cli: CliInvoker, woo: WooHarness, *settings: str, account: str | None = None) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", woo.tz, "--currency", "USD")
    args = woo.source_args()
    if account:
        args[1] = account
    extra = [a for s in settings for a in ("--setting", s)]
    cli.ok("sources", "add", "acme", "woo", *args, *extra)


def at(hour: int, minute: int = 0, day: int = 6) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=NY)


def hour_row(db: Database, moment: datetime) -> tuple[object, ...]:
    start = moment.astimezone(UTC).replace(minute=0)
    for period_start, orders, revenue, refunds, currency in db.rows(
        "SELECT period_start, orders, revenue, refunds, currency FROM fact"
    ):
        if utc(period_start) == start:
            return orders, Decimal(str(revenue)), Decimal(str(refunds)), currency
    raise AssertionError(f"no fact for {start}")


def sync_day(cli: CliInvoker, day: str = "2026-03-06") -> None:
    cli.ok("sync", "woo", "--since", day, "--until", day)


# --- 1. authentication: Basic over HTTPS, OAuth 1.0a over plain HTTP ------------------------


def test_a_plain_http_store_gets_oauth1_signatures_and_never_the_secret(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.add_order(at(9), total="10.00")
    add(cli, woo)  # http://127.0.0.1:…, auth=auto
    sync_day(cli)
    assert hour_row(database, at(9))[:3] == (1, Decimal("10.00"), Decimal(0))
    for sent in woo.fake.requests:
        assert sent.arg("oauth_signature_method") == "HMAC-SHA256"
        assert sent.arg("oauth_consumer_key") == KEY and sent.arg("oauth_signature")
        assert "authorization" not in sent.headers and "consumer_secret" not in sent.query
    nonces = [r.arg("oauth_nonce") for r in woo.fake.requests]
    assert len(set(nonces)) == len(nonces)  # WooCommerce refuses a nonce used twice


def test_a_wrong_secret_over_http_is_refused_with_woocommerces_signature_error(
    cli: CliInvoker, database: Database, woo: WooHarness, waits: list[float]
) -> None:
    add(cli, woo)
    woo.break_credentials()
    result = cli("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert result.exit_code == 4
    assert "Invalid signature - provided signature does not match." in result.stderr
    assert "woocommerce_rest_authentication_error" in result.stderr
    assert waits == []
    assert "cs_wrong_secret" not in result.output


def test_explicit_basic_auth_works_where_wordpress_sees_https(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.add_order(at(9), total="10.00")
    add(cli, woo, "auth=basic")
    refused = cli("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert refused.exit_code == 4  # WooCommerce ignores Basic auth over plain http
    assert "woocommerce_rest_cannot_view" in refused.stderr
    woo.woo.https = True  # behind a TLS-terminating proxy whose X-Forwarded-Proto it trusts
    sync_day(cli)
    sent = woo.fake.requests[-1]
    assert sent.headers["authorization"].startswith("Basic ")
    assert base64.b64decode(sent.headers["authorization"][6:]).decode() == f"{KEY}:{SECRET}"
    assert hour_row(database, at(9))[0] == 1


@pytest.fixture
def tls_woo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock, waits: list[float]
) -> Iterator[FakeWoo]:
    """The fake store behind TLS, its certificate trusted through REQUESTS_CA_BUNDLE."""
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setenv("ACME_WOO_KEY", f"{KEY}:{SECRET}")
    fake = FakeWoo(store_tz="America/New_York", currency="USD")
    with fake.running_tls(cert, key):
        yield fake


def add_tls(cli: CliInvoker, fake: FakeWoo, *settings: str) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "America/New_York",
           "--currency", "USD")  # fmt: skip
    extra = [a for s in settings for a in ("--setting", s)]
    cli.ok("sources", "add", "acme", "woo", "--account", fake.url, "--secret-env", "ACME_WOO_KEY",
           *extra)  # fmt: skip


def test_an_https_store_gets_basic_auth(
    cli: CliInvoker, database: Database, tls_woo: FakeWoo
) -> None:
    tls_woo.https = True  # TLS ends at WordPress
    tls_woo.add_order(at(9), total="10.00")
    add_tls(cli, tls_woo)
    sync_day(cli)
    assert hour_row(database, at(9))[0] == 1
    assert all(r.headers["authorization"].startswith("Basic ") for r in tls_woo.requests)
    assert not any(r.arg("oauth_signature") for r in tls_woo.requests)


def test_behind_a_tls_proxy_wordpress_does_not_know_oauth1_is_signed_for_http(
    cli: CliInvoker, database: Database, tls_woo: FakeWoo, waits: list[float]
) -> None:
    tls_woo.https = False  # TLS ends at a proxy (a CDN's "flexible" mode): WordPress sees http
    tls_woo.add_order(at(9), total="10.00")
    add_tls(cli, tls_woo)
    result = cli.ok("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert hour_row(database, at(9))[0] == 1
    assert waits == []
    first, *rest = tls_woo.requests
    assert first.headers["authorization"].startswith("Basic ")  # refused: cannot_view
    assert rest and all(r.arg("oauth_signature") for r in rest)
    assert result.exit_code == 0


def test_over_https_a_host_that_drops_the_authorization_header_gets_signatures(
    cli: CliInvoker, database: Database, tls_woo: FakeWoo, waits: list[float]
) -> None:
    tls_woo.https = True
    tls_woo.strips_authorization = True
    tls_woo.add_order(at(9), total="10.00")
    add_tls(cli, tls_woo)
    sync_day(cli)
    assert hour_row(database, at(9))[0] == 1 and waits == []
    first, *rest = tls_woo.requests
    assert first.arg("oauth_signature") is None
    assert rest and all(r.arg("oauth_signature") for r in rest)
    assert not any(r.arg("consumer_secret") for r in tls_woo.requests)


class Redirect(FakeUpstream):
    """A plain-http host sending every request to HTTPS, path and query kept (as an .htaccess
    `RewriteRule ^ https://…%{REQUEST_URI} [R=301,L]` does)."""

    def __init__(self, to: str) -> None:
        super().__init__()
        self.to = to

    def route(self, request: Request) -> Response:
        query = urlencode([(k, v) for k, values in request.query.items() for v in values])
        return Response(301, b"", {"Location": f"{self.to}{request.path}?{query}"})


def test_an_http_store_that_redirects_to_https_is_followed_there_with_basic_auth(
    cli: CliInvoker, database: Database, tls_woo: FakeWoo
) -> None:
    tls_woo.https = True
    tls_woo.add_order(at(9), total="10.00")
    redirect = Redirect(tls_woo.url)
    with redirect.running():
        cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "America/New_York",
               "--currency", "USD")  # fmt: skip
        cli.ok("sources", "add", "acme", "woo", "--account", redirect.url,
               "--secret-env", "ACME_WOO_KEY")  # fmt: skip
        sync_day(cli)
    assert hour_row(database, at(9))[0] == 1
    assert len(redirect.requests) == 1  # signed for http://, not followed; then https only
    assert all(r.headers["authorization"].startswith("Basic ") for r in tls_woo.requests)


# --- 2. firewall pages ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 406, 503])
def test_a_firewall_page_is_transient_and_never_blames_the_key(
    cli: CliInvoker, database: Database, woo: WooHarness, waits: list[float], status: int
) -> None:
    add(cli, woo)
    woo.fake.fail(firewall_block(status), times=None)
    result = cli("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert result.exit_code == 75
    said = (
        f"the store's firewall or host refused the request (HTTP {status}, an HTML page, "
        "not WooCommerce)"
    )
    assert said in " ".join(result.stderr.split())
    assert "Attention Required! | Cloudflare" in result.stderr
    assert "consumer key" not in result.stderr.lower()
    assert len(waits) == 4


def test_a_firewall_page_that_passes_lets_the_sync_finish(
    cli: CliInvoker, database: Database, woo: WooHarness, waits: list[float]
) -> None:
    woo.woo.add_order(at(9), total="10.00")
    add(cli, woo)
    woo.fake.fail(firewall_block(403), times=2)
    sync_day(cli)
    assert hour_row(database, at(9))[0] == 1 and len(waits) == 2


def test_woocommerces_own_403_stays_a_refusal_about_the_credentials(
    cli: CliInvoker, database: Database, woo: WooHarness, waits: list[float]
) -> None:
    add(cli, woo)
    envelope = {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 403},
    }
    woo.fake.fail(Response.json(envelope, 403), times=None)
    result = cli("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert result.exit_code == 4 and waits == []
    assert "refused the credentials" in result.stderr and "firewall" not in result.stderr


def test_a_password_page_in_front_of_wordpress_is_refused_without_blaming_the_key(
    cli: CliInvoker, database: Database, woo: WooHarness, waits: list[float]
) -> None:
    add(cli, woo)
    page = b"<html><head><title>401 Authorization Required</title></head></html>"
    woo.fake.fail(Response(401, page, {"Content-Type": "text/html"}), times=None)
    result = cli("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert result.exit_code == 4 and waits == []
    assert "asked for a password before WordPress answered (HTTP 401, an HTML page)" in (
        " ".join(result.stderr.split())
    )
    assert "the key was not checked" in result.stderr


# --- 3. trashed and deleted orders ---------------------------------------------------------


@pytest.mark.parametrize("how", ["trash", "delete"])
def test_an_order_trashed_or_deleted_after_it_was_synced_leaves_the_totals_next_run(
    cli: CliInvoker, database: Database, woo: WooHarness, clock: Clock, how: str
) -> None:
    kept = woo.woo.add_order(at(14, day=7), total="40.00")
    gone = woo.woo.add_order(at(14, 30, day=7), total="60.00")
    add(cli, woo)
    cli.ok("sync", "woo", "--since", "2026-03-01")
    assert hour_row(database, at(14, day=7))[:2] == (2, Decimal("100.00"))
    clock.advance(minutes=15)  # the same day: no daily rescan
    woo.woo.clock = clock.moment - timedelta(minutes=1)
    getattr(woo.woo, how)(gone["id"])
    cli.ok("sync", "woo")
    assert hour_row(database, at(14, day=7))[:2] == (1, Decimal("40.00"))
    assert kept["id"] in woo.woo.orders
    listed = [r for r in woo.fake.requests if r.arg("_fields") == "id,date_created_gmt"]
    assert listed and all(r.arg("per_page") == "100" for r in listed)  # ids only: cheap


def test_trashed_orders_are_listed_only_when_asked_for(woo: WooHarness) -> None:
    order = woo.woo.add_order(at(9), total="10.00")
    woo.woo.https = True
    woo.woo.clock = datetime(2026, 3, 10, tzinfo=UTC)
    woo.woo.trash(order["id"])

    def ids(**params: str) -> list[int]:
        url = woo.fake.url + ORDERS
        got = requests.get(url, params=params, auth=(KEY, SECRET), timeout=10)
        return [o["id"] for o in got.json()]

    assert ids() == [] and ids(status="any") == []
    assert ids(modified_after="2026-03-09T00:00:00", dates_are_gmt="true") == []
    assert ids(status="trash") == [order["id"]]


def test_the_store_checks_oauth1_signatures_as_woocommerce_does(woo: WooHarness) -> None:
    import time

    from oauthlib.oauth1 import Client  # type: ignore[import-untyped]
    from requests_oauthlib import OAuth1  # type: ignore[import-untyped]

    url = woo.fake.url + ORDERS

    def get(auth: requests.auth.AuthBase, **params: str) -> requests.Response:
        return requests.get(url, params={"per_page": "5", **params}, auth=auth, timeout=10)

    def refusal(response: requests.Response) -> tuple[int, str, str]:
        body = response.json()
        return response.status_code, body["code"], body["message"]

    error = "woocommerce_rest_authentication_error"
    for method in ("HMAC-SHA1", "HMAC-SHA256"):
        for placed in ("query", "auth_header"):
            signed = OAuth1(KEY, SECRET, signature_method=method, signature_type=placed)
            assert get(signed, _fields="id").status_code == 200, (method, placed)
    assert refusal(get(OAuth1(KEY, "cs_wrong", signature_type="query"))) == (
        401,
        error,
        "Invalid signature - provided signature does not match.",
    )
    assert refusal(get(OAuth1("ck_unknown", SECRET, signature_type="query"))) == (
        401,
        error,
        "Consumer key is invalid.",
    )
    sent = get(OAuth1(KEY, SECRET, signature_type="query")).url
    replayed = requests.get(sent, timeout=10)
    assert refusal(replayed) == (401, error, "Invalid nonce - nonce has already been used.")
    tampered = requests.get(sent.replace("per_page=5", "per_page=6"), timeout=10)
    assert refusal(tampered)[2] == "Invalid signature - provided signature does not match."
    stale = Client(KEY, SECRET, signature_type="QUERY", timestamp=str(int(time.time()) - 3600))
    stale_url, _, _ = stale.sign(url + "?per_page=5")
    assert refusal(requests.get(stale_url, timeout=10)) == (401, error, "Invalid timestamp.")
    # WooCommerce signs `status[]` as `status[0]`, `status[1]`: an RFC 5849 signature of a
    # list parameter never matches, so the connector sends none.
    listed = get(OAuth1(KEY, SECRET, signature_type="query"), **{"status[]": "completed"})
    assert refusal(listed)[2] == "Invalid signature - provided signature does not match."
    partial = requests.get(url, params={"oauth_consumer_key": KEY}, timeout=10)
    assert refusal(partial)[1] == "woocommerce_rest_authentication_missing_parameter"


def test_basic_auth_needs_https_or_a_trusted_forwarded_proto(woo: WooHarness) -> None:
    def status(**headers: str) -> int:
        url = woo.fake.url + ORDERS
        return requests.get(url, auth=(KEY, SECRET), headers=headers, timeout=10).status_code

    assert status() == 401 and status(**{"X-Forwarded-Proto": "https"}) == 401
    woo.woo.trusts_forwarded_proto = True  # the wp-config.php snippet for proxies
    assert status() == 401 and status(**{"X-Forwarded-Proto": "https"}) == 200


# --- 4. paging without X-WP-Total ----------------------------------------------------------


@pytest.mark.parametrize("count", [120, 100])
def test_without_paging_headers_pages_are_read_until_a_short_one(
    cli: CliInvoker, database: Database, woo: WooHarness, count: int
) -> None:
    for n in range(count):
        woo.woo.add_order(at(0) + timedelta(minutes=10 * n), total="1.00")
    woo.woo.strip_total_headers = True
    add(cli, woo)  # page_size=25
    sync_day(cli)
    assert woo.stored(database)[date(2026, 3, 6)]["orders"] == count


# --- 5. counted statuses -------------------------------------------------------------------


def test_by_default_every_status_counts_but_those_analytics_excludes(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    counted = {"processing": "100.00", "completed": "50.50", "on-hold": "20.00", "shipped": "7.00"}
    for status, total in counted.items():  # "shipped": a custom status
        woo.woo.add_order(at(9, 10), status=status, total=total)
    woo.woo.add_order(at(9, 20), status="refunded", total="80.00", refunds=("80.00",))
    for status in ("pending", "failed", "cancelled", "checkout-draft"):
        woo.woo.add_order(at(9, 30), status=status, total="999.00")
    woo.woo.trash(woo.woo.add_order(at(9, 40), status="completed", total="999.00")["id"])
    add(cli, woo)
    sync_day(cli)
    assert hour_row(database, at(9))[:3] == (5, Decimal("257.50"), Decimal("80.00"))


def test_excluded_statuses_can_be_chosen(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.add_order(at(9), status="on-hold", total="20.00")
    woo.woo.add_order(at(9), status="pending", total="5.00")
    woo.woo.add_order(at(9), status="processing", total="1.00")
    add(cli, woo, "excluded_statuses=failed,cancelled,on-hold")
    sync_day(cli)
    assert hour_row(database, at(9))[:2] == (2, Decimal("6.00"))


# --- 6. the store's currency ---------------------------------------------------------------


def test_facts_carry_the_currency_the_store_reports(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.currency = "EUR"  # the organization's is USD
    woo.woo.add_order(at(9), total="10.00")
    add(cli, woo)
    result = cli.ok("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert hour_row(database, at(9)) == (1, Decimal("10.00"), Decimal(0), "EUR")
    assert {c for (c,) in database.rows("SELECT DISTINCT currency FROM fact")} == {"EUR"}
    assert "EUR" in result.stderr and "USD" in result.stderr  # said: not the organization's
    asked = [r for r in woo.fake.requests if r.path.endswith("/data/currencies/current")]
    assert len(asked) == 1
    assert "in EUR" in cli.ok("sources", "test", "acme").stdout


def test_the_currency_setting_overrides_the_store_without_asking_it(
    cli: CliInvoker, database: Database, woo: WooHarness
) -> None:
    woo.woo.manages_woocommerce = False
    woo.woo.add_order(at(9), total="10.00", currency="GBP")
    add(cli, woo, "currency=GBP")
    sync_day(cli)
    assert hour_row(database, at(9)) == (1, Decimal("10.00"), Decimal(0), "GBP")
    assert not [r for r in woo.fake.requests if "currencies" in r.path]


def test_a_key_that_may_not_read_the_currency_is_told_how_to_set_it(
    cli: CliInvoker, database: Database, woo: WooHarness, waits: list[float]
) -> None:
    woo.woo.manages_woocommerce = False  # a user without the manage_woocommerce capability
    woo.woo.add_order(at(9), total="10.00")
    add(cli, woo)
    result = cli("sync", "woo", "--since", "2026-03-06", "--until", "2026-03-06")
    assert result.exit_code == 4 and waits == []
    assert "currency" in result.stderr and "--setting currency=" in result.stderr
    assert database.scalar("SELECT count(*) FROM fact") == 0
