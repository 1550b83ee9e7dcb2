"""`dpo sources verify`: each connector's stored days against its upstream's own daily report,
through the real client libraries and the fakes; drift named, repaired and recorded."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.conftest import CliInvoker, Clock, Database
from tests.connectors.harness import GaHarness, Harness, MetaHarness, utc
from tests.fakes.ga import _figures, google_error
from tests.fakes.http import Request

SINCE, UNTIL = "2026-03-05", "2026-03-09"
DAY = date(2026, 3, 7)
# Per kind, the metric a test corrupts and the grain of the facts that give its day's figure.
CORRUPTED = {"ga": ("revenue", "hour"), "meta": ("spend", "day"), "woo": ("revenue", "hour")}
FACT_COLUMNS = "source_id, grain, period_start, channel, campaign, " + ", ".join(
    ("sessions", "users", "conversions", "orders", "revenue", "refunds", "spend", "impressions",
     "clicks", "attributed_conversions", "attributed_revenue")
)  # fmt: skip


def synced(cli: CliInvoker, harness: Harness, *settings: str) -> str:
    """Add the harness's source (with `settings`), sync SINCE…UNTIL; return its label."""
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", harness.tz, "--currency", "USD")
    extra = [a for s in settings for a in ("--setting", s)]
    cli.ok("sources", "add", "acme", harness.kind, *harness.source_args(), *extra)
    cli.ok("sync", harness.kind, "--since", SINCE, "--until", UNTIL)
    (source,) = json.loads(cli.ok("sources", "list", "--json").stdout)
    return f"acme/{source['name']}"


def facts(database: Database) -> list[tuple[Any, ...]]:
    return database.rows(f"SELECT {FACT_COLUMNS} FROM fact ORDER BY 1, 2, 3, 4, 5")


def corrupt(database: Database, harness: Harness, metric: str, grain: str) -> None:
    """Add 7 to `metric` of one fact of `grain` on DAY (local), as a bad write would."""
    start = datetime.combine(DAY, time(), ZoneInfo(harness.tz)).astimezone(UTC)
    candidates = database.rows(
        f"SELECT period_start, channel, campaign FROM fact WHERE grain = :grain "
        f"AND {metric} IS NOT NULL ORDER BY period_start, channel, campaign",
        grain=grain,
    )
    moment, channel, campaign = next(
        row for row in candidates if start <= utc(row[0]) < start + timedelta(hours=20)
    )
    with database.engine.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE fact SET {metric} = {metric} + 7 WHERE grain = %(g)s AND period_start = %(p)s "
            "AND channel = %(c)s AND campaign = %(k)s"
            if database.backend == "pg"
            else f"UPDATE fact SET {metric} = {metric} + 7 WHERE grain = :g AND period_start = :p "
            "AND channel = :c AND campaign = :k",
            {"g": grain, "p": moment, "c": channel, "k": campaign},
        )


def line_of(output: str, *words: str) -> str:
    """The one line of `output` that has every word."""
    (line,) = [x for x in output.splitlines() if all(w in x for w in words)]
    return line


def asked_for_daily_totals(harness: Harness, request: Request) -> bool:
    """True for the upstream's cheap daily report, as each connector asks for it."""
    if harness.kind == "ga":
        body = json.loads(request.body or b"{}")
        return [d["name"] for d in body.get("dimensions", [])] == ["date"] and len(
            body.get("metrics", [])
        ) == 4
    if harness.kind == "meta":
        args = {k: v[0] for k, v in request.query.items()}
        return (
            args.get("level") == "account"
            and args.get("time_increment") == "1"
            and ("breakdowns" not in args)
        )
    fields = request.arg("_fields") or ""
    return "refunds" in fields and "total" in fields


