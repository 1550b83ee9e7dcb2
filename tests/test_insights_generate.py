"""`dpo insights generate` on demo data, on SQLite and PostgreSQL: finds the injected
incidents and nothing else, re-runs update instead of duplicating, cron behaviour."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from dpo.config import configure
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
    # Beside the incidents, the demo's slow movements: a campaign buying dearly, one whose
    # purchases fade, traffic growing for three weeks.
    told = [(i.kind, i.title) for i in run.movements]
    recommended = [t for k, t in told if k == "recommendation"]
    assert any(
        re.fullmatch(r"CPA of Lookalike 1% rose \d+% in the last 7 days", t) for t in recommended
    )
    assert any(
        re.fullmatch(r"Move budget from Prospecting - Broad \(ROAS [\d.]+\) to Retargeting - 7d "
                     r"\(ROAS [\d.]+\)", t)
        for t in recommended
    ), recommended  # fmt: skip
    assert any(t.startswith("Revenue is up") for k, t in told if k == "trend"), told


def test_the_demo_checkout_failure_is_flagged_within_three_hours(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo of the test above, its data synced up to three hours into the checkout
    failure and judged then: the failure is an alert about lost revenue (or orders), over
    hours of those three, still going."""
    cli.ok("orgs", "add", "demo", "--name", "Demo Shop", "--timezone", "Europe/Berlin",
           "--currency", "EUR")  # fmt: skip
    for profile in ("ga", "meta", "woo"):
        cli.ok("sources", "add", "demo", "demo", "--account", profile, "--setting",
               "anchor=2026-03-20")  # fmt: skip
    monkeypatch.setenv("DPO_INSIGHTS__SETTLE_HOURS", "0")  # judge the data up to `now`
    configure(config_file=None)
    start = datetime(2026, 2, 28, 7, tzinfo=UTC)  # 08:00 in Berlin, 20 days before the anchor
    now = start + timedelta(hours=3)
    run = run_demo(now=now, days=22)  # from 7 Feb, as the 42 days up to the anchor
    assert [r.exit_code for r in run.insights] == [0]
    incident, insight = next((i, m) for i, m in run.found if i.kind == "conversion_drop")
    assert incident.start == start
    assert insight is not None, [i.title for i in run.others]
    assert insight.kind == "anomaly" and insight.kpi in ("revenue", "orders")
    assert insight.period_start is not None and insight.period_end is not None
    assert start <= insight.period_start < insight.period_end <= now
    assert insight.evidence["change"] < -0.5 and insight.evidence["ongoing"]
    assert re.fullmatch(r"(Revenue|Orders) \d+% below normal on Sat 28 Feb, \d\d:00-11:00",
                        insight.title), insight.title  # fmt: skip
    assert "Still going at the latest data." in insight.description
    assert run.others == []


def span_of_title(title: str) -> timedelta:
    """How long the title says the insight lasted: "on Mon 09 Mar, 16:00-20:00", "from Mon 09
    Mar 16:00, for 30 hours", "on Mon 09 Mar", "Mon 09 Mar - Wed 11 Mar"."""
    if m := re.search(r", (\d\d):(\d\d)-(\d\d):(\d\d)$", title):
        start, end = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
        return timedelta(minutes=(end - start) % (24 * 60))
    if m := re.search(r", for (\d+) hours$", title):
        return timedelta(hours=int(m[1]))
    if m := re.search(r"(\w{3} \d\d \w{3}) - (\w{3} \d\d \w{3})$", title):
        first, last = (datetime.strptime(f"{d} 2026", "%a %d %b %Y") for d in (m[1], m[2]))
        return last - first + timedelta(days=1)
    assert re.search(r" on \w{3} \d\d \w{3}$", title), title
    return timedelta(days=1)


def test_every_insight_says_the_same_span_money_and_zone_everywhere(database: Database) -> None:
    """Title, text, period and evidence come from one record: the span the title shows is
    the text's "over N hours" and the stored period; money at stake is the money KPI's
    |expected - actual| over that span, said once in the text; a tracking outage with the
    store's revenue intact is data quality with no money at stake; times are local, named."""
    run = run_demo(now=NOW, days=42)
    shown = [match for _, match in run.found if match is not None] + run.others
    assert len(shown) >= 3
    for insight in shown:
        assert insight.period_start is not None and insight.period_end is not None
        span = insight.period_end - insight.period_start
        assert span_of_title(insight.title) == span, insight.title
        unit, step = ("hour", 3600) if insight.evidence["grain"] == "hour" else ("day", 86400)
        count = round(span.total_seconds() / step)
        over = f"over {count} {unit}{'s' if count != 1 else ''} (Europe/Berlin time, CE"
        assert over in insight.description, (insight.title, insight.description)
        assert insight.timezone == insight.evidence["timezone"] == "Europe/Berlin"
        stake = insight.evidence["impact"]
        gap = abs(insight.evidence["expected"] - insight.evidence["actual"])
        if insight.kpi in ("revenue", "spend", "attributed_revenue"):
            assert stake == pytest.approx(gap, abs=0.01), insight.title
        said = re.findall(r"Money at stake: about EUR ([\d,]+)", insight.description)
        assert said == ([f"{stake:,.0f}"] if stake else []), insight.description
    by_kind = {i.kind: match for i, match in run.found}
    outage = by_kind["tracking_outage"]
    assert outage is not None and outage.kind == "data_quality"
    assert outage.evidence["impact"] == 0
    assert "No money at stake" in outage.description
    assert ": no data" in outage.description or "no data" not in outage.description


def test_organizations_in_several_processes_find_what_one_process_finds(
    cli: CliInvoker, database: Database
) -> None:
    """`--jobs 2`: each organization's job runs in another process (its job_run row says
    which), and the insights are the ones a single process finds."""
    run_demo(now=NOW, days=42)
    cli.ok("orgs", "add", "beta", "--name", "Beta", "--timezone", "America/New_York",
           "--currency", "USD")  # fmt: skip
    for profile in ("woo", "meta"):
        cli.ok("sources", "add", "beta", "demo", "--account", profile, "--setting",
               "anchor=2026-03-20")  # fmt: skip
    cli.ok("sync", "demo", "--org", "beta", "--since", "2026-02-06", "--until", "2026-03-19")
    query = "SELECT org_id, fingerprint, title, severity, status FROM insight ORDER BY 1, 2"

    def generate(jobs: int) -> list[tuple[Any, ...]]:
        with database.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM insight"))
        results = run_insights(now=NOW, jobs=jobs)
        assert [r.exit_code for r in results] == [0, 0]
        assert [r.label for r in results] == ["beta/insights", "demo/insights"]
        return database.rows(query)

    alone = generate(1)
    together = generate(2)
    assert together == alone and {row[0] for row in alone} == {1, 2}
    pids = database.rows("SELECT pid FROM job_run WHERE job = 'insights generate' ORDER BY id")
    assert {p for (p,) in pids[-2:]} - {os.getpid()} == {p for (p,) in pids[-2:]}
    assert [p for (p,) in pids[:-2]].count(os.getpid()) >= 2  # jobs=1: in this process


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
