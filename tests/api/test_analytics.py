"""The dashboard, channel and insights routes show the same numbers as `dpo report --json`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dpo.insights.store import InsightDraft, save_insights
from dpo.kpis import KPIS
from dpo.storage.db import session_scope
from dpo.vocab import InsightKind, Severity
from tests.api.conftest import Api

SINCE, UNTIL = "2026-01-08", "2026-01-14"


def report(api: Api, *args: str) -> dict[str, Any]:
    return json.loads(api.cli.ok("report", "--org", "acme", *args, "--json").stdout)  # type: ignore[no-any-return]


def check_dashboard_equals_report(board: dict[str, Any], want: dict[str, Any]) -> None:
    by_day = want["rows"]
    assert board["period"] == want["period"]
    assert board["compare"] == {
        "mode": want["compare"]["mode"],
        "start": want["compare"]["start"],
        "end": want["compare"]["end"],
    }
    assert [tile["name"] for tile in board["kpis"]] == list(KPIS)
    for tile in board["kpis"]:
        name = tile["name"]
        assert tile["value"] == want["totals"][name], name
        assert tile["previous"] == want["compare"]["totals"][name], name
        assert tile["change"] == want["compare"]["change"][name], name
        assert tile["trend"] == [row[name] for row in by_day], name
    (daily, _channels) = board["charts"]
    assert daily["data"]["labels"] == [row["day"] for row in by_day]
    spend = next(d for d in daily["data"]["datasets"] if d["kpi"] == "spend")
    assert spend["data"] == [row["spend"] for row in by_day]


@pytest.fixture
def synced(api: Api) -> Api:
    api.sync("acme", "2026-01-01", "2026-01-16")
    return api


def test_dashboard_numbers_are_the_reports(synced: Api) -> None:
    response = synced.get(f"/api/analytics/dashboard/acme?since={SINCE}&until={UNTIL}")
    assert response.status_code == 200, response.text
    board = response.json()
    want = report(synced, "--since", SINCE, "--until", UNTIL)
    check_dashboard_equals_report(board, want)
    assert board["kpis"][0]["value"] > 0  # spend: there is data to compare
    assert (board["org"], board["currency"], board["timezone"]) == ("acme", "EUR", "Europe/Berlin")
    by_channel = report(synced, "--since", SINCE, "--until", UNTIL, "--by", "channel")
    assert board["channels"] == by_channel["rows"]
    assert board["warnings"] == want["warnings"] == []


def test_dashboard_days_and_yoy_are_the_reports(api: Api) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    api.sync("acme", (today - timedelta(days=16)).isoformat(), today.isoformat())
    board = api.get("/api/analytics/dashboard/acme?days=7").json()
    check_dashboard_equals_report(board, report(api, "--days", "7"))
    assert board["period"]["end"] == (today - timedelta(days=1)).isoformat()
    yoy = api.get("/api/analytics/dashboard/acme?days=7&compare=yoy").json()
    want = report(api, "--days", "7", "--compare", "yoy")
    check_dashboard_equals_report(yoy, want)
    assert yoy["warnings"] == want["warnings"] != []  # the year before has no data


def test_dashboard_brings_rollups_up_to_date_first(synced: Api) -> None:
    def aggregate_runs() -> int:
        return int(synced.db.scalar("SELECT count(*) FROM job_run WHERE job = 'aggregate daily'"))

    url = f"/api/analytics/dashboard/acme?since={SINCE}&until={UNTIL}"
    assert aggregate_runs() == 0  # the sync wrote facts only
    assert synced.get(url).json()["kpis"][0]["value"] > 0
    assert aggregate_runs() == 1
    synced.get(url)
    assert aggregate_runs() == 1  # current: nothing to do
    synced.sync("acme", SINCE, SINCE)
    synced.get(url)
    assert aggregate_runs() == 2


def test_dashboard_of_an_organization_without_data(api: Api) -> None:
    board = api.get("/api/analytics/dashboard/acme?days=3").json()
    assert all(tile["value"] is None for tile in board["kpis"])
    assert board["warnings"] == [
        "no data yet: sync the organization's sources (`dpo sync …`) first"
    ]


def test_channel_numbers_are_the_reports_row(synced: Api) -> None:
    url = f"/api/analytics/channel/Paid Social?org=acme&since={SINCE}&until={UNTIL}"
    response = synced.get(url)
    assert response.status_code == 200, response.text
    got = response.json()
    want = report(synced, "--since", SINCE, "--until", UNTIL, "--by", "channel")
    row = next(r for r in want["rows"] if r["channel"] == "Paid Social")
    assert got["totals"] == {k: v for k, v in row.items() if k != "channel"}
    assert [d["day"] for d in got["days"]] == [f"2026-01-{d:02d}" for d in range(8, 15)]
    assert sum(d["spend"] for d in got["days"]) == pytest.approx(row["spend"])
    assert got["compare"]["start"] == "2026-01-01"
    campaigns = report(synced, "--since", SINCE, "--until", UNTIL, "--by", "campaign")["rows"]
    assert {c["campaign"] for c in got["campaigns"]} == {
        c["campaign"] for c in campaigns if c["channel"] == "Paid Social" and c["campaign"]
    }


def test_unknown_channel_is_404(synced: Api) -> None:
    for channel in ("Carrier Pigeon", "Paid%00Social"):
        response = synced.get(f"/api/analytics/channel/{channel}?org=acme")
        assert response.status_code == 404
        assert response.json()["detail"].startswith("unknown channel ")
    assert synced.get("/api/analytics/channel/Paid Social").status_code == 422  # no ?org=


def store_insights(org_id: int) -> None:
    now = datetime(2026, 1, 20, tzinfo=UTC)
    drafts = [
        InsightDraft(InsightKind.anomaly, "Spend spike", Severity.critical, "a1", kpi="spend"),
        InsightDraft(InsightKind.trend, "Sessions rising", Severity.info, "t1", kpi="sessions"),
    ]
    with session_scope() as session:
        save_insights(session, org_id, drafts, now=now)


def test_insights_are_listed_and_shown_on_the_dashboard(api: Api) -> None:
    store_insights(1)
    listed = api.get("/api/analytics/insights/acme").json()
    assert [(i["title"], i["severity"], i["org"]) for i in listed] == [
        ("Spend spike", "critical", "acme"),
        ("Sessions rising", "info", "acme"),
    ]
    only = api.get("/api/analytics/insights/acme?severity=critical").json()
    assert [i["title"] for i in only] == ["Spend spike"]
    api.cli.ok("insights", "ack", str(listed[0]["id"]))
    board = api.get("/api/analytics/dashboard/acme?days=1").json()
    assert [i["title"] for i in board["insights"]] == ["Sessions rising"]  # open ones only
    assert api.get("/api/analytics/insights/beta", who="beta").json() == []
    assert api.get("/api/analytics/insights/acme?limit=0").status_code == 422
    assert api.get("/api/analytics/insights/acme?status=closed").status_code == 422


def test_aggregate_runs_the_job(synced: Api) -> None:
    response = synced.post("/api/analytics/aggregate", json={"org": "acme", "rollup": "hourly"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["job"], body["label"], body["status"]) == ("aggregate hourly", "acme/hourly", "ok")
    assert body["rows_written"] > 0
    assert (
        synced.db.scalar("SELECT status FROM job_run WHERE id = :i", i=body["job_run_id"]) == "ok"
    )
    again = synced.post("/api/analytics/aggregate", json={"org": "acme"}).json()
    assert again["job"] == "aggregate daily"
    full = synced.post("/api/analytics/aggregate", json={"org": "acme", "full": True}).json()
    assert full["message"] == "full rebuild"


@pytest.mark.parametrize(
    "query",
    [
        "days=0",
        "days=99999",
        "days=7&since=2026-01-01",
        "since=2026-01-10&until=2026-01-01",
        "until=2026-01-01",
        "compare=lastyear",
        "since=0001-01-01",
        "since=yesterday",
    ],
)
def test_bad_periods_are_422(api: Api, query: str) -> None:
    response = api.get(f"/api/analytics/dashboard/acme?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"org": "acme", "rollup": "weekly"},
        {"org": "acme", "since": "0001-01-01"},
        {"org": "acme", "full": "maybe"},
        {"org": "acme", "surprise": 1},
    ],
)
def test_bad_aggregate_requests_are_422(api: Api, body: dict[str, Any]) -> None:
    assert api.post("/api/analytics/aggregate", json=body).status_code == 422


def test_dates_of_the_period_are_local(api: Api) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    board = api.get("/api/analytics/dashboard/acme").json()
    assert date.fromisoformat(board["period"]["end"]) == today - timedelta(days=1)
    assert len(board["kpis"][0]["trend"]) == 28
