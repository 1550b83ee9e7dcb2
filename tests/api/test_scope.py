"""One organization's token never sees or touches another's data, on every route.

The routes come from the app itself: a new route fails `test_every_route_is_classified`
until it is listed here, as organization-scoped (then the cross-organization test covers it)
or as one of the few that are not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from dpo.api.app import create_app
from dpo.api.deps import ApiConfig
from dpo.vocab import TokenRole
from tests.api.conftest import Api
from tests.api.test_analytics import store_insights


@dataclass(frozen=True)
class Target:
    """Whose things a request names: an organization, one of its goals, job runs, insights."""

    org: str
    goal: int
    run: int
    insight: int = 0


GHOST = Target("ghost", goal=987654, run=876543, insight=765432)


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: dict[str, Any] | None = None


Build = Callable[[Target], Call]

DAY = "2026-01-19"

SCOPED: dict[tuple[str, str], Build] = {
    ("GET", "/api/organizations/{org}"): lambda t: Call("GET", f"/api/organizations/{t.org}"),
    ("PUT", "/api/organizations/{org}"): lambda t: Call(
        "PUT", f"/api/organizations/{t.org}", {"name": "Renamed"}
    ),
    ("GET", "/api/analytics/dashboard/{org}"): lambda t: Call(
        "GET", f"/api/analytics/dashboard/{t.org}?days=7"
    ),
    ("GET", "/api/analytics/channel/{channel}"): lambda t: Call(
        "GET", f"/api/analytics/channel/Paid Social?org={t.org}&since={DAY}&until={DAY}"
    ),
    ("GET", "/api/analytics/insights/{org}"): lambda t: Call(
        "GET", f"/api/analytics/insights/{t.org}"
    ),
    ("POST", "/api/analytics/aggregate"): lambda t: Call(
        "POST", "/api/analytics/aggregate", {"org": t.org, "rollup": "daily"}
    ),
    ("GET", "/api/goals/{org}"): lambda t: Call("GET", f"/api/goals/{t.org}"),
    ("GET", "/api/goals/{org}/progress"): lambda t: Call("GET", f"/api/goals/{t.org}/progress"),
    ("POST", "/api/goals"): lambda t: Call(
        "POST", "/api/goals", {"org": t.org, "kpi": "spend", "target": 10}
    ),
    ("PUT", "/api/goals/{goal_id}"): lambda t: Call("PUT", f"/api/goals/{t.goal}", {"target": 1}),
    ("DELETE", "/api/goals/{goal_id}"): lambda t: Call("DELETE", f"/api/goals/{t.goal}"),
    ("POST", "/api/sync/{kind}"): lambda t: Call(
        "POST", "/api/sync/demo", {"org": t.org, "since": DAY, "until": DAY}
    ),
    ("GET", "/api/jobs/{run_id}"): lambda t: Call("GET", f"/api/jobs/{t.run}"),
    ("POST", "/api/analytics/insights/{insight_id}/ack"): lambda t: Call(
        "POST", f"/api/analytics/insights/{t.insight}/ack"
    ),
    # The stream stays open until the client leaves; `max_seconds=0` closes it at once.
    ("GET", "/api/events/{org}"): lambda t: Call("GET", f"/api/events/{t.org}?max_seconds=0"),
}

# Not about one organization, each tested below: /health (no token, no data), /metrics and
# creating organizations (admin only), listing organizations (only the caller's own).
UNSCOPED_CALLS = {
    ("GET", "/health"): Call("GET", "/health"),
    ("GET", "/metrics"): Call("GET", "/metrics"),
    ("GET", "/api/organizations"): Call("GET", "/api/organizations"),
    ("POST", "/api/organizations"): Call(
        "POST",
        "/api/organizations",
        {"slug": "gamma", "name": "Gamma", "timezone": "UTC", "currency": "USD"},
    ),
}


def example_call(api: Api, route: tuple[str, str]) -> Call:
    """A valid request to a route, about acme's own things."""
    if route in UNSCOPED_CALLS:
        return UNSCOPED_CALLS[route]
    return SCOPED[route](Target("acme", api.goals["acme"], 1, first_insight(api, "acme")))


def first_insight(api: Api, org: str) -> int:
    """The id of an insight of `org` (stored now if it has none)."""
    org_id = int(api.db.scalar("SELECT id FROM organization WHERE slug = :org", org=org))
    if not api.db.scalar("SELECT count(*) FROM insight WHERE org_id = :org", org=org_id):
        store_insights(org_id)
    return int(api.db.scalar("SELECT min(id) FROM insight WHERE org_id = :org", org=org_id))


def app_routes() -> set[tuple[str, str]]:
    """Every (method, path) the app serves, as its OpenAPI document lists them."""
    paths = create_app(ApiConfig()).openapi()["paths"]
    return {(method.upper(), path) for path, item in paths.items() for method in item}


def test_every_route_is_classified(database: object) -> None:
    routes = app_routes()
    assert routes == set(SCOPED) | set(UNSCOPED_CALLS)
    assert not set(SCOPED) & set(UNSCOPED_CALLS)


