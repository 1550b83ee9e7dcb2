"""Insights storage: re-runs update instead of duplicating; ack, resolve, reopen; listing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlmodel import Session

from dpo.insights.store import InsightDraft, save_insights
from dpo.vocab import InsightKind, Severity
from tests.conftest import CliInvoker, Database
from tests.test_sync import setup_org

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def draft(
    fingerprint: str,
    *,
    severity: Severity = Severity.warning,
    title: str = "x",
    kind: InsightKind = InsightKind.anomaly,
) -> InsightDraft:
    return InsightDraft(
        kind=kind,
        title=title,
        severity=severity,
        fingerprint=fingerprint,
        confidence=0.8,
        kpi="revenue",
        evidence={"expected": 10, "actual": 2},
    )


def save(db: Database, drafts: list[InsightDraft], **kw: object) -> tuple[int, int, int]:
    with Session(db.engine) as s:
        result = save_insights(s, 1, drafts, now=NOW, **kw)  # type: ignore[arg-type]
        s.commit()
    return result.created, result.updated, result.resolved


def test_rerun_updates_and_resolves_what_no_longer_holds(
    cli: CliInvoker, database: Database
) -> None:
    setup_org(cli)
    assert save(database, [draft("a"), draft("b")]) == (2, 0, 0)
    assert save(database, [draft("a", title="revenue dropped 80%"), draft("b")]) == (0, 2, 0)
    assert database.scalar("SELECT count(*) FROM insight") == 2
    assert database.scalar("SELECT title FROM insight WHERE fingerprint = 'a'") == (
        "revenue dropped 80%"
    )
    cli.ok("insights", "ack", "1")
    assert save(database, [draft("a")], resolve_kinds=[InsightKind.anomaly]) == (0, 1, 1)
    statuses = database.rows("SELECT fingerprint, status FROM insight ORDER BY fingerprint")
    assert statuses == [("a", "acknowledged"), ("b", "resolved")]
    assert save(database, [draft("a"), draft("b")]) == (0, 2, 0)  # b holds again: reopened
    assert database.scalar("SELECT status FROM insight WHERE fingerprint = 'b'") == "open"


def test_resolution_only_touches_the_kinds_a_run_covered(
    cli: CliInvoker, database: Database
) -> None:
    setup_org(cli)
    save(database, [draft("a"), draft("r", kind=InsightKind.recommendation)])
    assert save(database, [], resolve_kinds=[InsightKind.anomaly]) == (0, 0, 1)
    assert database.scalar("SELECT status FROM insight WHERE fingerprint = 'r'") == "open"


def test_list_filters_and_orders_by_severity(cli: CliInvoker, database: Database) -> None:
    setup_org(cli)
    save(
        database,
        [draft("i", severity=Severity.info), draft("c", severity=Severity.critical), draft("w")],
    )
    listed = json.loads(cli.ok("insights", "list", "--json").stdout)
    assert [i["severity"] for i in listed] == ["critical", "warning", "info"]
    assert listed[0]["org"] == "acme" and listed[0]["evidence"] == {"expected": 10, "actual": 2}
    only = json.loads(cli.ok("insights", "list", "--severity", "info", "--json").stdout)
    assert [i["severity"] for i in only] == ["info"]
    assert cli("insights", "list", "--severity", "dire").exit_code == 2
    assert json.loads(cli.ok("insights", "list", "--status", "resolved", "--json").stdout) == []


def test_list_shows_times_in_the_organizations_zone(cli: CliInvoker, database: Database) -> None:
    setup_org(cli)  # Europe/Berlin
    first = draft("a", title="Revenue 80% below normal on Sun 01 Mar, 13:00-16:00")
    first.period_start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    save(database, [first])
    table = cli.ok("insights", "list").stdout
    assert "times in each organization's time zone" in table
    assert "2026-03-01 13:00 CET" in table  # 12:00 UTC, as the title says it
    assert json.loads(cli.ok("insights", "list", "--json").stdout)[0]["timezone"] == "Europe/Berlin"


def test_ack_unknown_insight(cli: CliInvoker, database: Database) -> None:
    result = cli("insights", "ack", "42")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: unknown insight 42")
