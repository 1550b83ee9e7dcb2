"""`dpo report`: right numbers, the same in the table, --json and --csv; clear errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dpo.kpis import KPIS
from tests.conftest import CliInvoker, Database
from tests.test_aggregate import all_facts, setup_org

PERIOD = ("--since", "2026-01-08", "--until", "2026-01-14")
LABELS = {k.label: name for name, k in KPIS.items()}


@pytest.fixture
def synced(cli: CliInvoker, database: Database) -> Database:
    """Three demo sources synced (the cli fixture renders 250 columns: no wrapped cells)."""
    setup_org(cli, "woo", "ga", "meta")
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-16")
    return database


def report_json(cli: CliInvoker, *args: str) -> dict[str, Any]:
    result = cli.ok("report", "--org", "acme", *args, "--json")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def fact_totals(db: Database, first: date, last: date) -> dict[str, Decimal]:
    """The period's sums straight from the facts (day facts on the date of their middle)."""
    tz = ZoneInfo("Europe/Berlin")
    out: dict[str, Decimal] = {}
    for f in all_facts(db):
        middle = timedelta(hours=12) if f["grain"] == "day" else timedelta(0)
        if not first <= (f["period_start"] + middle).astimezone(tz).date() <= last:
            continue
        for name in ("spend", "clicks", "impressions", "sessions", "attributed_revenue"):
            if f[name] is not None:
                out[name] = out.get(name, Decimal(0)) + Decimal(f[name])
        if f["source_id"] == 1:  # the store owns revenue and orders
            for name in ("revenue", "orders"):
                out[name] = out.get(name, Decimal(0)) + Decimal(f[name])
    return out


def test_json_totals_are_the_sums_of_the_facts(cli: CliInvoker, synced: Database) -> None:
    got = report_json(cli, *PERIOD)
    assert got["org"] == "acme" and got["currency"] == "EUR"
    assert got["timezone"] == "Europe/Berlin"
    assert got["period"] == {"start": "2026-01-08", "end": "2026-01-14"}
    assert (got["compare"]["mode"], got["compare"]["start"], got["compare"]["end"]) == (
        "previous",
        "2026-01-01",
        "2026-01-07",
    )
    want = fact_totals(synced, date(2026, 1, 8), date(2026, 1, 14))
    cent = Decimal("0.01")
    totals = got["totals"]
    for name, value in want.items():
        assert Decimal(str(totals[name])) == value.quantize(cent), name
    assert Decimal(str(totals["mer"])) == (want["revenue"] / want["spend"]).quantize(cent)
    assert totals["roas"] == totals["mer"]
    assert Decimal(str(totals["ctr"])) == (want["clicks"] / want["impressions"]).quantize(
        Decimal("0.0001")
    )
    before = fact_totals(synced, date(2026, 1, 1), date(2026, 1, 7))
    assert Decimal(str(got["compare"]["totals"]["spend"])) == before["spend"].quantize(cent)
    change = (want["spend"].quantize(cent) - before["spend"].quantize(cent)) / before[
        "spend"
    ].quantize(cent)
    assert Decimal(str(got["compare"]["change"]["spend"])) == change.quantize(Decimal("0.0001"))
    assert [r["day"] for r in got["rows"]] == [f"2026-01-{d:02d}" for d in range(8, 15)]
    assert sum(Decimal(str(r["spend"])) for r in got["rows"]) == Decimal(str(totals["spend"]))


def test_the_first_report_aggregates_and_the_next_reads_the_rollups(
    cli: CliInvoker, synced: Database
) -> None:
    def aggregate_runs() -> int:
        return int(synced.scalar("SELECT count(*) FROM job_run WHERE job = 'aggregate daily'"))

    assert aggregate_runs() == 0
    report_json(cli, *PERIOD)
    assert aggregate_runs() == 1
    report_json(cli, *PERIOD)
    assert aggregate_runs() == 1
    cli.ok("sync", "demo", "--since", "2026-01-10", "--until", "2026-01-10")
    report_json(cli, *PERIOD)
    assert aggregate_runs() == 2


# --- the table, --json and --csv agree ------------------------------------------------------------


