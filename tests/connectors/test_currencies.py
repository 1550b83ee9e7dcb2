"""An upstream in another currency than its organization's: counts always count, money converts
with the rates the user gives (`dpo fx`), and what no rate converts is said, never hidden.

Through the real GA client against the fake property, whose currency is EUR under a USD
organization (GA reports money in the property's currency: `metadata.currencyCode`).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from dpo.api.app import create_app
from dpo.resources.tokens import create_token
from dpo.storage.db import session_scope
from tests.conftest import CliInvoker, Database
from tests.connectors.harness import GaHarness

DAYS = ("--since", "2026-03-06", "--until", "2026-03-07")
CENT = Decimal("0.01")


def setup(cli: CliInvoker, ga: GaHarness) -> None:
    ga.ga.currency = "EUR"
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "America/New_York",
           "--currency", "USD")  # fmt: skip
    cli.ok("sources", "add", "acme", "ga", *ga.source_args())
    cli.ok("sync", "ga", *DAYS)
    cli.ok("aggregate", "daily", "--quiet")


def report(cli: CliInvoker) -> dict[str, Any]:
    result = cli.ok("report", "--org", "acme", *DAYS, "--json")
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def gas_own(ga: GaHarness, metric: str) -> Any:
    totals = ga.ga.day_totals()
    return sum(totals[d][metric] for d in (date(2026, 3, 6), date(2026, 3, 7)))


def test_a_eur_property_under_a_usd_organization_keeps_its_counts_without_a_rate(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    setup(cli, ga)
    assert database.rows("SELECT DISTINCT currency FROM fact") == [("EUR",)]
    got = report(cli)
    assert got["totals"]["sessions"] == gas_own(ga, "sessions") > 0
    assert got["totals"]["orders"] == gas_own(ga, "orders") > 0
    assert got["totals"]["revenue"] is None  # not a made-up zero: no rate converts it
    revenue = gas_own(ga, "revenue").quantize(CENT)
    assert (
        f"EUR {revenue:,.2f} of ga:{ga.ga.property_id} (ga) revenue not converted: no EUR→USD rate "
        "for 2026-03-06, 2026-03-07 (add one with `dpo fx set EUR USD RATE --from DAY`)"
    ) in got["warnings"]
    status = cli("status", "--json")
    (source,) = json.loads(status.stdout)["sources"]
    assert source["unconverted"] == [w for w in got["warnings"] if "not converted" in w]
    assert "currency acme: EUR" in cli("status").stdout
    with session_scope() as session:
        token = create_token(session, org_slug="acme")[1]
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        board = client.get(
            "/api/analytics/dashboard/acme?since=2026-03-06&until=2026-03-07",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert board.status_code == 200
    assert source["unconverted"][0] in board.json()["warnings"]


def test_with_a_rate_its_revenue_converts_on_the_next_aggregate(
    cli: CliInvoker, database: Database, ga: GaHarness, tmp_path: Path
) -> None:
    setup(cli, ga)
    # The ECB's own layout: 1 EUR in each currency, business days only, `N/A` and a trailing
    # comma; 2026-03-07 is a Saturday and takes Friday's rate.
    ecb = tmp_path / "eurofxref-hist.csv"
    ecb.write_text(
        "Date,USD,JPY,GBP,\n2026-03-06,1.2500,161.02,N/A,\n2026-03-05,1.1000,160.50,0.8301,\n"
    )
    imported = cli.ok("fx", "import", str(ecb))
    assert imported.stdout.startswith("Rates: 5 added, 0 changed (2026-03-05 → 2026-03-06).")
    cli.ok("aggregate", "daily", "--quiet")
    got = report(cli)
    revenue = (gas_own(ga, "revenue") * Decimal("1.25")).quantize(CENT)
    assert Decimal(str(got["totals"]["revenue"])).quantize(CENT) == revenue
    assert got["totals"]["sessions"] == gas_own(ga, "sessions")
    assert not [w for w in got["warnings"] if "not converted" in w]
    listed = cli.ok("fx", "list", "--currency", "usd", "--json")
    assert [(r["effective_from"], r["quote"], r["rate"]) for r in json.loads(listed.stdout)] == [
        ("2026-03-06", "USD", 1.25),
        ("2026-03-05", "USD", 1.1),
    ]


def test_bad_rates_are_refused_with_one_line_and_nothing_saved(
    cli: CliInvoker, database: Database, tmp_path: Path
) -> None:
    for args, message in [
        (("EUR", "EUR", "1"), "not EUR to itself"),
        (("EUR", "USD", "nan"), "must be a positive number"),
        (("EUR", "USD", "0"), "must be a positive number"),
        (("EUR", "USD", "abc"), "is not a number"),
        (("EUX", "USD", "1.1"), "unknown currency 'EUX'"),
    ]:
        result = cli("fx", "set", *args, "--from", "2026-03-01")
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.startswith("Error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    bad = tmp_path / "rates.csv"
    bad.write_text("date,base,quote,rate\n2026-03-01,EUR,USD,1.1\n2026-03-02,EUR,USD,zero\n")
    result = cli("fx", "import", str(bad))
    assert result.exit_code == 2
    assert "rates.csv, line 3: rate 'zero' is not a number" in result.stderr
    assert database.scalar("SELECT count(*) FROM fx_rate") == 0
    unknown = tmp_path / "other.csv"
    unknown.write_text("when,what\n2026-03-01,1\n")
    assert "unknown layout" in cli("fx", "import", str(unknown)).stderr
