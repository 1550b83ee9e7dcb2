"""Answers come from memory while an organization's data is unchanged, and never after a
change: a sync, a rollup run, a goal edit, an insight raised or acknowledged — made by the API,
the CLI or another server process alike (the version lives in the database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dpo.api.app import create_app
from tests.api.conftest import Api
from tests.api.test_analytics import store_insights

BOARD = "/api/analytics/dashboard/acme?since=2026-01-08&until=2026-01-14"
CACHED_ROUTES = [
    BOARD,
    "/api/analytics/channel/Direct?org=acme&since=2026-01-08&until=2026-01-14",
    "/api/analytics/insights/acme",
    "/api/goals/acme/progress",
]


@pytest.fixture
def synced(api: Api) -> Api:
    api.sync("acme", "2026-01-01", "2026-01-16")
    return api


def revalidate(api: Api, url: str, etag: str, **kwargs: Any) -> Any:
    return api.get(url, headers={"If-None-Match": etag}, **kwargs)


@pytest.mark.parametrize("url", CACHED_ROUTES)
def test_an_unchanged_answer_is_a_304_to_a_client_that_holds_it(synced: Api, url: str) -> None:
    first = synced.get(url)
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    again = revalidate(synced, url, etag)
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag
    plain = synced.get(url)
    assert (plain.status_code, plain.headers["etag"], plain.json()) == (200, etag, first.json())
    other = synced.get(url, who="admin")  # another token of the organization: the same answer
    assert other.headers["etag"] == etag


def test_a_sync_shows_on_the_next_request(synced: Api) -> None:
    url = "/api/analytics/dashboard/acme?since=2026-01-14&until=2026-01-18"
    first = synced.get(url)
    orders = tile(first.json(), "orders")
    synced.sync("acme", "2026-01-17", "2026-01-18")  # the CLI, as cron runs it
    after = revalidate(synced, url, first.headers["etag"])
    assert after.status_code == 200
    assert tile(after.json(), "orders") > orders
    assert after.headers["etag"] != first.headers["etag"]


def test_a_goal_edit_shows_on_the_next_request(synced: Api) -> None:
    url = "/api/goals/acme/progress"
    first = synced.get(url)
    goal = synced.goals["acme"]
    assert synced.put(f"/api/goals/{goal}", json={"target": 7777}).status_code == 200
    after = revalidate(synced, url, first.headers["etag"])
    assert after.status_code == 200
    assert [g["target"] for g in after.json()] == [7777]


def test_an_insight_raised_or_acknowledged_shows_on_the_next_request(api: Api) -> None:
    urls = ["/api/analytics/insights/acme?status=open", "/api/analytics/dashboard/acme?days=1"]
    before = {url: api.get(url) for url in urls}
    assert before[urls[0]].json() == []
    store_insights(1)
    raised = {url: revalidate(api, url, before[url].headers["etag"]) for url in urls}
    assert [i["title"] for i in raised[urls[0]].json()] == ["Spend spike", "Sessions rising"]
    assert len(raised[urls[1]].json()["insights"]) == 2
    first = raised[urls[0]].json()[0]["id"]
    assert api.post(f"/api/analytics/insights/{first}/ack", who="acme-editor").status_code == 200
    for url in urls:
        after = revalidate(api, url, raised[url].headers["etag"])
        assert after.status_code == 200, url
    assert [i["title"] for i in api.get(urls[0]).json()] == ["Sessions rising"]
    assert [i["title"] for i in api.get(urls[1]).json()["insights"]] == ["Sessions rising"]


def test_another_organizations_change_keeps_the_answer(synced: Api) -> None:
    first = synced.get(BOARD)
    goal = synced.goals["beta"]
    assert synced.put(f"/api/goals/{goal}", json={"target": 1}, who="beta").status_code == 200
    assert revalidate(synced, BOARD, first.headers["etag"]).status_code == 304


@pytest.fixture
def second_server(synced: Api) -> Iterator[TestClient]:
    """Another server process (a worker) over the same database, with its own memory."""
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def test_a_change_through_one_server_shows_on_another(
    synced: Api, second_server: TestClient
) -> None:
    url = "/api/goals/acme/progress"
    auth = {"Authorization": f"Bearer {synced.tokens['acme']}"}
    warm = second_server.get(url, headers=auth)
    assert warm.status_code == 200
    assert second_server.get(url, headers=auth).json() == warm.json()  # from its memory
    goal = synced.goals["acme"]
    assert synced.put(f"/api/goals/{goal}", json={"target": 4242}).status_code == 200
    assert [g["target"] for g in second_server.get(url, headers=auth).json()] == [4242]


def test_the_answer_moves_with_the_organizations_date(
    synced: Api, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dpo.api.routes.analytics.utcnow", clock.now)
    clock.moment = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    url = "/api/analytics/dashboard/acme?days=7"
    first = synced.get(url)
    clock.advance(hours=1)  # past midnight in Berlin: "the last 7 days" end a day later
    after = revalidate(synced, url, first.headers["etag"])
    assert after.status_code == 200
    assert after.json()["period"]["end"] > first.json()["period"]["end"]


def tile(board: dict[str, Any], name: str) -> float:
    return float(next(t["value"] for t in board["kpis"] if t["name"] == name))


def test_a_revoked_token_is_refused_at_once_on_a_route_answered_from_memory(synced: Api) -> None:
    assert synced.get(BOARD).status_code == 200
    assert synced.get(BOARD).status_code == 200  # the token and the answer are known now
    token_id = synced.db.scalar("SELECT id FROM api_token WHERE org_id IS NOT NULL ORDER BY id")
    synced.cli.ok("tokens", "revoke", str(token_id))
    refused = synced.get(BOARD)
    assert refused.status_code == 401
    assert synced.get(BOARD, headers={"If-None-Match": "*"}).status_code == 401


def test_a_token_known_from_memory_still_sees_only_its_organization(synced: Api) -> None:
    assert synced.get(BOARD).status_code == 200
    synced.get("/api/analytics/dashboard/beta?days=7", who="beta")  # beta known as well
    other = synced.get("/api/analytics/dashboard/beta?days=7")  # acme's token
    assert (other.status_code, other.json()) == (404, {"detail": "unknown organization 'beta'"})


def test_a_removed_organization_is_unknown_at_once(synced: Api) -> None:
    url = "/api/goals/beta/progress"
    assert synced.get(url, who="admin").status_code == 200
    synced.cli.ok("orgs", "remove", "beta", "--yes")
    assert synced.get(url, who="admin").status_code == 404


def test_a_tokens_last_use_is_still_written_once_a_minute(
    synced: Api, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dpo.api.deps.utcnow", clock.now)

    def last_used() -> Any:
        return synced.db.scalar(
            "SELECT last_used_at FROM api_token WHERE org_id IS NOT NULL ORDER BY id"
        )

    synced.get(BOARD)
    first = last_used()
    assert first is not None
    clock.advance(minutes=2)
    synced.get(BOARD)
    assert str(last_used()) > str(first)
