"""`GET /api/events/{org}`: a served stream (uvicorn on 127.0.0.1) tells an organization's
dashboard what changed, in order, to its own tokens only, and picks up after `Last-Event-ID`."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from dpo.api.app import create_app
from dpo.api.deps import ApiConfig
from dpo.insights.store import InsightDraft, save_insights
from dpo.resources.tokens import create_token
from dpo.storage import events
from dpo.storage.db import ready_engine, session_scope
from dpo.storage.models import utcnow
from dpo.vocab import EventKind, InsightKind, Severity
from tests.api.conftest import Api
from tests.api.test_analytics import store_insights

DAY = "2026-01-19"
WAIT = 60  # seconds an expected event may take on a busy machine


@dataclass(frozen=True)
class Event:
    event: str
    id: int
    data: dict[str, Any]

    @property
    def what(self) -> str:
        """`goal updated`, `sync demo`: the kind and the action (or job) it tells of."""
        action = self.data.get("action") or self.data.get("job", "").split()[-1]
        return f"{self.event} {action}".strip()


class Stream:
    """An open event stream, read in a thread into a queue (None once it ends)."""

    def __init__(self, url: str, token: str, last_event_id: int | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self._client = httpx.Client(base_url=url, headers=headers, timeout=None)
        self._response: httpx.Response | None = None
        self._opened = threading.Event()
        self.received: queue.Queue[Event | None] = queue.Queue()
        threading.Thread(target=self._read, args=(url,), daemon=True).start()
        assert self._opened.wait(WAIT), "the stream did not open"

    def _read(self, url: str) -> None:
        try:
            with self._client.stream("GET", url) as response:
                self._response = response
                self._opened.set()
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line == "":
                        if "event" in fields:
                            data = json.loads(fields.get("data", "{}"))
                            self.received.put(Event(fields["event"], int(fields["id"]), data))
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.received.put(None)

    @property
    def status(self) -> int:
        assert self._response is not None
        return self._response.status_code

    def next(self) -> Event | None:
        return self.received.get(timeout=WAIT)

    def take(self, count: int) -> list[Event]:
        found = [self.next() for _ in range(count)]
        assert None not in found, found
        return [e for e in found if e is not None]

    def close(self) -> None:
        """Hang up, as a closed browser tab does (the server sees the connection end)."""
        if self._response is not None:
            sock = self._response.extensions["network_stream"].get_extra_info("socket")
            sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread too
        self._client.close()


@pytest.fixture
def served(api: Api) -> Iterator[str]:
    """The API on a free port of 127.0.0.1, in this process (streams need a real server)."""
    app = create_app(ApiConfig(events_poll_seconds=0.05))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=WAIT)


def open_stream(served: str, api: Api, who: str, org: str = "acme", **kwargs: Any) -> Stream:
    stream = Stream(f"{served}/api/events/{org}", api.tokens[who], **kwargs)
    assert stream.status == 200
    return stream


def make_changes(api: Api) -> None:
    """A goal edit, two insights raised and one acknowledged, a sync of acme's three demo
    sources and a daily rollup run: through the API, the CLI and the library."""
    assert api.put(f"/api/goals/{api.goals['acme']}", json={"target": 6000}).status_code == 200
    store_insights(1)
    first = int(api.db.scalar("SELECT min(id) FROM insight WHERE org_id = 1"))
    acked = api.post(f"/api/analytics/insights/{first}/ack", who="acme-editor")
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    api.sync("acme", DAY, DAY)
    rolled = api.post("/api/analytics/aggregate", json={"org": "acme", "rollup": "daily"})
    assert rolled.status_code == 200


CHANGES = [
    "goal updated",
    "insight raised",
    "insight raised",
    "insight acknowledged",
    "sync demo",
    "sync demo",
    "sync demo",
    "rollups daily",
]


def test_changes_arrive_in_order_with_what_they_changed(served: str, api: Api) -> None:
    stream = open_stream(served, api, "acme-viewer")
    ready = stream.next()
    assert ready is not None and ready.event == "ready" and ready.data["org"] == "acme"
    make_changes(api)
    got = stream.take(len(CHANGES))
    stream.close()
    assert [e.what for e in got] == CHANGES
    ids = [ready.id, *(e.id for e in got)]
    assert ids == sorted(set(ids))  # increasing, each once
    goal, raised = got[0].data, got[1].data
    assert (goal["goal"], goal["org"]) == (api.goals["acme"], "acme")
    assert (raised["title"], raised["severity"], raised["kind"]) == (
        "Spend spike",
        "critical",
        "anomaly",
    )
    syncs = [e.data for e in got if e.event == "sync"]
    assert {s["status"] for s in syncs} == {"ok"}
    assert sorted(s["target"] for s in syncs) == ["acme/demo:ga", "acme/demo:meta", "acme/demo:woo"]
    assert all(s["rows"] > 0 for s in syncs)


def test_another_organizations_token_sees_nothing(served: str, api: Api) -> None:
    refused = api.get("/api/events/acme", who="beta")
    assert refused.status_code == 404
    assert refused.json()["detail"] == "unknown organization 'acme'"
    assert api.get("/api/events/acme", who=None).status_code == 401
    beta = open_stream(served, api, "beta", org="beta")
    acme = open_stream(served, api, "acme")
    assert [e.event for e in beta.take(1) + acme.take(1)] == ["ready", "ready"]
    make_changes(api)
    assert len(acme.take(len(CHANGES))) == len(CHANGES)  # every acme change has happened
    assert api.put(f"/api/goals/{api.goals['beta']}", json={"target": 1}, who="beta").is_success
    first = beta.next()
    assert first is not None and first.what == "goal updated" and first.data["org"] == "beta"
    assert first.data["goal"] == api.goals["beta"]
    for stream in (acme, beta):
        stream.close()


def test_a_client_coming_back_gets_what_it_missed(served: str, api: Api) -> None:
    stream = open_stream(served, api, "acme")
    ready = stream.next()
    assert ready is not None
    make_changes(api)
    seen = stream.take(len(CHANGES))
    stream.close()
    back = open_stream(served, api, "acme", last_event_id=seen[2].id)
    again = back.take(len(CHANGES) - 3)
    back.close()
    assert again == seen[3:]  # the same events, ids and data, and no `ready`
    from_start = open_stream(served, api, "acme", last_event_id=ready.id)
    assert from_start.take(len(CHANGES)) == seen
    from_start.close()


def test_a_client_whose_place_is_gone_is_told_to_start_afresh(served: str, api: Api) -> None:
    with ready_engine().begin() as conn:
        old = events.record(
            conn, 1, EventKind.goal, {"action": "updated"}, now=utcnow() - timedelta(days=8)
        )
    with ready_engine().begin() as conn:
        new = events.record(conn, 1, EventKind.goal, {"action": "removed"})
    # The old event was removed when the new one was written (kept: 7 days).
    stream = open_stream(served, api, "acme", last_event_id=old - 1)
    reset, event = stream.take(2)
    stream.close()
    assert reset.event == "reset"
    assert (event.id, event.what) == (new, "goal removed")
    # An id this organization never reached (a database restored from a backup): afresh too.
    ahead = open_stream(served, api, "acme", last_event_id=new + 1000)
    assert [e.event for e in ahead.take(2)] == ["reset", "ready"]
    ahead.close()
    bad = api.get("/api/events/acme", headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "Last-Event-ID 'yesterday' is not an id this stream sent"


def test_a_revoked_token_ends_its_stream(served: str, api: Api) -> None:
    with session_scope() as session:
        token, secret = create_token(session, org_slug="acme")
        token_id = token.id
    stream = Stream(f"{served}/api/events/acme", secret)
    assert stream.status == 200 and stream.take(1)[0].event == "ready"
    api.cli.ok("tokens", "revoke", str(token_id))
    assert stream.next() is None  # the server closed it
    stream.close()
    assert api.get("/api/events/acme", who=f"Bearer {secret}").status_code == 401


def test_a_goal_put_at_risk_is_a_goal_event(api: Api) -> None:
    """A goal-risk insight tells of its goal: the page redraws the goals when it comes."""
    goal = api.goals["acme"]
    draft = InsightDraft(
        InsightKind.goal_risk,
        "Revenue goal at risk",
        Severity.warning,
        f"goal:{goal}",
        evidence={"goal_id": goal},
    )
    with session_scope() as session:
        save_insights(session, 1, [draft], now=utcnow())
    with session_scope() as session:
        save_insights(session, 1, [], now=utcnow(), resolve_kinds=[InsightKind.goal_risk])
    with ready_engine().connect() as conn:
        found, _ = events.since(conn, 1, 0)
    told = [(e.kind, e.detail["action"], e.detail.get("goal")) for e in found]
    assert told[-2:] == [("goal", "raised", goal), ("goal", "resolved", goal)]