def snapshot(api: Api, org: str) -> dict[str, Any]:
    """What an admin sees of an organization: it, its goals, insights and job runs."""
    admin = {"who": "admin"}
    return {
        "org": api.get(f"/api/organizations/{org}", **admin).json(),
        "goals": api.get(f"/api/goals/{org}", **admin).json(),
        "insights": api.get(f"/api/analytics/insights/{org}", **admin).json(),
        "job_runs": api.db.rows(
            "SELECT j.id, j.status FROM job_run j JOIN organization o ON o.id = j.org_id "
            "WHERE o.slug = :org ORDER BY j.id",
            org=org,
        ),
    }


def send(api: Api, call: Call, who: str) -> Any:
    return api.call(call.method, call.url, who=who, json=call.json)


@pytest.mark.parametrize(("method", "path"), sorted(SCOPED))
def test_another_organizations_things_are_unknown(api: Api, method: str, path: str) -> None:
    build = SCOPED[(method, path)]
    api.sync("beta", DAY, DAY)
    beta_run = int(api.db.scalar("SELECT max(id) FROM job_run"))
    beta = Target("beta", api.goals["beta"], beta_run, first_insight(api, "beta"))
    before = snapshot(api, "beta")

    refused = send(api, build(beta), "acme")
    ghost = send(api, build(GHOST), "acme")

    # Exactly what a thing that does not exist gets: no data, no hint that beta exists.
    assert refused.status_code == ghost.status_code == 404, refused.text
    expected = ghost.text.replace("ghost", "beta")
    expected = expected.replace(str(GHOST.goal), str(beta.goal))
    expected = expected.replace(str(GHOST.insight), str(beta.insight))
    assert refused.text == expected.replace(str(GHOST.run), str(beta.run))
    assert snapshot(api, "beta") == before

    # The same request with beta's own token works: the 404 above came from the scope.
    allowed = send(api, build(beta), "beta")
    assert allowed.status_code < 300, allowed.text
    api.wait_for_jobs()


def test_an_organizations_token_lists_only_its_organization(api: Api) -> None:
    assert [o["slug"] for o in api.get("/api/organizations").json()] == ["acme"]
    assert [o["slug"] for o in api.get("/api/organizations", who="beta").json()] == ["beta"]
    assert [o["slug"] for o in api.get("/api/organizations", who="admin").json()] == [
        "acme",
        "beta",
    ]


def test_only_admin_tokens_create_organizations(api: Api) -> None:
    new = {"slug": "gamma", "name": "Gamma", "timezone": "UTC", "currency": "USD"}
    refused = api.post("/api/organizations", json=new)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this needs an admin token (`dpo tokens create --admin`)"}
    assert [o["slug"] for o in api.get("/api/organizations", who="admin").json()] == [
        "acme",
        "beta",
    ]
    assert api.post("/api/organizations", who="admin", json=new).status_code == 201


def test_only_admin_tokens_read_metrics(api: Api) -> None:
    assert api.get("/metrics").status_code == 403
    assert api.get("/metrics", who="admin").status_code == 200


# The role a route needs within the organization; every other scoped route is read-only (viewer).
NEEDS = {
    ("PUT", "/api/organizations/{org}"): TokenRole.admin,
    ("POST", "/api/analytics/aggregate"): TokenRole.editor,
    ("POST", "/api/goals"): TokenRole.editor,
    ("PUT", "/api/goals/{goal_id}"): TokenRole.editor,
    ("DELETE", "/api/goals/{goal_id}"): TokenRole.editor,
    ("POST", "/api/sync/{kind}"): TokenRole.editor,
    ("POST", "/api/analytics/insights/{insight_id}/ack"): TokenRole.editor,
}
TOKEN_OF = {
    TokenRole.viewer: "acme-viewer",
    TokenRole.editor: "acme-editor",
    TokenRole.admin: "acme",
}


@pytest.mark.parametrize("role", list(TokenRole))
@pytest.mark.parametrize(("method", "path"), sorted(SCOPED))
def test_each_role_does_what_it_may_and_nothing_more(
    api: Api, method: str, path: str, role: TokenRole
) -> None:
    """Every scoped route, every role: a route a role may not use is a 403 that changes
    nothing; one it may use answers (no 401, no 403)."""
    assert all(method == "GET" for (method, _p) in set(SCOPED) - set(NEEDS))
    needed = NEEDS.get((method, path), TokenRole.viewer)
    api.sync("acme", DAY, DAY)
    run = int(api.db.scalar("SELECT max(id) FROM job_run"))
    call = SCOPED[(method, path)](
        Target("acme", api.goals["acme"], run, first_insight(api, "acme"))
    )
    before = snapshot(api, "acme")
    got = send(api, call, TOKEN_OF[role])
    if role.allows(needed):
        assert got.status_code not in (401, 403), got.text
    else:
        assert got.status_code == 403, got.text
        assert got.json()["detail"].startswith(f"this needs an {needed.value} token")
        assert snapshot(api, "acme") == before
    api.wait_for_jobs()
