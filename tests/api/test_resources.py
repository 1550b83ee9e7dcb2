"""Organizations and goals through the API: round trips, and clear 4xx answers for bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.api.conftest import Api

GAMMA = {"slug": "gamma", "name": "Gamma", "timezone": "America/New_York", "currency": "usd"}


def test_organizations_round_trip(api: Api) -> None:
    created = api.post("/api/organizations", who="admin", json=GAMMA)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in GAMMA} == {**GAMMA, "currency": "USD"}
    assert api.get("/api/organizations/gamma", who="admin").json() == body
    cli_view = json.loads(api.cli.ok("orgs", "show", "gamma", "--json").stdout)
    assert cli_view["name"] == "Gamma" and cli_view["currency"] == "USD"
    changed = api.put("/api/organizations/acme", json={"name": "Acme GmbH", "currency": "chf"})
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["currency"]) == ("Acme GmbH", "CHF")
    assert changed.json()["timezone"] == "Europe/Berlin"  # untouched
    again = api.post("/api/organizations", who="admin", json=GAMMA)
    assert again.status_code == 409
    assert again.json() == {"detail": "organization 'gamma' already exists"}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"slug": "Gamma!"}, "slug"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "x" * 5000}, "timezone"),
        ({"currency": "XXY"}, "currency"),
        ({"name": "  "}, "name"),
        ({"name": "Nul\x00Corp"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"slug": None}, "slug"),
    ],
)
def test_invalid_organizations_are_422(api: Api, change: dict[str, Any], problem: str) -> None:
    response = api.post("/api/organizations", who="admin", json={**GAMMA, **change})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", problem]
    assert "input" not in error  # never echoes what was sent
    assert api.get("/api/organizations/gamma", who="admin").status_code == 404


def same_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their timestamps parsed (`Z` and `+00:00` are the same instant)."""
    stamps = ("created_at", "updated_at")
    return [
        {k: datetime.fromisoformat(v) if k in stamps else v for k, v in r.items()} for r in rows
    ]


def test_goals_round_trip(api: Api) -> None:
    new = {"org": "acme", "kpi": "ROAS", "target": "3.5", "period": "quarter", "channel": "Meta"}
    created = api.post("/api/goals", json=new)
    assert created.status_code == 201, created.text
    goal = created.json()
    assert (goal["org"], goal["kpi"], goal["target"], goal["comparison"]) == (
        "acme",
        "roas",
        3.5,
        "at-least",
    )
    assert goal["name"] == "roas at-least 3.5 per quarter"
    listed = api.get("/api/goals/acme").json()
    assert [g["id"] for g in listed] == [api.goals["acme"], goal["id"]]
    cli_goals = json.loads(api.cli.ok("goals", "list", "--org", "acme", "--json").stdout)
    assert same_times(cli_goals) == same_times(listed)  # as `dpo goals list --json` shows them

    changed = api.put(f"/api/goals/{goal['id']}", json={"target": 4, "name": "Q ROAS"})
    assert changed.status_code == 200
    assert (changed.json()["target"], changed.json()["name"]) == (4, "Q ROAS")
    assert changed.json()["updated_at"] > goal["updated_at"]
    assert api.get("/api/goals/acme").json()[1] == changed.json()

    assert api.delete(f"/api/goals/{goal['id']}").status_code == 204
    assert [g["id"] for g in api.get("/api/goals/acme").json()] == [api.goals["acme"]]
    gone = api.put(f"/api/goals/{goal['id']}", json={"target": 5})
    assert gone.status_code == 404
    assert gone.json() == {"detail": f"unknown goal {goal['id']}"}
    assert api.delete(f"/api/goals/{goal['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"kpi": "happiness", "target": 1}, "unknown KPI 'happiness'"),
        ({"kpi": "spend", "target": -1}, "target must not be negative"),
        ({"kpi": "spend", "target": "1e20"}, "target must be less than"),
        ({"kpi": "spend", "target": "NaN"}, "target must be a finite number"),
        ({"kpi": "spend", "target": "lots"}, "target must be a number"),
        ({"kpi": "spend", "target": 1, "period": "custom"}, "a custom period needs both"),
        (
            {"kpi": "spend", "target": 1, "start_date": "2026-02-01", "end_date": "2026-01-01"},
            "end 2026-01-01 is before start 2026-02-01",
        ),
        ({"kpi": "spend", "target": 1, "start_date": "0001-01-01"}, "out of range"),
        ({"kpi": "spend", "target": 1, "channel": "a\x00b"}, "control characters"),
        ({"kpi": "spend"}, "Field required"),
    ],
)
def test_invalid_goals_are_422(api: Api, body: dict[str, Any], problem: str) -> None:
    response = api.post("/api/goals", json={"org": "acme", **body})
    assert response.status_code == 422, response.text
    assert problem in json.dumps(response.json()["detail"])
    assert len(api.get("/api/goals/acme").json()) == 1


