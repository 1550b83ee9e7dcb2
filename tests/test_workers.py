"""dpo's jobs on Celery workers: real `dpo worker` processes, a real Redis (RabbitMQ once), real
SQLite and PostgreSQL.

Redis is DPO_TEST_REDIS_URL (default the local server), one database per xdist worker, emptied
before and after each test. Without a server the tests skip with the reason shown, unless
DPO_TEST_REQUIRE_BROKER=1 (as in CI), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from fastapi.testclient import TestClient

from dpo.config import configure
from dpo.jobs import tasks
from dpo.resources.tokens import create_token
from dpo.settings import DEFAULT_SCHEDULE
from dpo.storage import db as dbmod
from dpo.storage.db import session_scope
from tests.conftest import CliInvoker, Database, subprocess_env
from tests.test_sync import expected_totals, setup_org, stored_totals

pytestmark = pytest.mark.slow

REDIS = os.environ.get("DPO_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
RABBIT = os.environ.get("DPO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
REQUIRE_BROKER = os.environ.get("DPO_TEST_REQUIRE_BROKER") == "1"
ROOT = Path(__file__).resolve().parents[1]


def unreachable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {exc}"
    if REQUIRE_BROKER:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty Redis database as the broker, for this process (`dpo enqueue` in-process) and
    the workers the test starts."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    url = f"{REDIS}/{10 + int(worker or 0) % 6}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        unreachable(f"Redis at {url}", exc)
    monkeypatch.setenv("DPO_BROKER_URL", url)
    configure(config_file=None)
    yield url
    client.flushdb()
    client.close()


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


class Workers:
    """`dpo worker` processes on the test's database and broker, each in its own process
    group (its prefork children die with it)."""

    def __init__(self, database: Database, home: Path, broker: str) -> None:
        self.env = subprocess_env(database, home) | {
            "DPO_BROKER_URL": broker,
            "DPO_WORKERS__RETRY_SECONDS": "1",
        }
        self.home = home
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, *names: str, **settings: str) -> None:
        for name in names:
            log = (self.home.parent / f"worker-{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "dpo", "worker", "--concurrency", "1",
                 "--name", f"{name}@test", "--loglevel", "info"],
                env=self.env | settings,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.wait_ready(*names)

    def wait_ready(self, *names: str) -> None:
        wanted = {f"{n}@test" for n in names}

        def answered() -> bool:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"worker {name} exited:\n{self.log(name)}"
            replies = tasks.app().control.ping(timeout=0.5) or []
            return wanted <= {name for reply in replies for name in reply}

        wait_for(answered, timeout=90, what=f"workers {sorted(wanted)}")

    def kill(self, name: str) -> None:
        """SIGKILL the worker and its pool: as if its machine died."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def log(self, name: str) -> str:
        return (self.home.parent / f"worker-{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name)


@pytest.fixture
def workers(database: Database, isolated: Path, broker: str) -> Iterator[Workers]:
    started = Workers(database, isolated, broker)
    yield started
    started.stop()


def ok_runs(database: Database) -> list[tuple[int, int]]:
    """(source, successful sync runs) per source."""
    return database.rows(
        "SELECT source_id, count(*) FROM job_run WHERE status = 'ok' AND job LIKE 'sync %' "
        "GROUP BY source_id ORDER BY source_id"
    )


def add_orgs(cli: CliInvoker, count: int) -> None:
    for i in range(count):
        slug = f"org-{i:02d}"
        cli.ok("orgs", "add", slug, "--name", f"Org {i}", "--timezone", "UTC", "--currency", "EUR")
        cli.ok("sources", "add", slug, "demo", "--account", "woo", "--setting",
               "latency_seconds=0.01", "--no-check")  # fmt: skip


def test_three_workers_sync_fifty_organizations_exactly_once_per_tick(
    cli: CliInvoker, database: Database, workers: Workers, broker: str
) -> None:
    add_orgs(cli, 50)
    # Ticks seconds apart here, not 15 minutes: a source synced a moment ago still counts.
    workers.start("w1", "w2", "w3", DPO_WORKERS__SKIP_RECENT_SECONDS="0",
                  DPO_SYNC__INITIAL_DAYS="2")  # fmt: skip

    # The first tick as beat sends it: one fan-out task, which queues a task per source.
    tasks.app().send_task("dpo.tick", args=("sync demo",), queue="dpo.sync")
    wait_for(lambda: len(ok_runs(database)) == 50, timeout=240, what="the first tick's syncs")
    results = redis.Redis.from_url(broker)
    assert results.keys("celery-task-meta-*") == []  # nobody waits for a tick's results
    # The second from a shell, waiting for the outcomes.
    result = cli("enqueue", "sync", "demo", "--wait", "--timeout", "240")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert len(lines) == 50 and all(re.search(r": ok, [\d,]+ rows on w\d@test$", x) for x in lines)
    assert len(results.keys("celery-task-meta-*")) == 50  # --wait's, kept for a day

    assert [n for _, n in ok_runs(database)] == [2] * 50  # every source, once per tick
    assert database.scalar("SELECT count(*) FROM job_run WHERE status <> 'ok'") == 0
    by_worker = dict(database.rows("SELECT worker, count(*) FROM job_run GROUP BY worker"))
    assert set(by_worker) <= {"w1@test", "w2@test", "w3@test"} and len(by_worker) >= 2
    per_source = database.rows("SELECT source_id, count(*) FROM fact GROUP BY source_id")
    assert len(per_source) == 50 and len({n for _, n in per_source}) == 1

    listed = cli.ok("jobs", "list", "--limit", "3").stdout
    assert re.search(r"w\d@test", listed)

    status = cli("status", "--json")
    report = json.loads(status.stdout)["workers"]
    assert report["queues"] == dict.fromkeys(tasks.QUEUES, 0)
    assert {w["name"] for w in report["workers"]} == {"w1@test", "w2@test", "w3@test"}
    assert report["problem"] is None and status.exit_code == 0, status.stderr
    shown = cli.ok("status").stdout
    assert "Broker: redis://127.0.0.1:6379/" in shown and re.search(r"w3@test\s*│\s*idle", shown)


def test_a_worker_killed_mid_sync_loses_nothing_and_doubles_nothing(
    cli: CliInvoker, database: Database, workers: Workers
) -> None:
    setup_org(cli, "woo", settings=("latency_seconds=0.3",))
    # Redis hands an unacknowledged message out again after the visibility timeout: here
    # longer than the sync (20 windows of 0.3 s and more), shorter than an hour.
    fast_redelivery = {"DPO_WORKERS__VISIBILITY_TIMEOUT": "30"}
    workers.start("a", **fast_redelivery)
    queued = cli.ok("enqueue", "sync", "demo", "--since", "2026-01-01", "--until", "2026-01-20")
    assert re.fullmatch(r"acme/demo:woo: queued on dpo\.sync \(task [0-9a-f-]+\)\n", queued.stdout)
    wait_for(lambda: (database.scalar("SELECT count(*) FROM fact") or 0) >= 48,
             timeout=60, what="two windows committed")  # fmt: skip
    workers.kill("a")
    assert database.rows("SELECT status, worker FROM job_run") == [("running", "a@test")]
    partial = database.scalar("SELECT count(*) FROM fact")
    assert 0 < partial < 20 * 24

    workers.start("b", **fast_redelivery)
    wait_for(lambda: database.rows("SELECT status FROM job_run WHERE worker = 'b@test'")
             == [("ok",)], timeout=120, what="the task on the second worker")  # fmt: skip
    runs = database.rows("SELECT status, worker, error FROM job_run ORDER BY id")
    assert runs == [("dead", "a@test", "the process died during the run"), ("ok", "b@test", None)]
    assert database.scalar("SELECT count(*) FROM fact") == 20 * 24
    assert stored_totals(database) == {
        k: v.quantize(Decimal("0.01"))
        for k, v in expected_totals("woo", date(2026, 1, 1), date(2026, 1, 20)).items()
    }


def test_a_source_a_cli_run_is_syncing_is_deferred_not_synced_twice(
    cli: CliInvoker, database: Database, workers: Workers, isolated: Path
) -> None:
    setup_org(cli, "woo", settings=("latency_seconds=0.3",))
    workers.start("w1")
    env = workers.env | {"DPO_SYNC__INITIAL_DAYS": "20"}
    crontab_run = subprocess.Popen([sys.executable, "-m", "dpo", "sync", "demo", "--quiet"],
                                   env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(lambda: database.scalar("SELECT status FROM job_run") == "running",
             timeout=60, what="the CLI's run to start")  # fmt: skip

    result = cli("enqueue", "sync", "demo", "--wait", "--timeout", "120")
    _, err = crontab_run.communicate(timeout=120)
    assert crontab_run.returncode == 0, err
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert re.fullmatch(
        r"acme/demo:woo: skipped, 0 rows on w1@test \(another run synced it at [^)]+\)\n",
        result.stdout,
    )
    runs = database.rows("SELECT status, worker FROM job_run ORDER BY id")
    assert runs[0] == ("ok", None)  # the CLI's: the only sync
    # The worker's: deferred while the lock was held (each retried a second later, doubling),
    # then done, finding the CLI's run.
    assert runs[1:] and set(runs[1:]) == {("skipped", "w1@test")}
    messages = [m for (m,) in database.rows("SELECT error FROM job_run WHERE id > 1 ORDER BY id")]
    assert all("another process is running sync demo" in m for m in messages[:-1])
    assert messages[-1] is None  # skipped as done: not an error


def test_beat_queues_the_scheduled_jobs_on_time(
    cli: CliInvoker, database: Database, workers: Workers, isolated: Path
) -> None:
    add_orgs(cli, 2)
    config = isolated.parent / "config.toml"
    # Every minute: beat's first tick comes at the next whole minute.
    config.write_text('[schedule]\n"sync demo" = "* * * * *"\n"sources verify" = ""\n')
    workers.env["DPO_CONFIG"] = str(config)
    workers.start("w1", DPO_SYNC__INITIAL_DAYS="1")
    beat = subprocess.Popen(
        [sys.executable, "-m", "dpo", "schedule", "--loglevel", "warning"],
        env=workers.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: len(ok_runs(database)) == 2, timeout=150, what="beat's first tick")
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        _, err = beat.communicate(timeout=30)
    listed = err.splitlines()[: len(DEFAULT_SCHEDULE)]
    assert "* * * * *          sync demo" in listed
    assert "*/15 * * * *       sync ga" in listed
    assert not any("sources verify" in line for line in listed)  # turned off
    assert {w for (w,) in database.rows("SELECT worker FROM job_run")} == {"w1@test"}


def test_the_default_schedule_is_the_crontab_examples() -> None:
    crontab = (ROOT / "crontab.example").read_text()
    scheduled = {}
    for line in crontab.splitlines():
        found = re.match(r"^(\S+ \S+ \S+ \S+ \S+)\s+.*/dpo (sync \w+|aggregate \w+|insights "
                         r"generate|sources verify)", line)  # fmt: skip
        if found:
            scheduled[found[2]] = found[1]
    assert scheduled == DEFAULT_SCHEDULE


def test_rabbitmq_is_a_broker_too(
    cli: CliInvoker, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The broker is the point here: one database (SQLite) is enough.
    database = Database("sqlite", f"sqlite:///{isolated / 'dpo.db'}")
    dbmod.upgrade(database.engine)
    monkeypatch.setenv("DPO_BROKER_URL", RABBIT)
    configure(config_file=None)
    try:
        tasks.app().control.purge()  # what an earlier run may have left
    except Exception as exc:
        unreachable(f"RabbitMQ at {RABBIT}", exc)
    add_orgs(cli, 3)
    workers = Workers(database, isolated, RABBIT)
    try:
        workers.start("r1", DPO_SYNC__INITIAL_DAYS="1")
        result = cli("enqueue", "sync", "demo", "--wait", "--timeout", "120")
    finally:
        workers.stop()
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout.count(" on r1@test") == 3
    assert [n for _, n in ok_runs(database)] == [1, 1, 1]


# --- what a user gets wrong ---------------------------------------------------------------------


def test_an_unknown_queue_is_a_usage_error(cli: CliInvoker) -> None:
    result = cli("worker", "--queues", "sync,bogus")
    assert result.exit_code == 2
    assert "unknown queue 'bogus': use sync, aggregate, insights, verify" in result.stderr


def test_a_bad_schedule_is_a_configuration_error(cli: CliInvoker, isolated: Path) -> None:
    config = isolated.parent / "bad.toml"
    config.write_text('[schedule]\n"sync meta" = "every 15 minutes"\n')
    result = cli("--config", str(config), "schedule")
    assert result.exit_code == 3
    assert "[schedule] 'sync meta': 'every 15 minutes' is not a cron expression" in result.stderr
    config.write_text('[schedule]\n"sync mars" = "*/15 * * * *"\n')
    result = cli("--config", str(config), "schedule")
    assert result.exit_code == 3
    assert "unknown job 'sync mars' in [schedule]" in result.stderr


def test_an_unreachable_broker_is_a_one_line_try_later(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_orgs(cli, 1)
    monkeypatch.setenv("DPO_BROKER_URL", "redis://127.0.0.1:1/0")
    configure(config_file=None)
    result = cli("enqueue", "sync", "demo")
    assert result.exit_code == 75, result.stderr
    line = result.stderr.splitlines()[0]
    assert line.startswith("Error: the broker at redis://127.0.0.1:1/0 cannot be reached")
    assert "Traceback" not in result.stderr
    status = cli("status", "--json")
    assert status.exit_code == 1
    workers = json.loads(status.stdout)["workers"]
    assert workers["problem"].startswith("the broker cannot be reached")
    doctor = cli("doctor", "--no-sources")
    assert doctor.exit_code == 75
    assert doctor.stderr.startswith("FAIL workers: redis://127.0.0.1:1/0: the broker cannot be")


def test_nothing_to_queue_says_so(cli: CliInvoker, database: Database, broker: str) -> None:
    result = cli("enqueue", "verify")
    assert result.exit_code == 3
    assert "no enabled sources that can be verified" in result.stderr
    result = cli("enqueue", "sync", "demo")
    assert result.exit_code == 3
    assert "no enabled demo sources to sync" in result.stderr
    result = cli("enqueue", "aggregate", "weekly")
    assert result.exit_code == 3
    assert "unknown job 'aggregate weekly'" in result.stderr
    result = cli("enqueue", "sync", "demo", "--since", "2026-01-10", "--until", "2026-01-01")
    assert result.exit_code == 2
    assert "--until 2026-01-01 is before --since" in result.stderr


def test_metrics_show_the_queues_and_workers(
    cli: CliInvoker, database: Database, workers: Workers
) -> None:
    from dpo.api.app import create_app

    add_orgs(cli, 2)
    cli.ok("enqueue", "sync", "demo")  # no worker yet: they wait
    with session_scope() as session:
        _, token = create_token(session, org_slug=None, is_admin=True)
    with TestClient(create_app()) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert 'dpo_queue_messages{queue="dpo.sync"} 2.0' in text
    assert "dpo_broker_up 1.0" in text
    assert "dpo_worker_running_tasks{" not in text  # no worker answered
    doctor = cli("doctor", "--no-sources")
    assert doctor.exit_code == 3
    assert "FAIL workers: " in doctor.stderr and "no worker answered" in doctor.stderr
    workers.start("w1", DPO_SYNC__INITIAL_DAYS="1")
    wait_for(lambda: len(ok_runs(database)) == 2, timeout=120, what="the syncs")
    with TestClient(create_app()) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert 'dpo_queue_messages{queue="dpo.sync"} 0.0' in text
    assert 'dpo_worker_running_tasks{worker="w1@test"} 0.0' in text
    doctor = cli.ok("doctor", "--no-sources")
    assert re.search(r"^ok   workers: redis://\S+: w1@test answered; 0 tasks waiting$",
                     doctor.stdout, re.M)  # fmt: skip


def test_a_sync_whose_budget_runs_out_is_retried_until_done(
    cli: CliInvoker, database: Database, workers: Workers
) -> None:
    setup_org(cli, "woo", settings=("latency_seconds=0.4",))
    # Eight day windows of 0.4 s and more against a 2 s budget: a few windows a try, the
    # lookback's two (today, yesterday) first each time, then the history's next ones.
    workers.start("w1", DPO_WORKERS__SYNC_SECONDS="2", DPO_WORKERS__RETRY_SECONDS="0.2",
                  DPO_WORKERS__MAX_RETRIES="20", DPO_SYNC__INITIAL_DAYS="8")  # fmt: skip
    result = cli("enqueue", "sync", "demo", "--wait", "--timeout", "120")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout.startswith("acme/demo:woo: ok, ")
    runs = database.rows("SELECT status, worker FROM job_run ORDER BY id")
    assert len(runs) >= 2 and runs[-1] == ("ok", "w1@test")
    assert set(runs[:-1]) == {("partial", "w1@test")}
    berlin = ZoneInfo("Europe/Berlin")  # the organization's days
    starts = [
        datetime.fromisoformat(str(t)) for (t,) in database.rows("SELECT period_start FROM fact")
    ]
    days = {(t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(berlin).date() for t in starts}
    assert len(days) == 8  # every day of the history, today's so far included


def test_a_task_past_its_hard_time_limit_is_stopped_and_said_so(
    cli: CliInvoker, database: Database, workers: Workers
) -> None:
    setup_org(cli, "woo")
    # Insights (pandas and statsmodels to load, rollups to refresh) take far longer than a
    # limit of 0.05 s: the pool stops the task there.
    workers.start("w1", DPO_WORKERS__TASK_SECONDS="0.03", DPO_WORKERS__GRACE_SECONDS="0.02")
    result = cli("enqueue", "insights", "--wait", "--timeout", "120")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr == "Error: acme/insights: failed: stopped at its time limit (0.05 s)\n"


def test_sources_with_no_upstream_report_are_not_queued_for_verification(
    cli: CliInvoker, database: Database, broker: str
) -> None:
    add_orgs(cli, 2)  # demo sources: nothing upstream to compare with
    result = cli("enqueue", "verify")
    assert result.exit_code == 3
    assert "no enabled sources that can be verified" in result.stderr
