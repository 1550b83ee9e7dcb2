"""Operating dpo: status, doctor, monitoring outputs, JSON logs and shards."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from dpo.errors import InvalidInputError
from dpo.jobs.sync import Shard
from tests.conftest import CliInvoker, Database, add_source_without_its_secret
from tests.test_sync import setup_org

SINCE, UNTIL = "2026-01-01", "2026-01-03"


def test_status_is_ok_after_a_sync_and_fails_for_a_stale_source(
    cli: CliInvoker, database: Database
) -> None:
    setup_org(cli, "woo")
    never = cli("status", "--json")
    assert never.exit_code == 1
    assert json.loads(never.stdout)["sources"][0]["problem"] == "never synced successfully"

    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)
    fresh = json.loads(cli.ok("status", "--json").stdout)
    (source,) = fresh["sources"]
    assert source["problem"] is None and source["consecutive_failures"] == 0
    assert source["newest_fact_at"].startswith("2026-01-03T22:00")
    assert [j["status"] for j in fresh["jobs"]] == ["ok"]

    database.engine.dispose()
    with database.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE sync_state SET last_success_at = last_success_at - interval '3 hours'"
            if database.backend == "pg"
            else "UPDATE sync_state SET last_success_at = datetime(last_success_at, '-3 hours')"
        )
    stale = cli("status", "--json")
    assert stale.exit_code == 1
    assert json.loads(stale.stdout)["sources"][0]["problem"].startswith(
        "stale: last successful sync 18"
    )
    assert cli("status").exit_code == 1
    assert cli("status", "--stale-after", "600").exit_code == 0


def test_status_shows_a_dead_run(cli: CliInvoker, database: Database) -> None:
    import socket

    setup_org(cli, "woo")
    with database.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO job_run (job, org_id, source_id, started_at, status, "
            "rows_written, windows, host, pid) VALUES ('sync demo', 1, 1, "
            f"'2026-01-01 00:00:00', 'running', 0, 0, '{socket.gethostname()}', 999999999)"
        )
    jobs = json.loads(cli("status", "--json").stdout)["jobs"]
    assert [j["status"] for j in jobs] == ["dead"]


def test_doctor_passes_on_a_fresh_machine(cli: CliInvoker) -> None:
    result = cli.ok("doctor")
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok   configuration",
        "ok   home",
        "ok   time zones",
        "ok   database",
        "ok   clock",
    ]


def test_doctor_names_the_fix_for_an_uninitialised_database(
    cli: CliInvoker, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPO_DATABASE_URL", pg_url)
    result = cli("doctor")
    assert result.exit_code == 3
    assert "FAIL database:" in result.stderr and "fix: run `dpo init`" in result.stderr
    cli.ok("init")
    lines = cli.ok("doctor").stdout
    assert "ok   clock: within" in lines


def test_doctor_reports_bad_configuration(cli: CliInvoker, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[sync]\ninitial_days = -1\n")
    result = cli("--config", str(bad), "doctor")
    assert result.exit_code == 3
    assert result.stderr.startswith("FAIL configuration: invalid setting sync.initial_days")


def test_doctor_reports_an_unwritable_home(
    cli: CliInvoker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DPO_HOME", str(blocker / "home"))
    result = cli("doctor")
    assert result.exit_code == 3
    assert "FAIL home: cannot write to DPO_HOME" in result.stderr


class _Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ping_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping/abc", hits
    server.shutdown()


def write_config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "dpo.toml"
    path.write_text(body)
    return str(path)


def test_pings_and_textfile_after_a_sync(
    cli: CliInvoker, database: Database, tmp_path: Path, ping_server: tuple[str, list[str]]
) -> None:
    url, hits = ping_server
    metrics = tmp_path / "textfile" / "dpo.prom"
    config = write_config(
        tmp_path,
        f'[monitoring]\ntextfile = "{metrics}"\n[monitoring.ping]\n"sync demo" = "{url}"\n',
    )
    setup_org(cli, "woo")
    cli.ok("--config", config, "sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert hits == ["/ping/abc/start", "/ping/abc"]
    text = metrics.read_text()
    assert 'dpo_job_last_rows_written{job="sync demo",org="acme",source="demo:woo"} 72.0' in text
    assert 'dpo_job_last_success_timestamp_seconds{job="sync demo",org="acme"' in text
    assert 'status="ok"' in text


def test_a_failed_run_pings_fail(
    cli: CliInvoker,
    database: Database,
    tmp_path: Path,
    ping_server: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, hits = ping_server
    config = write_config(tmp_path, f'[monitoring.ping]\n"sync demo" = "{url}"\n')
    setup_org(cli)
    add_source_without_its_secret(cli, "UNSET_TOKEN")
    assert cli("--config", config, "sync", "demo").exit_code == 3
    assert hits == ["/ping/abc/start", "/ping/abc/fail"]


def test_an_unreachable_ping_url_does_not_break_the_job(
    cli: CliInvoker, database: Database, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        '[monitoring]\nping_timeout = 1\n[monitoring.ping]\n"sync demo" = "http://127.0.0.1:9/x"\n',
    )
    setup_org(cli, "woo")
    result = cli.ok("--config", config, "sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert "acme/demo:woo: ok" in result.stdout


def test_a_ping_urls_path_its_credential_is_never_printed(
    cli: CliInvoker, database: Database, tmp_path: Path
) -> None:
    check = "5f0e2b7c-6c41-4f7b-9a7e-2f1c9d3e8a10"  # a healthchecks check UUID
    config = write_config(
        tmp_path,
        "[monitoring]\nping_timeout = 1\n[monitoring.ping]\n"
        f'"sync demo" = "http://127.0.0.1:9/{check}"\n',
    )
    setup_org(cli, "woo")
    result = cli.ok("--config", config, "sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert "could not ping 127.0.0.1 for sync demo" in result.stderr
    assert check not in result.output


def test_json_logs_one_event_per_line(cli: CliInvoker, database: Database) -> None:
    setup_org(cli, "woo")
    result = cli.ok(
        "--log-format", "json", "-v", "sync", "demo", "--since", SINCE, "--until", UNTIL, "--quiet"
    )
    events = [json.loads(line) for line in result.stderr.strip().splitlines()]
    finished = [e for e in events if e.get("job") == "sync demo"]
    assert finished and finished[-1]["status"] == "ok" and finished[-1]["rows_written"] == 72
    assert result.stdout == ""


@pytest.mark.parametrize("text", ["0/3", "4/3", "x/y", "3", "1/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid shard"):
        Shard.parse(text)


def test_shards_split_organizations_exactly() -> None:
    slugs = [f"org-{i}" for i in range(200)]
    owners = [[s for s in slugs if Shard.parse(f"{i}/3").owns(s)] for i in (1, 2, 3)]
    assert sorted(s for owned in owners for s in owned) == sorted(slugs)
    assert all(40 < len(o) < 90 for o in owners)


def test_sync_with_a_shard_only_touches_its_organizations(
    cli: CliInvoker, database: Database
) -> None:
    for i in range(6):
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
        cli.ok("sources", "add", f"org-{i}", "demo", "--account", "woo")
    cli.ok("sync", "demo", "--shard", "1/2", "--since", SINCE, "--until", SINCE)
    synced = {
        o
        for (o,) in database.rows(
            "SELECT DISTINCT o.slug FROM fact f JOIN organization o ON o.id = f.org_id"
        )
    }
    assert synced == {f"org-{i}" for i in range(6) if Shard(1, 2).owns(f"org-{i}")}
    assert 0 < len(synced) < 6


def test_doctor_checks_each_sources_credentials(
    cli: CliInvoker, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_org(cli, "woo")
    add_source_without_its_secret(cli, "NOT_SET_TOKEN")
    result = cli("doctor")
    assert result.exit_code == 3
    assert "ok   source acme/demo:woo: demo woo data" in result.stdout
    assert "FAIL source acme/demo:ga: the secret environment variable NOT_SET_TOKEN is not set" in (
        result.stderr
    )
    monkeypatch.setenv("NOT_SET_TOKEN", "now-set")
    cli.ok("doctor")
    assert "ok   source" not in cli.ok("doctor", "--no-sources").stdout


def test_status_with_nothing_to_watch_is_not_green(cli: CliInvoker, database: Database) -> None:
    """A monitor pointed at an empty database (a cron line that missed DPO_DATABASE_URL) must
    not report all is well."""
    empty = cli("status")
    assert empty.exit_code == 1
    assert "Error: this database has no enabled source to watch" in empty.stderr
    assert cli("status", "--allow-empty").exit_code == 0
    setup_org(cli, "woo")
    cli.ok("sync", "demo", "--since", SINCE, "--until", UNTIL)
    assert cli("status").exit_code == 0
    assert cli("status", "--org", "acme").exit_code == 0
