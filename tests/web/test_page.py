"""The dashboard page in headless Chromium against a real `dpo serve` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ANCHOR, add_org, make_tokens
from tests.api.test_server import Server, start_server
from tests.conftest import CliInvoker, Database

pytestmark = pytest.mark.slow

REQUIRE_BROWSER = os.environ.get("DPO_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM = os.environ.get("DPO_TEST_CHROMIUM") or shutil.which("chromium") or ""
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM:
        problem = problem or "no Chromium: install Debian's chromium (CI installs it)"
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(problem)
        pytest.skip(problem)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def served(database: Database, cli: CliInvoker, isolated: Path) -> Iterator[Server]:
    add_org(cli, "acme", "woo", "ga", "meta")
    add_org(cli, "beta", "meta")
    cli.ok("goals", "add", "acme", "--kpi", "revenue", "--target", "150000", "--name",
           "Monthly revenue")  # fmt: skip
    cli.ok("sync", "demo", "--quiet")  # the last 30 days: the page's default period is 28
    cli.ok("aggregate", "daily", "--quiet")
    running = start_server(database, isolated)
    running.tokens = make_tokens()
    yield running
    running.stop()


def log_in(page: Any, url: str, token: str) -> None:
    page.goto(url)
    page.fill("#token", token)
    page.click("#login-form button")


def test_the_page_shows_the_same_numbers_as_the_report(
    browser: Any, served: Server, cli: CliInvoker, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    log_in(page, served.url, served.tokens["acme"])
    page.wait_for_selector("#tiles .tile[data-kpi='revenue']")
    shown = {
        tile.get_attribute("data-kpi"): tile.get_attribute("data-value")
        for tile in page.query_selector_all("#tiles .tile")
    }
    report = json.loads(cli.ok("report", "--org", "acme", "--days", "28", "--json").stdout)
    for kpi in ("spend", "revenue", "orders", "sessions", "mer", "cpa"):
        assert float(shown[kpi]) == pytest.approx(report["totals"][kpi]), kpi
    assert page.text_content("#org option") == "Acme (acme)"  # beta is not offered
    assert page.query_selector("#chart svg polyline") is not None
    assert "Monthly revenue" in page.text_content("#goals")
    assert served.tokens["acme"] not in page.url
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert not any(served.tokens["acme"] in line for line in served.lines)


def test_a_sync_changes_the_tiles_without_a_reload(
    browser: Any, served: Server, cli: CliInvoker
) -> None:
    """The page follows its organization's event stream: beta gets a store, cron syncs it,
    and the revenue tile moves on the open page, which was never reloaded."""
    page = browser.new_page()
    log_in(page, served.url, served.tokens["beta"])
    page.wait_for_selector("#live.on")
    before = page.get_attribute("#tiles .tile[data-kpi='spend']", "data-value")
    revenue = page.get_attribute("#tiles .tile[data-kpi='revenue']", "data-value")
    assert revenue in ("", "0", "0.0", None), revenue  # no store yet
    page.evaluate("window.notReloaded = true")
    cli.ok("sources", "add", "beta", "demo", "--account", "woo", "--setting", ANCHOR)
    cli.ok("sync", "demo", "--org", "beta", "--quiet")
    page.wait_for_function(
        "() => Number(document.querySelector(\"#tiles .tile[data-kpi='revenue']\")"
        "?.getAttribute('data-value')) > 0",
        timeout=60_000,
    )
    # The sync commits window by window and the page follows each event: with the rollups
    # built (as cron would), the tile settles on the report's figure.
    cli.ok("aggregate", "daily", "--org", "beta", "--quiet")
    report = json.loads(cli.ok("report", "--org", "beta", "--days", "28", "--json").stdout)
    total = report["totals"]["revenue"]
    assert total and total > 0, report["totals"]
    page.wait_for_function(
        "(total) => Math.abs(Number(document.querySelector(\"#tiles .tile[data-kpi='revenue']\")"
        "?.getAttribute('data-value')) - total) < 0.01",
        arg=total,
        timeout=60_000,
    )
    assert page.evaluate("window.notReloaded") is True
    assert page.get_attribute("#tiles .tile[data-kpi='spend']", "data-value") == before
    shown = page.get_attribute("#tiles .tile[data-kpi='revenue']", "data-value")
    assert float(shown or 0) == pytest.approx(total)


def test_a_wrong_token_is_refused(browser: Any, served: Server) -> None:
    page = browser.new_page()
    log_in(page, served.url, "dpo_not-a-real-token")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "refused" in page.text_content("#login-error")
    assert page.query_selector_all("#tiles .tile") == []
    assert page.is_visible("#login")


def test_one_organizations_token_never_shows_another(browser: Any, served: Server) -> None:
    page = browser.new_page()
    log_in(page, served.url, served.tokens["beta"])
    page.wait_for_selector("#tiles .tile")
    options = [o.text_content() for o in page.query_selector_all("#org option")]
    assert options == ["Beta (beta)"]
    assert "Acme" not in page.content()


def test_the_api_docs_render_with_no_network(browser: Any, served: Server) -> None:
    """Swagger UI at /docs, with every request off this server refused (as offline)."""
    page = browser.new_page()
    elsewhere: list[str] = []

    def only_here(route: Any) -> None:
        if route.request.url.startswith(served.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(served.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert "/api/analytics/dashboard/{org}" in page.text_content(".swagger-ui")
    assert elsewhere == []