def test_a_synced_source_verifies_ok_and_a_corrupted_day_is_found_and_repaired(
    cli: CliInvoker, database: Database, upstream_: Harness, clock: Clock
) -> None:
    label = synced(cli, upstream_)
    before = facts(database)
    clean = cli("sources", "verify")
    assert clean.exit_code == 0, (clean.stdout, clean.stderr)
    assert clean.stdout.strip() == f"{label}: ok, 5 days"
    assert any(asked_for_daily_totals(upstream_, r) for r in upstream_.fake.requests)

    metric, grain = CORRUPTED[upstream_.kind]
    corrupt(database, upstream_, metric, grain)
    drift = cli("sources", "verify")
    assert drift.exit_code == 1, (drift.stdout, drift.stderr)
    truth = upstream_.expected_days(DAY, DAY)[DAY][metric]
    row = line_of(drift.stdout, "2026-03-07", metric)
    assert f"{truth + 7:f}" in row and f"{truth:f}" in row and "+7.00" in row
    assert drift.stdout.strip().endswith(f"{label}: 1 day drift ({metric})")
    shown = json.loads(cli.ok("status", "--json").stdout)["sources"][0]["verification"]
    assert (shown["status"], shown["drift_days"], shown["drift_metrics"]) == (
        "drift",
        ["2026-03-07"],
        [metric],
    )
    assert shown["summary"] == f"verified just now: {metric} drift on 2026-03-07"

    repaired = cli("sources", "verify", "--repair")
    assert repaired.exit_code == 0, (repaired.stdout, repaired.stderr)
    assert repaired.stdout.strip() == f"{label}: repaired 1 day; ok, 5 days"
    assert facts(database) == before  # as a fresh sync left them
    assert database.scalar("SELECT count(*) FROM fact_change") > 0  # the rollups follow
    clock.advance(hours=2)
    status = cli("status")
    assert "verified 2 h ago: ok, 5 days (1 day repaired)" in status.stdout
    assert cli("sources", "verify").exit_code == 0