def test_an_update_must_leave_a_valid_goal(api: Api) -> None:
    url = f"/api/goals/{api.goals['acme']}"
    response = api.put(url, json={"period": "custom"})
    assert response.status_code == 422
    assert response.json() == {"detail": "a custom period needs both --start and --end"}
    assert api.get("/api/goals/acme").json()[0]["period"] == "month"


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("PUT", "/api/goals/99999999999999999999", 422),
        ("PUT", "/api/goals/0", 422),
        ("DELETE", "/api/goals/2147483647", 404),
        ("GET", "/api/jobs/-1", 422),
        ("GET", "/api/organizations/NOT%00A%20SLUG", 404),
        ("GET", "/api/analytics/dashboard/" + "a" * 3000, 404),
        ("GET", "/api/nothing-here", 404),
        ("PATCH", "/api/goals/1", 405),
    ],
)
def test_odd_urls_get_4xx_json(api: Api, method: str, url: str, status: int) -> None:
    response = api.call(method, url, json={"target": 1})
    assert response.status_code == status, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {"content-type": "application/json"}),
        (b"\xff\xfe\x00garbage", {"content-type": "application/json"}),
        (b'{"org": "acme", "kpi": "spend", "target": 1}', {"content-type": "text/plain"}),
        (b"[1, 2, 3]", {"content-type": "application/json"}),
        (b"", {}),
    ],
)
def test_malformed_bodies_are_4xx(api: Api, content: bytes, headers: dict[str, str]) -> None:
    response = api.post("/api/goals", content=content, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


def test_oversized_bodies_are_413(api: Api) -> None:
    big = {"org": "acme", "kpi": "spend", "target": 1, "name": "x" * 2_000_000}
    response = api.post("/api/goals", json=big)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 1000000 bytes"}


def test_answers_carry_safety_headers(api: Api) -> None:
    response = api.get("/api/goals/acme")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"


def test_tiny_targets_keep_the_columns_decimals(api: Api) -> None:
    response = api.post("/api/goals", json={"org": "acme", "kpi": "cpc", "target": 1.9e-260})
    assert response.status_code == 201, response.text
    assert (response.json()["target"], response.json()["name"]) == (0, "cpc at-most 0 per month")
    assert api.get("/api/goals/acme").json()[1]["target"] == 0


def test_goal_progress_is_what_the_cli_shows(api: Api) -> None:
    answer = api.get("/api/goals/acme/progress")
    assert answer.status_code == 200
    shown = json.loads(api.cli.ok("goals", "progress", "--org", "acme", "--json").stdout)
    got = answer.json()
    assert [g["goal_id"] for g in got] == [api.goals["acme"]]
    for key in ("goal_id", "target", "actual", "expected_by_now", "days_total", "status"):
        assert got[0][key] == shown[0][key], key
    assert api.get("/api/goals/beta/progress").status_code == 404


def test_oversized_bodies_without_a_length_are_413_too(api: Api) -> None:
    def chunks() -> Iterator[bytes]:  # sent chunked: no Content-Length to refuse up front
        yield b'{"org": "acme", "kpi": "spend", "target": 1, "name": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}'

    response = api.post(
        "/api/goals", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.json() == {"detail": "request body larger than 1000000 bytes"}
