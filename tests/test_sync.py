"""The sync engine end to end through `dpo sync`: atomic windows, idempotence, failures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from dpo import connectors
from dpo.connectors.base import Budget, SourceSpec, Window
from dpo.connectors.demo import DemoConnector
from dpo.storage.locks import advisory_key, hold_lock
from tests.conftest import CliInvoker, Clock, Database, add_source_without_its_secret

FACT_COLUMNS = (
    "source_id, grain, period_start, channel, campaign, org_id, campaign_name, currency, "
    "impressions, clicks, spend, sessions, users, conversions, revenue, orders, refunds, "
    "attributed_conversions, attributed_revenue"
)
SINCE, UNTIL = "2026-01-01", "2026-01-10"


def facts(db: Database) -> list[tuple[object, ...]]:
    return db.rows(
        f"SELECT {FACT_COLUMNS} FROM fact ORDER BY source_id, grain, period_start, "
        "channel, campaign"
    )


def state(db: Database) -> tuple[object, ...]:
    return db.rows(
        "SELECT watermark, covered_from, consecutive_failures, last_error FROM sync_state"
    )[0]


def setup_org(cli: CliInvoker, *profiles: str, settings: tuple[str, ...] = ()) -> None:
    cli.ok(
        "orgs", "add", "acme", "--name", "Acme", "--timezone", "Europe/Berlin", "--currency", "EUR"
    )
    for profile in profiles:
        extra = [a for s in settings for a in ("--setting", s)]
        cli.ok(
            "sources",
            "add",
            "acme",
            "demo",
            "--account",
            profile,
            "--setting",
            "anchor=2026-01-20",
            *extra,
        )


def expected_totals(profile: str, first: date, last: date) -> dict[str, Decimal]:
    """Totals computed straight from the generator, without dpo's storage."""
    settings = DemoConnector.normalize_settings(
        profile, {"anchor": "2026-01-20"}, today=date(2026, 1, 20)
    )
    conn = DemoConnector(
        SourceSpec(1, 1, "acme", "demo", profile, "x", "Europe/Berlin", "EUR", settings=settings)
    )
    totals: dict[str, Decimal] = {}
    day = first
    while day <= last:
        window = Window.for_day(day, conn.timezone())
        for row in conn.fetch_window(window, now=datetime.now(UTC), budget=Budget()):
            for metric in ("sessions", "revenue", "spend", "orders", "attributed_revenue"):
                value = getattr(row, metric)
                if value is not None:
                    totals[metric] = totals.get(metric, Decimal(0)) + Decimal(value)
        day += timedelta(days=1)
    return totals


def stored_totals(db: Database) -> dict[str, Decimal]:
    out = {}
    for metric in ("sessions", "revenue", "spend", "orders", "attributed_revenue"):
        value = db.scalar(f"SELECT sum({metric}) FROM fact")
        if value is not None:
            out[metric] = Decimal(str(value)).quantize(Decimal("0.01"))
    return out


def test_sync_stores_what_the_upstream_served(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "ga", "meta", "woo")
    result = cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert result.stdout.count(": ok, 10 windows") == 3
    expected: dict[str, Decimal] = {}
    for profile in ("ga", "meta", "woo"):
        for k, v in expected_totals(profile, date(2026, 1, 1), date(2026, 1, 10)).items():
            expected[k] = expected.get(k, Decimal(0)) + v
    assert stored_totals(database) == {k: v.quantize(Decimal("0.01")) for k, v in expected.items()}
    jobs = json.loads(cli.ok("jobs", "list", "--json").stdout)
    assert [(j["job"], j["status"], j["windows"]) for j in jobs] == [("sync demo", "ok", 10)] * 3


def test_resync_leaves_facts_identical(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "ga", "meta")
    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)
    first = facts(database)
    assert len(first) > 2000
    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)
    cli.ok("sync", "demo", "--since", "2026-01-04", "--until", "2026-01-06")
    assert facts(database) == first