def test_json_output_lists_the_drifting_figures_or_all_of_them(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    synced(cli, ga)
    corrupt(database, ga, "revenue", "hour")
    drift = cli("sources", "verify", "--json")
    assert drift.exit_code == 1
    (found,) = json.loads(drift.stdout)
    assert found["kind"] == "ga" and found["status"] == "drift" and found["exit_code"] == 1
    assert found["timezone"] == "America/New_York"
    assert (found["first_day"], found["last_day"], found["days"]) == (SINCE, UNTIL, 5)
    assert found["summary"] == "1 day drift (revenue)"
    (row,) = found["rows"]
    truth = ga.expected_days(DAY, DAY)[DAY]["revenue"]
    assert row == {
        "day": "2026-03-07",
        "metric": "revenue",
        "stored": float(truth + 7),
        "upstream": float(truth),
        "difference": 7,
        "tolerance": "exact",
        "is_drift": True,
    }
    every = json.loads(cli("sources", "verify", "--json", "--all").stdout)[0]["rows"]
    assert len(every) == 5 * 4  # days x (sessions, conversions, orders, revenue)
    sessions = [r for r in every if r["metric"] == "sessions"]
    assert {r["tolerance"] for r in sessions} == {"2%"} and not any(r["is_drift"] for r in sessions)


def test_the_organization_in_the_api_shows_what_the_latest_verification_found(
    cli: CliInvoker, database: Database, ga: GaHarness, clock: Clock
) -> None:
    from dpo.api.app import create_app
    from dpo.resources.tokens import create_token
    from dpo.storage.db import session_scope

    synced(cli, ga)
    with session_scope() as session:
        token = create_token(session, org_slug="acme")[1]
    corrupt(database, ga, "revenue", "hour")
    assert cli("sources", "verify").exit_code == 1
    clock.advance(minutes=125)
    with TestClient(create_app()) as client:
        body = client.get(
            "/api/organizations/acme", headers={"Authorization": f"Bearer {token}"}
        ).json()
    (found,) = body["verification"]
    assert (found["source"], found["kind"], found["status"]) == (
        f"ga:{ga.ga.property_id}",
        "ga",
        "drift",
    )
    assert (found["drift_days"], found["drift_metrics"]) == (["2026-03-07"], ["revenue"])
    assert found["summary"] == "verified 2 h ago: revenue drift on 2026-03-07"
    truth = ga.expected_days(DAY, DAY)[DAY]["revenue"]
    assert found["differences"] == [
        {
            "day": "2026-03-07",
            "metric": "revenue",
            "stored": f"{truth + 7:f}",
            "upstream": f"{truth:f}",
            "difference": "7.00",
            "tolerance": "exact",
        }
    ]


def test_a_transient_upstream_fault_exits_75_and_is_recorded(
    cli: CliInvoker, database: Database, ga: GaHarness
) -> None:
    label = synced(cli, ga)
    ga.fake.fail(google_error(503, "UNAVAILABLE", "The service is unavailable."), times=None)
    result = cli("sources", "verify", "--quiet")
    assert result.exit_code == 75
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {label}: ") and "HTTP 503" in result.stderr
    shown = json.loads(cli.ok("status", "--json").stdout)["sources"][0]["verification"]
    assert shown["status"] == "failed"
    assert shown["summary"].startswith("verification failed just now: ")


def test_tolerances_come_from_the_config_file_and_the_source(
    cli: CliInvoker, database: Database, ga: GaHarness, tmp_path: Path
) -> None:
    synced(cli, ga)
    assert cli("sources", "verify").exit_code == 0  # sessions within GA's 2 %
    config = tmp_path / "dpo.toml"
    config.write_text('[ga]\nverify_tolerances = { sessions = "0" }\n')
    exact = cli("--config", str(config), "sources", "verify", "--json")
    assert exact.exit_code == 1
    (found,) = json.loads(exact.stdout)
    # Summed over channels, GA's distinct sessions differ a little from the day's own figure.
    assert found["drift_metrics"] == ["sessions"]
    assert found["drift_days"] == [d.isoformat() for d in sessions_differ(ga)]
    refused = cli("sources", "add", "acme", "ga", "--account", "42", "--setting",
                  "verify_tolerances=sessions:lots")  # fmt: skip
    assert refused.exit_code == 2
    assert "use an amount (0.05) or a share (2%)" in refused.stderr


def sessions_differ(ga: GaHarness) -> list[date]:
    """The days whose channels' sessions do not add up to GA's own figure of the day."""
    by_day: dict[str, dict[str, list[Any]]] = {}
    for (date_hour, channel, _campaign), row in ga.ga.data.items():
        by_day.setdefault(date_hour[:8], {}).setdefault(channel, []).append(row)
    out = []
    for day, channels in sorted(by_day.items()):
        parts = sum(_figures(rows)["sessions"] for rows in channels.values())
        whole = _figures([r for rows in channels.values() for r in rows])["sessions"]
        if parts != whole and SINCE <= f"{day[:4]}-{day[4:6]}-{day[6:]}" <= UNTIL:
            out.append(datetime.strptime(day, "%Y%m%d").date())
    assert out, "the fake's data should show the difference"
    return out


def test_deleted_and_archived_campaigns_count_on_both_sides_for_meta(
    cli: CliInvoker, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    clock: Clock, waits: list[float],
) -> None:  # fmt: skip
    meta = MetaHarness(tmp_path, monkeypatch)
    meta.meta.campaigns[0].status = "DELETED"
    meta.meta.campaigns[1].status = "ARCHIVED"
    with meta.serving():
        label = synced(cli, meta)
        result = cli("sources", "verify", "--json", "--all", "--days", "2")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    (found,) = json.loads(result.stdout)
    assert (found["source"], found["summary"]) == (label.removeprefix("acme/"), "ok, 2 days")
    last = date(2026, 3, 9)
    truth = meta.expected_days(last, last)[last]
    for metric in ("spend", "impressions", "attributed_revenue"):
        (row,) = [r for r in found["rows"] if r["day"] == "2026-03-09" and r["metric"] == metric]
        assert Decimal(str(row["stored"])) == Decimal(str(row["upstream"])) == truth[metric]


def test_sources_without_an_upstream_report_are_skipped(
    cli: CliInvoker, database: Database, clock: Clock
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    cli.ok("sources", "add", "acme", "demo", "--account", "woo")
    result = cli("sources", "verify")
    assert result.exit_code == 0
    assert result.stdout.strip() == "acme/demo:woo: skipped: no upstream report to compare with"
    assert cli("sources", "verify", "--quiet").stdout == ""
    asked = cli("sources", "verify", "--kind", "demo")
    assert asked.exit_code == 2
    assert "demo sources cannot be verified" in asked.stderr
    never_synced = cli("status", "--json")  # exit 1: a source that never synced
    assert json.loads(never_synced.stdout)["sources"][0]["verification"] is None
