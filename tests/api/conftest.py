"""An API over a real database (SQLite and PostgreSQL): two organizations and their tokens.

`acme` has a store, GA and Meta (demo sources); `beta` has Meta only. Each has one goal.
Tokens: `acme`, `beta` (one organization each) and `admin`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from dpo.api.app import create_app
from dpo.resources.tokens import create_token
from dpo.storage.db import session_scope
from dpo.vocab import TokenRole
from tests.conftest import CliInvoker, Database

if TYPE_CHECKING:
    import httpx2  # what starlette's TestClient is typed against

ANCHOR = "anchor=2026-01-20"


@dataclass
class Api:
    """A TestClient with the fixture's tokens, and ways to set data up through the CLI."""

    client: TestClient
    cli: CliInvoker
    db: Database
    tokens: dict[str, str] = field(default_factory=dict)
    goals: dict[str, int] = field(default_factory=dict)

    def call(
        self, method: str, url: str, *, who: str | None = "acme", **kwargs: Any
    ) -> httpx2.Response:
        """A request as `who` (a token name, a raw `Bearer …` value, or None for no token)."""
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = who if " " in who else f"Bearer {self.tokens[who]}"
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, *, who: str | None = "acme", **kwargs: Any) -> httpx2.Response:
        return self.call("GET", url, who=who, **kwargs)

    def post(self, url: str, *, who: str | None = "acme", **kwargs: Any) -> httpx2.Response:
        return self.call("POST", url, who=who, **kwargs)

    def put(self, url: str, *, who: str | None = "acme", **kwargs: Any) -> httpx2.Response:
        return self.call("PUT", url, who=who, **kwargs)

    def delete(self, url: str, *, who: str | None = "acme", **kwargs: Any) -> httpx2.Response:
        return self.call("DELETE", url, who=who, **kwargs)

    def sync(self, org: str, since: str, until: str) -> None:
        """Sync an organization's demo sources over some days (as cron would)."""
        self.cli.ok("sync", "demo", "--org", org, "--since", since, "--until", until)

    def wait_for_jobs(self) -> None:
        """Wait until the syncs started through the API have ended."""
        assert self.client.app.state.jobs.join(timeout=120)  # type: ignore[attr-defined]


def add_org(cli: CliInvoker, slug: str, *profiles: str, tz: str = "Europe/Berlin") -> None:
    """An organization with demo sources shaped like `profiles` (woo, ga, meta)."""
    cli.ok("orgs", "add", slug, "--name", slug.title(), "--timezone", tz, "--currency", "EUR")
    for profile in profiles:
        cli.ok("sources", "add", slug, "demo", "--account", profile, "--setting", ANCHOR)


def add_goal(cli: CliInvoker, org: str) -> int:
    """A revenue goal of `org`; returns its id."""
    import json

    result = cli.ok("goals", "add", org, "--kpi", "revenue", "--target", "5000", "--json")
    return int(json.loads(result.stdout)["id"])


def make_tokens() -> dict[str, str]:
    """Tokens for acme and beta (each its organization's admin role), an admin, and acme's
    viewer and editor."""
    with session_scope() as session:
        return {
            "acme": create_token(session, org_slug="acme", role=TokenRole.admin)[1],
            "beta": create_token(session, org_slug="beta", role=TokenRole.admin)[1],
            "admin": create_token(session, org_slug=None, is_admin=True)[1],
            "acme-viewer": create_token(session, org_slug="acme", role=TokenRole.viewer)[1],
            "acme-editor": create_token(session, org_slug="acme", role=TokenRole.editor)[1],
        }


@pytest.fixture
def api(database: Database, cli: CliInvoker) -> Iterator[Api]:
    add_org(cli, "acme", "woo", "ga", "meta")
    add_org(cli, "beta", "meta")
    goals = {"acme": add_goal(cli, "acme"), "beta": add_goal(cli, "beta")}
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield Api(client=client, cli=cli, db=database, tokens=make_tokens(), goals=goals)