def test_failure_keeps_finished_windows_and_leaves_the_rest_untouched(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connectors.REGISTRY, "demo", "tests.fakes.scripted:ScriptedConnector")
    setup_org(cli, "woo", settings=("fail_day=2026-01-04",))
    result = cli("sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 75
    assert "upstream trouble" in result.stderr
    days = {str(d)[:10] for (d,) in database.rows("SELECT period_start FROM fact")}
    assert max(days) == "2026-01-03"  # 01-04 failed: no half-written window
    watermark, _covered_from, failures, error = state(database)
    assert str(watermark).startswith("2026-01-03 23:00") and failures == 1
    assert error == "upstream trouble"
    job = json.loads(cli.ok("jobs", "list", "--json").stdout)[0]
    assert (job["status"], job["error"]) == ("failed", "upstream trouble")


@pytest.mark.parametrize(("how", "code"), [("refused", 4), ("crash", 1), ("outside", 1)])
def test_failures_map_to_exit_codes(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch, how: str, code: int
) -> None:
    monkeypatch.setitem(connectors.REGISTRY, "demo", "tests.fakes.scripted:ScriptedConnector")
    setup_org(cli, "ga", settings=("fail_day=2026-01-02", f"fail_with={how}"))
    result = cli("sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == code
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    days = {str(d)[:10] for (d,) in database.rows("SELECT period_start FROM fact")}
    assert days == {"2026-01-01", "2025-12-31"}  # Berlin's 1 January starts at 23:00 UTC


def test_secrets_and_query_strings_never_reach_errors_or_job_rows(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connectors.REGISTRY, "demo", "tests.fakes.scripted:ScriptedConnector")
    monkeypatch.setenv("DEMO_TOKEN", "tok-12345-secret")
    setup_org(cli)
    cli.ok(
        "sources",
        "add",
        "acme",
        "demo",
        "--account",
        "ga",
        "--secret-env",
        "DEMO_TOKEN",
        "--setting",
        "fail_day=2026-01-01",
        "--setting",
        "fail_with=refused",
        "--setting",
        "message=401 for https://api.example/v1?access_token=abc&x=1 with tok-12345-secret",
    )
    result = cli("sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 4
    stored = json.dumps(database.rows("SELECT error FROM job_run")) + json.dumps(
        state(database), default=str
    )
    for leak in ("tok-12345-secret", "access_token=abc"):
        assert leak not in result.output
        assert leak not in stored
    assert "https://api.example/v1?…" in result.stderr


def test_missing_secret_is_a_configuration_error(cli: CliInvoker, database: Database) -> None:
    setup_org(cli)
    add_source_without_its_secret(cli, "NOT_SET_HERE")
    result = cli("sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 3
    assert "NOT_SET_HERE is not set" in result.stderr
    assert database.scalar("SELECT count(*) FROM fact") == 0


def test_held_lock_skips_with_exit_75_and_touches_nothing(
    cli: CliInvoker, database: Database
) -> None:
    setup_org(cli, "ga")
    cli.ok("sync", "demo", "--since", SINCE, "--until", "2026-01-02")
    before, state_before = facts(database), state(database)
    source_id = database.scalar("SELECT id FROM source")
    with hold_lock(database.engine, f"sync:source:{source_id}"):
        result = cli("sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 75
    assert "another process is running sync demo for acme/demo:ga" in result.stderr
    assert facts(database) == before and state(database) == state_before
    assert json.loads(cli.ok("jobs", "list", "--json").stdout)[0]["status"] == "skipped"


def test_time_budget_stops_at_a_window_boundary_and_the_next_run_carries_on(
    cli: CliInvoker, database: Database
) -> None:
    setup_org(cli, "woo", settings=("latency_seconds=0.15",))
    result = cli("sync", "demo", "--since", SINCE, "--until", UNTIL, "--max-seconds", "0.4")
    assert result.exit_code == 75
    assert "time budget spent after" in result.stderr
    done = json.loads(cli.ok("jobs", "list", "--json").stdout)[0]
    assert done["status"] == "partial" and 1 <= done["windows"] < 10
    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert stored_totals(database) == {
        k: v.quantize(Decimal("0.01"))
        for k, v in expected_totals("woo", date(2026, 1, 1), date(2026, 1, 10)).items()
    }


def test_no_sources_is_a_configuration_error(cli: CliInvoker, database: Database) -> None:
    setup_org(cli)
    result = cli("sync", "demo")
    assert result.exit_code == 3
    assert "no enabled demo sources" in result.stderr


def test_kind_without_a_connector_says_so(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a build of dpo without it (a copy: undoing a delitem would move "ga" to the end).
    without_ga = {k: v for k, v in connectors.REGISTRY.items() if k != "ga"}
    monkeypatch.setattr(connectors, "REGISTRY", without_ga)
    setup_org(cli)
    cli.ok("sources", "add", "acme", "ga", "--account", "123456")
    result = cli("sync", "ga")
    assert result.exit_code == 3
    assert "not available" in result.stderr


def test_quiet_prints_nothing_on_success(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "woo")
    result = cli.ok("sync", "demo", "--since", SINCE, "--until", "2026-01-02", "--quiet")
    assert result.stdout == "" and result.stderr == ""


def test_until_before_since_is_a_usage_error(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "woo")
    result = cli("sync", "demo", "--since", UNTIL, "--until", SINCE)
    assert result.exit_code == 2
    assert database.scalar("SELECT count(*) FROM job_run") == 0


def test_budget_cuts_a_slow_upstream_short_without_committing_its_window(
    cli: CliInvoker, database: Database
) -> None:
    import time

    setup_org(cli, "woo", settings=("latency_seconds=30",))
    started = time.monotonic()
    result = cli("sync", "demo", "--since", SINCE, "--until", UNTIL, "--max-seconds", "0.5")
    assert time.monotonic() - started < 15  # far less than one 30 s window
    assert result.exit_code == 75
    assert database.scalar("SELECT count(*) FROM fact") == 0
    assert database.scalar("SELECT count(*) FROM sync_state WHERE consecutive_failures > 0") == 0


def _pending(db: Database) -> dict[str, object]:
    pending = db.scalar("SELECT pending FROM sync_state")
    return dict(json.loads(pending) if isinstance(pending, str) else pending or {})


def _windows(cli: CliInvoker) -> int:
    return int(json.loads(cli.ok("jobs", "list", "--json").stdout)[0]["windows"])


def test_a_connector_adds_days_to_a_run_and_a_cut_short_run_owes_them_to_the_next(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    monkeypatch.setitem(connectors.REGISTRY, "demo", "tests.fakes.scripted:PlanningConnector")
    setup_org(cli, "woo", settings=("changed=2026-03-02", "latency_seconds=0.05"))
    cli.ok("sync", "demo", "--since", "2026-03-01")  # a first run: its 10 days only
    assert _windows(cli) == 10
    assert _pending(database) == {
        "connector": {"widened_on": "2026-03-10", "runs": 1},
        "owed_days": [],
        "zone": "Europe/Berlin",  # the zone its windows were cut in
    }
    clock.advance(hours=1)  # same day: lookback 2 (03-08..03-10) + the changed day 03-02
    cli.ok("sync", "demo")
    assert _windows(cli) == 4
    clock.advance(days=1)  # a new day: 03-08..03-11, then 03-02 and the daily 03-06, 03-07
    assert cli("sync", "demo", "--max-seconds", "0.12").exit_code == 75
    pending = _pending(database)
    assert pending["connector"] == {"widened_on": "2026-03-11", "runs": 3}
    owed = [str(d) for d in pending["owed_days"]]  # type: ignore[attr-defined]
    assert owed and set(owed) <= {"2026-03-02", "2026-03-06", "2026-03-07"}
    before = len(database.rows("SELECT id FROM fact_change"))
    cli.ok("sync", "demo")  # not widened again today, but the owed days are fetched
    assert _pending(database)["owed_days"] == []
    starts = [str(r[0]) for r in database.rows("SELECT range_start FROM fact_change ORDER BY id")]
    fetched = {s[:10] for s in starts[before:]}  # Berlin days start at 23:00 UTC the day before
    assert {str(date.fromisoformat(d) - timedelta(days=1)) for d in owed} <= fetched


def test_skip_recent_skips_a_source_synced_moments_ago(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "woo")
    cli.ok("sync", "demo", "--quiet")
    again = cli.ok("sync", "demo", "--skip-recent", "300")
    assert "acme/demo:woo: skipped: another run synced it at " in again.stderr
    assert [s for (s,) in database.rows("SELECT status FROM job_run ORDER BY id")] == [
        "ok",
        "skipped",
    ]
    cli.ok("sync", "demo", "--quiet")  # without it, a plain run syncs again
    assert database.scalar("SELECT count(*) FROM job_run WHERE status = 'ok'") == 2


def test_a_run_whose_lock_dies_with_its_connection_stops_before_writing_again(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL advisory lock ends with its connection, and nothing tells its holder: the
    run checks it in each window's transaction and stops (75) rather than race whoever took it.
    (SQLite's file lock cannot be lost this way.)"""
    if database.backend != "pg":
        pytest.skip("advisory locks are PostgreSQL's; a file lock lives as long as its process")
    from dpo.ingest import sync

    setup_org(cli, "ga")
    replace = sync.replace_window
    windows: list[date] = []

    def replace_then_kill_the_lock(engine: Any, connector: Any, window: Window, **kw: Any) -> int:
        written = replace(engine, connector, window, **kw)
        windows.append(window.day)
        if len(windows) == 1:  # as a failover or an administrator would, between two windows
            with database.engine.connect() as conn:
                schema = conn.scalar(sa.text("SELECT current_schema()"))
                key = advisory_key(f"{schema}:sync:source:1")  # this test's lock, no other
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND classid::bigint = :high "
                        "AND objid::bigint = :low AND objsubid = 1"
                    ),
                    {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
                )
        return written

    monkeypatch.setattr(sync, "replace_window", replace_then_kill_the_lock)
    result = cli("sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 75, result.output
    assert "the lock sync:source:1 was lost (its database connection ended)" in result.stderr
    assert windows == [date(2026, 1, 1)]  # the second window was fetched, never written
    assert database.scalar("SELECT count(*) FROM fact_change") == 1
    assert database.scalar("SELECT min(period_start) FROM fact") is not None
    assert database.scalar("SELECT count(*) FROM fact WHERE period_start >= '2026-01-02'") == 0
    monkeypatch.setattr(sync, "replace_window", replace)
    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)  # the next run carries on
    assert database.scalar("SELECT count(*) FROM fact_change") == 11
