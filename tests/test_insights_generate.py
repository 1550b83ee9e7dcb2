"""`dpo insights generate` on demo data, on SQLite and PostgreSQL: finds the injected
incidents and nothing else, re-runs update instead of duplicating, cron behaviour."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dpo.connectors.demo import CAMPAIGNS
from dpo.jobs.demo import run_demo
from dpo.jobs.insights import run_insights
from dpo.storage.locks import hold_lock
from tests.conftest import CliInvoker, Database

NOW = datetime(2026, 3, 20, 12, 30, tzinfo=UTC)


def insights(db: Database) -> list[tuple[Any, ...]]:
    return db.rows(
        "SELECT kind, severity, kpi, campaign, status, fingerprint FROM insight ORDER BY id"
    )


def test_demo_incidents_are_found_and_nothing_else(database: Database) -> None:
    run = run_demo(now=NOW, days=42)
    assert [r.exit_code for r in run.insights] == [0]
    assert len(run.found) == 3
    missed = [i.kind for i, match in run.found if match is None]
    assert missed == []
    assert run.others == []  # no anomaly beyond the injected ones in four weeks of 100+ series
    by_kind = {i.kind: match for i, match in run.found}
    outage = by_kind["tracking_outage"]
    assert outage is not None and outage.kind == "data_quality" and outage.kpi == "sessions"
    spike = by_kind["spend_spike"]
    assert spike is not None and spike.kind == "anomaly" and spike.kpi == "spend"
    assert spike.campaign == CAMPAIGNS[0].id and spike.severity == "critical"
    assert spike.evidence["change"] > 2 and spike.evidence["impact"] > 100
    assert "spend" in [r["kpi"] for r in spike.evidence["related"]]
    drop = by_kind["conversion_drop"]
    assert drop is not None and drop.kpi in ("revenue", "orders") and drop.evidence["change"] < -0.5


def test_reruns_update_and_resolve_instead_of_duplicating(database: Database) -> None:
    run_demo(now=NOW, days=42)
    found = insights(database)
    anomalies = [row for row in found if row[0] in ("anomaly", "data_quality")]
    assert len(anomalies) == 3
    # The hourly job reports the last week only: older incidents are resolved.
    (result,) = run_insights(now=NOW)
    assert result.exit_code == 0
    after = insights(database)
    assert len(after) == len(found)  # nothing new, nothing doubled
    statuses = {row[5]: row[4] for row in after if row[0] in ("anomaly", "data_quality")}
    assert sorted(statuses.values()) == ["open", "resolved", "resolved"]
    (again,) = run_insights(now=NOW)
    assert "0 new" in again.message and insights(database) == after
    runs = database.rows("SELECT status FROM job_run WHERE job = 'insights generate'")
    assert runs == [("ok",)] * 3


def test_cron_runs_quietly_and_reports_held_locks(cli: CliInvoker, database: Database) -> None:
    run_demo(now=NOW, days=21)
    quiet = cli("insights", "generate", "--quiet")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    listed = json.loads(cli.ok("insights", "generate", "--org", "demo", "--json").stdout)
    assert [(r["label"], r["status"]) for r in listed] == [("demo/insights", "ok")]
    with hold_lock(database.engine, "insights:org:1"):
        held = cli("insights", "generate")
    assert held.exit_code == 75
    assert "another process is running insights generate for demo/insights" in held.stderr


def test_nothing_to_do_and_unknown_organizations(cli: CliInvoker, database: Database) -> None:
    none = cli("insights", "generate")
    assert none.exit_code == 3
    assert none.stderr.startswith("Error: no organizations to generate insights for")
    unknown = cli("insights", "generate", "--org", "nope")
    assert unknown.exit_code == 2 and unknown.stderr.startswith("Error: unknown organization")


def test_short_history_is_said_not_guessed(database: Database) -> None:
    run = run_demo(now=NOW, days=5)
    (result,) = run.insights
    assert result.exit_code == 0
    assert "series have too little history to judge yet" in result.message
    kinds = database.rows("SELECT DISTINCT kind FROM insight")
    assert ("anomaly",) not in kinds and ("data_quality",) not in kinds