def parse_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """The rich tables in `text`, by title, as rows of {header: cell}."""
    tables: dict[str, list[dict[str, str]]] = {}
    title, header = "", []
    for line in text.splitlines():
        if line.startswith("┃"):
            header = [c.strip() for c in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            tables.setdefault(title, []).append(dict(zip(header, cells, strict=True)))
        elif line.strip() and not line.startswith(("┏", "┡", "└")):
            title = line.strip()
    return tables


def cell_value(text: str) -> Decimal | None:
    if text == "—":
        return None
    if text.endswith("%"):
        return Decimal(text[:-1].replace(",", "")) / 100
    return Decimal(text.replace(",", ""))


def as_decimal(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


@pytest.mark.parametrize("by", ["day", "channel", "campaign", "source"])
def test_table_json_and_csv_show_the_same_numbers(
    cli: CliInvoker, synced: Database, tmp_path: Path, by: str
) -> None:
    out = tmp_path / "rows.csv"
    shown = cli.ok("report", "--org", "acme", *PERIOD, "--by", by, "--csv", str(out))
    data = report_json(cli, *PERIOD, "--by", by)
    assert f"Wrote {len(data['rows'])} rows to {out}" in shown.stdout
    tables = parse_tables(shown.stdout)

    kpi_rows = tables["KPIs"]
    assert len(kpi_rows) >= 15
    for row in kpi_rows:
        name = LABELS[row["KPI"]]
        assert cell_value(row["value"]) == as_decimal(data["totals"][name]), name
        assert cell_value(row["before"]) == as_decimal(data["compare"]["totals"][name]), name

    table = tables[f"By {by}"]
    assert len(table) == len(data["rows"]) > 0
    for cells, row in zip(table, data["rows"], strict=True):
        label = row.get("campaign_name") or row[by] or "(none)"
        assert cells[by] == label
        for header, text in cells.items():
            if header != by:
                assert cell_value(text) == as_decimal(row[LABELS[header]]), (header, label)

    with out.open(newline="") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert len(csv_rows) == len(data["rows"])
    for csv_row, row in zip(csv_rows, data["rows"], strict=True):
        assert csv_row[by] == str(row[by])
        for name in KPIS:
            assert as_decimal(csv_row[name]) == as_decimal(row[name]), name


def test_csv_to_stdout_prints_only_csv(cli: CliInvoker, synced: Database) -> None:
    result = cli.ok("report", "--org", "acme", *PERIOD, "--by", "channel", "--csv", "-")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["channel"] for r in rows} >= {"Paid Social", "Organic Search", ""}


def test_by_source_shows_each_sources_own_figures(cli: CliInvoker, synced: Database) -> None:
    data = report_json(cli, *PERIOD, "--by", "source")
    rows = {r["source"]: r for r in data["rows"]}  # sources are named kind:account
    ga, woo, meta = rows["demo:ga"], rows["demo:woo"], rows["demo:meta"]
    assert woo["revenue"] == data["totals"]["revenue"]
    assert ga["revenue"] is not None and ga["revenue"] != woo["revenue"]
    assert meta["roas"] == round(meta["attributed_revenue"] / meta["spend"], 2)
    assert meta["revenue"] is None


def test_campaign_rows_and_top_bottom(cli: CliInvoker, synced: Database) -> None:
    data = report_json(cli, *PERIOD, "--by", "campaign")
    names = {r["campaign_name"] for r in data["rows"] if r["campaign"]}
    assert names == {"Prospecting - Broad", "Retargeting - 7d", "Lookalike 1%", "Catalog Sales"}
    shown = parse_tables(cli.ok("report", "--org", "acme", *PERIOD).stdout)
    top = [r["ROAS"] for r in shown["Top campaigns by ROAS"]]
    bottom = [r["ROAS"] for r in shown["Bottom campaigns by ROAS"]]
    assert len(top) + len(bottom) == 4
    assert min(map(Decimal, top)) >= max(map(Decimal, bottom))


def test_compare_year_over_year(cli: CliInvoker, synced: Database) -> None:
    data = report_json(cli, *PERIOD, "--compare", "yoy")
    assert (data["compare"]["start"], data["compare"]["end"]) == ("2025-01-08", "2025-01-14")
    assert data["compare"]["totals"]["spend"] is None
    assert data["compare"]["change"]["spend"] is None
    assert any("comparison period" in w for w in data["warnings"])


def test_kpis_with_nothing_to_divide_by_are_null(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "woo")
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-03")
    data = report_json(cli, "--since", "2026-01-02", "--until", "2026-01-03")
    totals = data["totals"]
    assert totals["orders"] > 0 and totals["revenue"] > 0
    for name in ("spend", "roas", "mer", "cpa", "cpc", "cpm", "ctr", "sessions"):
        assert totals[name] is None, name
    assert totals["aov"] == round(totals["revenue"] / totals["orders"], 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--org", "nope"), "Error: unknown organization 'nope'"),
        (("--org", "acme", "--since", "2026-13-01"), "Error: --since: '2026-13-01' is not a date"),
        (("--org", "acme", "--since", "2026-01-05", "--until", "2026-01-01"),
         "Error: --until 2026-01-01 is before --since 2026-01-05"),
        (("--org", "acme", "--until", "2026-01-05"), "Error: --until needs --since"),
        (("--org", "acme", "--days", "7", "--since", "2026-01-05"),
         "Error: give --days or --since"),
        (("--org", "acme", "--days", "0"), "Error: --days must be between"),
        (("--org", "acme", "--by", "week"), "Error: --by: 'week' is not one of"),
        (("--org", "acme", "--compare", "last"), "Error: --compare: 'last' is not one of"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line_and_exit_2(
    cli: CliInvoker, database: Database, args: tuple[str, ...], message: str
) -> None:
    setup_org(cli, "woo")
    result = cli("report", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert result.stdout == ""
    assert database.scalar("SELECT count(*) FROM job_run") == 0


def test_an_unwritable_csv_file_is_one_error_line(
    cli: CliInvoker, database: Database, tmp_path: Path
) -> None:
    setup_org(cli, "woo")
    result = cli("report", "--org", "acme", "--csv", str(tmp_path / "missing" / "rows.csv"))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --csv: cannot write ")
    assert len(result.stderr.strip().splitlines()) == 1
