"""Every route but /health needs a valid token; tokens are shown once, stored hashed, revocable;
JWTs work only when a secret is configured."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from dpo.api.app import create_app
from dpo.config import configure
from dpo.settings import ApiSettings, get_settings
from tests.api.conftest import Api
from tests.api.test_scope import app_routes, example_call
from tests.conftest import CliInvoker, Database

AUTHENTICATED = sorted(r for r in app_routes() if r != ("GET", "/health"))
JWT_KEY = "k" * 40


def refused(api: Api, route: tuple[str, str], who: str | None) -> Any:
    call = example_call(api, route)
    response = api.call(call.method, call.url, who=who, json=call.json)
    assert response.status_code == 401, (route, response.text)
    assert response.headers["www-authenticate"] == "Bearer"
    return response.json()


@pytest.mark.parametrize("route", AUTHENTICATED)
def test_no_bad_or_revoked_token_is_401(api: Api, cli: CliInvoker, route: tuple[str, str]) -> None:
    assert refused(api, route, None) == {
        "detail": "missing token: send Authorization: Bearer <token>"
    }
    assert refused(api, route, "Basic YWNtZTphY21l") == refused(api, route, None)
    bad = {"detail": "invalid or revoked token"}
    assert refused(api, route, "Bearer dpo_not-a-real-token") == bad
    assert refused(api, route, "Bearer " + api.tokens["admin"][:-1]) == bad
    assert refused(api, route, "Bearer dpo_" + "x" * 600) == bad
    cli.ok("tokens", "revoke", "3")  # the admin token: it could call every route
    assert refused(api, route, "admin") == bad


def test_health_needs_no_token(api: Api) -> None:
    response = api.get("/health", who=None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_tokens_are_shown_once_and_stored_hashed(cli: CliInvoker, database: Database) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    created = cli.ok("tokens", "create", "acme", "--name", "dashboard")
    secret = created.stdout.strip()
    assert secret.startswith("dpo_") and len(secret) > 40
    assert created.stderr.startswith("Created token #1 (")
    assert "not shown again" in created.stderr and secret not in created.stderr
    listed = cli.ok("tokens", "list", "--json").stdout
    assert secret not in listed and secret[12:] not in listed
    (row,) = json.loads(listed)
    assert (row["id"], row["name"], row["org"], row["is_admin"]) == (1, "dashboard", "acme", False)
    assert secret.startswith(row["prefix"]) and len(row["prefix"]) == 12
    stored = database.rows("SELECT token_hash, prefix, name FROM api_token")
    assert not any(secret in str(value) for value in stored[0])
    admin = json.loads(cli.ok("tokens", "create", "--admin", "--json").stdout)
    assert admin["is_admin"] and admin["org"] is None and admin["token"].startswith("dpo_")


def test_token_use_is_noted_and_revoking_is_final(api: Api, cli: CliInvoker) -> None:
    def acme_row() -> dict[str, Any]:
        rows = json.loads(cli.ok("tokens", "list", "--json").stdout)
        return next(r for r in rows if r["org"] == "acme")

    assert acme_row()["last_used_at"] is None
    assert api.get("/api/organizations").status_code == 200
    assert acme_row()["last_used_at"] is not None
    assert cli.ok("tokens", "revoke", "1").stdout.startswith("Revoked token #1 (dpo_")
    assert acme_row()["revoked_at"] is not None
    assert api.get("/api/organizations").status_code == 401
    cli.ok("tokens", "revoke", "1")  # again: nothing changes
    assert api.get("/api/organizations").status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "--org", "acme", "--admin"), "Error: give --org or --admin, not both"),
        (("create", "acme", "--admin"), "Error: give --org or --admin, not both"),
        (("create", "nope"), "Error: unknown organization 'nope'"),
        (("revoke", "99"), "Error: unknown token 99"),
    ],
)
def test_token_commands_refuse_bad_input(
    cli: CliInvoker, database: Database, args: tuple[str, ...], message: str
) -> None:
    cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", "UTC", "--currency", "EUR")
    result = cli("tokens", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert json.loads(cli.ok("tokens", "list", "--json").stdout) == []


# --- JWT -----------------------------------------------------------------------------------


@pytest.fixture
def jwt_api(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """The same data, served by an app configured with a JWT secret (by reference)."""
    monkeypatch.setenv("DASHBOARD_JWT_KEY", JWT_KEY)
    monkeypatch.setenv("DPO_API__JWT_SECRET_ENV", "DASHBOARD_JWT_KEY")
    configure(config_file=None)
    api.client = TestClient(create_app(), raise_server_exceptions=False)
    return api


def signed(claims: dict[str, Any], *, key: str = JWT_KEY, algorithm: str = "HS256") -> str:
    return "Bearer " + jwt.encode({"exp": int(time.time()) + 300, **claims}, key, algorithm)


def test_jwts_carry_an_organization_or_admin(jwt_api: Api) -> None:
    acme = signed({"org": "acme", "sub": "dashboard"})
    assert [o["slug"] for o in jwt_api.get("/api/organizations", who=acme).json()] == ["acme"]
    assert jwt_api.get("/api/goals/acme", who=acme).status_code == 200
    assert jwt_api.get("/api/goals/beta", who=acme).status_code == 404
    admin = signed({"admin": True})
    new = {"slug": "gamma", "name": "Gamma", "timezone": "UTC", "currency": "USD"}
    assert jwt_api.post("/api/organizations", who=acme, json=new).status_code == 403
    assert jwt_api.post("/api/organizations", who=admin, json=new).status_code == 201
    # Both claims: the narrower one wins.
    both = signed({"admin": True, "org": "acme"})
    assert jwt_api.post("/api/organizations", who=both, json=new).status_code == 403
    assert jwt_api.get("/api/goals/acme").status_code == 200  # opaque tokens still work


# Made when the test runs, not when it is collected: collection may be minutes earlier (or in
# another xdist worker, which must see the same test ids), and tokens expire.
BAD_JWTS: dict[str, Callable[[], str]] = {
    "expired": lambda: signed({"org": "acme", "exp": int(time.time()) - 60}),
    "never-expires": lambda: "Bearer " + jwt.encode({"org": "acme"}, JWT_KEY, "HS256"),
    "another-key": lambda: signed({"org": "acme"}, key="w" * 40),
    "unsigned": lambda: signed({"org": "acme"}, key="", algorithm="none"),
    "no-such-org": lambda: signed({"org": "nope"}),
    "neither-org-nor-admin": lambda: signed({"sub": "nobody"}),
    "org-not-a-string": lambda: signed({"org": ["acme"]}),
    "not-a-jwt": lambda: "Bearer a.b.c",
    "exp-as-text": lambda: (
        "Bearer "
        + jwt.encode({"org": "acme", "exp": str(int(time.time()) + 300)}, JWT_KEY, "HS256")
    ),
    "nbf-as-text": lambda: signed({"org": "acme", "nbf": "0"}),
}


@pytest.mark.parametrize("bad", list(BAD_JWTS))
def test_bad_jwts_are_401(jwt_api: Api, bad: str) -> None:
    response = jwt_api.get("/api/organizations", who=BAD_JWTS[bad]())
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid or expired token"}


def test_jwts_are_refused_without_a_configured_secret(api: Api) -> None:
    response = api.get("/api/organizations", who=signed({"org": "acme"}))
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid or revoked token"}


def test_a_short_or_missing_jwt_secret_stops_the_server(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPO_API__JWT_SECRET_ENV", "DASHBOARD_JWT_KEY")
    result = cli("serve", "--port", "1")
    assert result.exit_code == 3
    assert result.stderr.startswith(
        "Error: the secret environment variable DASHBOARD_JWT_KEY is not set"
    )
    monkeypatch.setenv("DASHBOARD_JWT_KEY", "short")
    result = cli("serve", "--port", "1")
    assert result.exit_code == 3
    assert result.stderr.strip() == "Error: the JWT secret must have at least 32 characters"


def test_the_example_configuration_serves(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = (Path(__file__).parents[2] / "config.example.toml").read_text()
    assert "[api]" in example
    configure(config_file=Path(__file__).parents[2] / "config.example.toml")
    assert get_settings().api == ApiSettings()  # the example shows the defaults
    # Its commented JWT and CORS lines, switched on, work as documented.
    example = example.replace(
        '# jwt_secret_env = "DPO_JWT_SECRET"', 'jwt_secret_env = "DPO_JWT_SECRET"'
    )
    example = example.replace("cors_origins = []", 'cors_origins = ["https://dash.example.com"]')
    (tmp_path / "dpo.toml").write_text(example)
    configure(config_file=tmp_path / "dpo.toml")
    monkeypatch.setenv("DPO_JWT_SECRET", JWT_KEY)
    client = TestClient(create_app(), headers={"Origin": "https://dash.example.com"})
    response = client.get("/api/goals/acme", headers={"Authorization": signed({"org": "acme"})})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://dash.example.com"
