"""Syncs started through the API, the job lock shared with cron, /metrics, /health, logs, CORS."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from dpo.api.app import create_app
from dpo.api.deps import ApiConfig
from dpo.config import configure
from dpo.storage.locks import hold_lock
from tests.api.conftest import Api, add_goal, add_org, make_tokens
from tests.conftest import CliInvoker, Database

DAYS = {"since": "2026-01-10", "until": "2026-01-12"}


def test_sync_runs_in_the_background_and_records_its_run(api: Api) -> None:
    response = api.post("/api/sync/demo", json={"org": "acme", **DAYS})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["org"], body["kind"]) == ("acme", "demo")
    assert [r["source"] for r in body["runs"]] == [
        "acme/demo:woo",
        "acme/demo:ga",
        "acme/demo:meta",
    ]
    assert {r["status"] for r in body["runs"]} == {"running"}
    api.wait_for_jobs()
    for run in body["runs"]:
        job = api.get(f"/api/jobs/{run['job_run_id']}").json()
        assert (job["job"], job["org"], job["status"], job["windows"]) == (
            "sync demo",
            "acme",
            "ok",
            3,
        )
        assert job["rows_written"] > 0
    assert api.db.scalar("SELECT count(*) FROM fact WHERE org_id = 1") > 0
    jobs_cli = api.cli.ok("jobs", "list", "--json").stdout
    assert '"status": "ok"' in jobs_cli


def test_a_sync_already_running_is_409(api: Api) -> None:
    with hold_lock(api.db.engine, "sync:source:4"):  # beta's only source, as cron would hold it
        response = api.post("/api/sync/demo", who="beta", json={"org": "beta", **DAYS})
    assert response.status_code == 409
    assert response.json() == {"detail": "another process is running sync demo for beta/demo:meta"}
    assert api.db.rows("SELECT status FROM job_run") == [("skipped",)]  # as cron records it


def test_sync_of_a_kind_the_organization_lacks_is_404(api: Api) -> None:
    response = api.post("/api/sync/ga", json={"org": "acme"})
    assert response.status_code == 404
    assert response.json() == {"detail": "organization 'acme' has no enabled ga source"}
    assert api.post("/api/sync/shopify", json={"org": "acme"}).status_code == 422
    bad_range = {"org": "acme", "since": "2026-01-12", "until": "2026-01-10"}
    assert api.post("/api/sync/demo", json=bad_range).status_code == 422
    assert api.db.rows("SELECT id FROM job_run") == []


def test_an_aggregate_already_running_is_409(api: Api) -> None:
    with hold_lock(api.db.engine, "aggregate:day:org:1"):
        response = api.post("/api/analytics/aggregate", json={"org": "acme"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "another process is running aggregate daily for acme/daily"
    }


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text."""
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match[3])
    raise AssertionError(f"no {name} {labels} in\n{text}")


def test_metrics_count_requests_jobs_and_sync_age(api: Api) -> None:
    api.sync("acme", DAYS["since"], DAYS["until"])
    for _ in range(3):
        api.get("/api/goals/acme")
    api.get("/api/goals/nope")
    api.get("/api/goals/acme", who=None)
    text = api.get("/metrics", who="admin").text
    route = "/api/goals/{org}"
    assert metric(text, "dpo_http_requests_total", route=route, status="200") == 3
    assert metric(text, "dpo_http_requests_total", route=route, status="404") == 1
    assert metric(text, "dpo_http_requests_total", route=route, status="401") == 1
    assert metric(text, "dpo_http_request_duration_seconds_count", route=route, status="200") == 3
    assert metric(text, "dpo_job_runs", job="sync demo", status="ok") == 3
    age = metric(text, "dpo_sync_last_success_age_seconds", org="acme", source="demo:meta")
    assert 0 <= age < 3600
    assert metric(text, "dpo_database_up") == 1
    assert "nope" not in text  # paths are counted by their template, never as sent


def test_health_says_when_the_database_is_gone(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DPO_DATABASE_URL", "postgresql://dpo:s3cret@127.0.0.1:1/nothing")
    configure(config_file=None)
    with caplog.at_level(logging.WARNING):
        response = api.get("/health", who=None)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    assert "cannot connect to the database" in caplog.text and "s3cret" not in caplog.text
    assert api.get("/api/goals/acme").status_code == 503


def test_each_request_is_logged_without_token_or_query(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dpo.api.requests"):
        api.get("/api/analytics/insights/acme?status=open&limit=5")
        api.get("/api/goals/acme%0AINFO forged line", who=None)
    lines = [r.getMessage() for r in caplog.records if r.name == "dpo.api.requests"]
    assert len(lines) == 2
    assert re.fullmatch(r"GET /api/analytics/insights/acme 200 \d+\.\dms", lines[0])
    assert lines[1].startswith("GET /api/goals/acme\\nINFO forged line 401 ")
    assert api.tokens["acme"] not in caplog.text and "limit=5" not in caplog.text


def test_unexpected_errors_are_a_bare_500(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import dpo.resources.goals

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(dpo.resources.goals, "list_goals", boom)
    with caplog.at_level(logging.ERROR):
        response = api.get("/api/goals/acme")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "disk on fire" in caplog.text  # for the operator, not the client


def test_cors_allows_only_the_configured_origins(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPO_API__CORS_ORIGINS", '["https://dash.example.com"]')
    configure(config_file=None)
    client = TestClient(create_app())
    preflight = {"Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"}  # fmt: skip
    ok = client.options(
        "/api/goals/acme", headers={"Origin": "https://dash.example.com", **preflight}
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://dash.example.com"
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    evil = client.options(
        "/api/goals/acme", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in evil.headers
    monkeypatch.delenv("DPO_API__CORS_ORIGINS")
    configure(config_file=None)
    plain = TestClient(create_app(), headers={"Origin": "https://dash.example.com"})
    assert "access-control-allow-origin" not in plain.get("/health").headers


def test_bad_cors_settings_stop_the_server(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPO_API__CORS_ORIGINS", '["dash.example.com/path"]')
    configure(config_file=None)
    result = api.cli("serve", "--port", "1")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: invalid setting api.cors_origins")


def slow_sql(dialect: str) -> str:
    """A statement that runs for seconds: a count to 30 million, or a sleep."""
    if dialect == "postgresql":
        return "SELECT pg_sleep(4)"
    return (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000000)"
        " SELECT count(*) FROM n"
    )


def test_a_request_running_past_its_time_is_stopped_with_a_503(
    database: Database, cli: CliInvoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request's database work stops at `request_seconds`, even inside one statement."""
    from dpo.insights import pacing

    for org in ("acme", "beta"):
        add_org(cli, org, "woo")
        add_goal(cli, org)

    def slow(session: Session, **_: object) -> list[object]:
        session.exec(text(slow_sql(session.get_bind().dialect.name)))  # type: ignore[call-overload]
        return []

    app = create_app(ApiConfig(request_seconds=0.3))
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client=client, cli=cli, db=database, tokens=make_tokens())
        monkeypatch.setattr(pacing, "progress", slow)
        response = api.get("/api/goals/acme/progress")
        assert response.status_code == 503
        assert response.json()["detail"].startswith(
            "the request took longer than 0.3 s and was stopped"
        )
        monkeypatch.undo()
        # The connection goes back to the pool clean: later requests run to their end.
        for _ in range(3):
            assert api.get("/api/goals/acme/progress").status_code == 200
            assert api.get("/api/goals/acme").status_code == 200
