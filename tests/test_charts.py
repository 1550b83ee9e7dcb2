"""Charts of the report: PNG and SVG files, and the terminal plot."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from dpo.insights.store import InsightDraft, save_insights
from dpo.vocab import InsightKind, Severity
from tests.conftest import CliInvoker, Database
from tests.test_sync import setup_org

PERIOD = ("--since", "2026-01-08", "--until", "2026-01-14")


@pytest.fixture
def synced(cli: CliInvoker, database: Database) -> Database:
    setup_org(cli, "woo", "ga", "meta")
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-16")
    return database


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_png_chart_is_a_real_image(cli: CliInvoker, synced: Database, tmp_path: Path) -> None:
    out = tmp_path / "report.png"
    result = cli.ok("report", "--org", "acme", *PERIOD, "--chart", str(out))
    assert f"Wrote the chart to {out}" in result.stderr
    width, height = png_size(out)
    assert width >= 1000 and height >= 500


def test_svg_chart_has_title_series_comparison_and_anomalies(
    cli: CliInvoker, synced: Database, tmp_path: Path
) -> None:
    with Session(synced.engine) as s:
        save_insights(s, 1, [InsightDraft(
            kind=InsightKind.anomaly, title="Revenue dropped", severity=Severity.warning,
            fingerprint="x", kpi="revenue",
            period_start=datetime(2026, 1, 10, 9, tzinfo=UTC))], now=datetime.now(UTC))  # fmt: skip
        s.commit()
    out = tmp_path / "report.svg"
    cli.ok("report", "--org", "acme", *PERIOD, "--chart", str(out), "--json")
    svg = out.read_text()
    assert "Acme — Spend, Revenue, MER, 2026-01-08 → 2026-01-14" in svg
    assert "days in Europe/Berlin, money in EUR" in svg
    for kpi in ("spend", "revenue", "mer"):
        assert f'id="series-{kpi}"' in svg and f'id="compare-{kpi}"' in svg
    assert 'id="anomalies-revenue"' in svg and 'id="anomalies-spend"' not in svg


def test_chosen_kpis(cli: CliInvoker, synced: Database, tmp_path: Path) -> None:
    out = tmp_path / "orders.svg"
    cli.ok(
        "report",
        "--org",
        "acme",
        *PERIOD,
        "--chart",
        str(out),
        "--kpi",
        "orders",
        "--kpi",
        "conversion_rate",
    )
    svg = out.read_text()
    assert 'id="series-orders"' in svg and 'id="series-conversion_rate"' in svg
    assert 'id="series-spend"' not in svg


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chart", "report.pdf"], "writes .png or .svg files"),
        (
            ["--chart", "r.png", "--kpi", "spend", "--kpi", "orders", "--kpi", "mer"],
            "at most two kinds",
        ),
        (["--chart", "r.png", "--kpi", "happiness"], "unknown KPI 'happiness'"),
        (["--kpi", "spend"], "give one of them"),
        (["--plot", "--json"], "--plot draws on stdout"),
        (["--chart", "/nonexistent-dir/r.png"], "cannot write /nonexistent-dir/r.png"),
    ],
)
def test_bad_chart_options(
    cli: CliInvoker,
    synced: Database,
    tmp_path: Path,
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("report", "--org", "acme", *PERIOD, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert message in result.stderr
    assert not list(tmp_path.glob("r.*"))


def test_terminal_plot(cli: CliInvoker, synced: Database) -> None:
    out = cli.ok("report", "--org", "acme", *PERIOD, "--plot").stdout
    assert "Acme: Spend, Revenue per day (EUR, days in Europe/Berlin)" in out
    assert "2026-01-08" in out and "2026-01-14" in out
