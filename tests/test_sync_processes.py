"""Real processes: a sync killed with SIGKILL mid-run, and two syncs racing for one source."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import CliInvoker, Database, subprocess_env
from tests.test_sync import expected_totals, facts, setup_org, stored_totals

pytestmark = pytest.mark.slow


def dpo(database: Database, home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dpo", *args],
        env=subprocess_env(database, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, *, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_a_killed_sync_loses_nothing_and_the_rerun_completes(
    cli: CliInvoker, database: Database, isolated: Path
) -> None:
    setup_org(cli, "woo", settings=("latency_seconds=0.2",))
    proc = dpo(database, isolated, "sync", "demo", "--since", "2026-01-01", "--until", "2026-01-20")
    wait_for(
        lambda: (
            (database.scalar("SELECT count(*) FROM sync_state") or 0) > 0
            and (database.scalar("SELECT count(*) FROM fact") or 0) >= 48
        )
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = database.scalar("SELECT count(*) FROM fact")
    assert 0 < partial < 20 * 24
    assert database.scalar("SELECT status FROM job_run") == "running"  # died without a word

    rerun = dpo(
        database,
        isolated,
        "sync",
        "demo",
        "--since",
        "2026-01-01",
        "--until",
        "2026-01-20",
        "--quiet",
    )
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert out == "" and err == ""
    assert stored_totals(database) == {
        k: v.quantize(Decimal("0.01"))
        for k, v in expected_totals("woo", date(2026, 1, 1), date(2026, 1, 20)).items()
    }
    assert database.scalar("SELECT count(*) FROM fact") == 20 * 24
    runs = database.rows("SELECT status, error FROM job_run ORDER BY id")
    assert runs == [("dead", "the process died during the run"), ("ok", None)]


def test_two_concurrent_syncs_of_one_source_one_exits_75(
    cli: CliInvoker, database: Database, isolated: Path
) -> None:
    # The first holds the lock for 10 windows of a second each: time for the second to start,
    # even on a busy machine.
    setup_org(cli, "ga", settings=("latency_seconds=1",))
    first = dpo(
        database, isolated, "sync", "demo", "--since", "2026-01-01", "--until", "2026-01-10"
    )
    wait_for(lambda: (database.scalar("SELECT count(*) FROM job_run") or 0) > 0)
    second = dpo(
        database, isolated, "sync", "demo", "--since", "2026-01-01", "--until", "2026-01-10"
    )
    _out2, err2 = second.communicate(timeout=60)
    _out1, err1 = first.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (0, 75), (err1, err2)
    assert "another process is running sync demo for acme/demo:ga" in err2
    reference = facts(database)
    assert len(reference) == 10 * 24 * 6
    assert (
        stored_totals(database)["sessions"]
        == expected_totals("ga", date(2026, 1, 1), date(2026, 1, 10))["sessions"]
    )
    statuses = sorted(s for (s,) in database.rows("SELECT status FROM job_run"))
    assert statuses == ["ok", "skipped"]


@pytest.mark.parametrize("processes", [2, 3])
def test_concurrent_syncs_share_ten_organizations_without_doing_anything_twice(
    cli: CliInvoker, database: Database, isolated: Path, processes: int
) -> None:
    for i in range(10):
        cli.ok(
            "orgs",
            "add",
            f"org-{i}",
            "--name",
            f"Org {i}",
            "--timezone",
            "UTC",
            "--currency",
            "EUR",
        )
        cli.ok(
            "sources",
            "add",
            f"org-{i}",
            "demo",
            "--account",
            "woo",
            "--setting",
            "latency_seconds=0.01",
        )
    procs = [
        dpo(database, isolated, "sync", "demo", "--quiet", "--skip-recent", "300")
        for _ in range(processes)
    ]
    outcomes = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert set(codes) <= {0, 75}, outcomes
    assert [err for _, err in outcomes if "Error" in err] == []
    synced = database.rows(
        "SELECT source_id, count(*) FROM job_run WHERE status = 'ok' GROUP BY source_id"
    )
    assert sorted(n for _, n in synced) == [1] * 10  # every source exactly once
    per_source = database.rows("SELECT source_id, count(*) FROM fact GROUP BY source_id")
    assert len(per_source) == 10 and len({n for _, n in per_source}) == 1
    by_process = database.rows("SELECT pid, count(*) FROM job_run WHERE status = 'ok' GROUP BY pid")
    assert len(by_process) >= 2  # the work was shared


def test_a_slow_upstream_with_a_budget_exits_75_having_committed_whole_windows(
    cli: CliInvoker, database: Database, isolated: Path
) -> None:
    setup_org(cli, "woo", settings=("latency_seconds=0.8",))
    proc = dpo(
        database,
        isolated,
        "sync",
        "demo",
        "--since",
        "2026-01-01",
        "--until",
        "2026-01-31",
        "--max-seconds",
        "5",
        "--quiet",
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err
    assert "time budget spent after" in err
    # Timed by the run itself: the interpreter's start-up, seconds on a busy machine, is not
    # the budget's to account for.
    ((started, finished),) = database.rows("SELECT started_at, finished_at FROM job_run")
    took = datetime.fromisoformat(str(finished)) - datetime.fromisoformat(str(started))
    assert took < timedelta(seconds=5 + 2)  # the budget, and the window it was in
    hours = database.rows("SELECT period_start FROM fact")
    windows = database.scalar("SELECT windows FROM job_run")
    assert 3 <= windows < 31
    assert len(hours) == 24 * windows  # whole days only
