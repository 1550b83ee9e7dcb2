"""API benchmark: the dashboard route against the same server's /health, in one run.

    python bench/api.py [--backend sqlite|pg] [--clients 32] [--seconds 6] [--workers 1]
                        [--history 90] [--days 28]

Starts `dpo serve` on 127.0.0.1 over a fresh database holding HISTORY days of demo data for
one organization (a store, GA and Meta: 3 sources, rolled up), then lets CLIENTS concurrent
keep-alive connections (wrk, a C load generator on 2 threads, installed with apt-get when
missing) call `/health` (no token, one `SELECT 1`) and the dashboard
(`/api/analytics/dashboard/ORG?days=DAYS`: token lookup, the organization's data version, and
the answer from memory while that is unchanged) in alternating rounds, and prints requests/s,
p50 and p99 latency of each and the dashboard's ratio to /health. The load generator shares
the machine with the server: the ratio, not the absolute numbers, carries over to another
machine.
PostgreSQL is the server at DPO_BENCH_PG_URL (default: the test server), in a fresh schema.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.figures import record  # noqa: E402

DPO = [sys.executable, "-m", "dpo"]
PG_URL = os.environ.get("DPO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Samples:
    """What one load run measured."""

    requests: int = 0
    rate: float = 0.0  # requests per second
    p50: float = 0.0  # seconds
    p99: float = 0.0
    errors: int = 0


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*DPO, *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def prepare(env: dict[str, str], history: int) -> str:
    """A database with one organization's demo data, rolled up; returns a token for it."""
    run(env, "init")
    run(env, "orgs", "add", "shop", "--name", "Shop", "--timezone", "Europe/Berlin",
        "--currency", "EUR")  # fmt: skip
    for profile in ("woo", "ga", "meta"):
        run(env, "sources", "add", "demo", "--org", "shop", "--account", profile)
    since = (datetime.now(UTC) - timedelta(days=history)).date().isoformat()
    run(env, "sync", "demo", "--since", since, "--quiet")
    run(env, "aggregate", "daily", "--quiet")
    return run(env, "tokens", "create", "--org", "shop").strip()


def start_server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[str], str]:
    """`dpo serve --port 0`; returns the process and its base URL once it answers."""
    process = subprocess.Popen(
        [*DPO, "serve", "--port", "0", "--workers", str(workers)],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:  # keep draining: one log line per request
            if not found and (m := re.search(r"running on (http://127\.0\.0\.1:\d+)", line)):
                found.append(m[1])
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(60)
    if not found:
        raise SystemExit("dpo serve did not start")
    for _ in range(600):
        try:
            if httpx.get(f"{found[0]}/health").status_code == 200:
                return process, found[0]
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("dpo serve does not answer /health")


def wrk() -> str:
    """The wrk load generator (C, multi-threaded: not the bottleneck), installed if missing."""
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed and could not be installed (apt-get install wrk)")
    return found


def hammer(url: str, headers: dict[str, str], clients: int, seconds: float) -> Samples:
    """CLIENTS keep-alive connections calling URL back to back for SECONDS (wrk, 2 threads)."""
    command = [wrk(), "-t2", f"-c{clients}", f"-d{seconds:g}s", "--latency", "--timeout", "30s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    return Samples(
        requests=int(_field(out, r"(\d+) requests in")),
        rate=float(_field(out, r"Requests/sec:\s+([\d.]+)")),
        p50=_seconds(_field(out, r"50%\s+([\d.]+\w+)")),
        p99=_seconds(_field(out, r"99%\s+([\d.]+\w+)")),
        errors=int(_field(out, r"Non-2xx or 3xx responses: (\d+)", "0"))
        + int(_field(out, r"Socket errors:.*?timeout (\d+)", "0")),
    )


def _field(text: str, pattern: str, default: str | None = None) -> str:
    found = re.search(pattern, text)
    if found is None:
        if default is None:
            raise SystemExit(f"unexpected wrk output:\n{text}")
        return default
    return found[1]


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def measure(base: str, token: str, args: argparse.Namespace) -> dict[str, Samples]:
    """/health and the dashboard, each after a warm-up, in alternating rounds."""
    targets = {
        "/health": (f"{base}/health", {}),
        "dashboard": (
            f"{base}/api/analytics/dashboard/shop?days={args.days}",
            {"Authorization": f"Bearer {token}"},
        ),
    }
    for url, headers in targets.values():
        hammer(url, headers, args.clients, 1.0)  # warm-up
    rounds: dict[str, list[Samples]] = {name: [] for name in targets}
    for _ in range(2):
        for name, (url, headers) in targets.items():
            rounds[name].append(hammer(url, headers, args.clients, args.seconds / 2))
    return {name: _combined(runs) for name, runs in rounds.items()}


def _combined(runs: list[Samples]) -> Samples:
    """Rounds together: rates and requests add up; latencies, the worse round's."""
    return Samples(
        requests=sum(r.requests for r in runs),
        rate=sum(r.rate for r in runs) / len(runs),
        p50=max(r.p50 for r in runs),
        p99=max(r.p99 for r in runs),
        errors=sum(r.errors for r in runs),
    )


def report(totals: dict[str, Samples], args: argparse.Namespace) -> None:
    print(f"{args.backend}, {args.workers} worker(s), {args.clients} concurrent clients, "
          f"{args.seconds:g} s per route, {args.history} days of history, dashboard of "
          f"{args.days} days")  # fmt: skip
    print(f"{'route':<12}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, s in totals.items():
        print(f"{name:<12}{s.requests:>10}{s.rate:>10.0f}{s.p50 * 1000:>10.1f}"
              f"{s.p99 * 1000:>10.1f}{s.errors:>8}")  # fmt: skip
    board, health = totals["dashboard"], totals["/health"]
    print(
        f"dashboard / health: throughput {board.rate / health.rate:.2f}, "
        f"p50 latency {board.p50 / health.p50:.1f}x, "
        f"p99 latency {board.p99 / health.p99:.1f}x"
    )
    print(f"one dashboard request alone (median of 20): {args.alone * 1000:.1f} ms")
    name = {"sqlite": "SQLite", "pg": "PostgreSQL"}[args.backend]
    record(
        "api",
        f"{name}: dashboard req/s vs /health req/s, {args.clients} clients",
        f"{board.rate:.0f} req/s",
        f"{health.rate:.0f} req/s",
        board.rate / health.rate,
    )
    record(
        "api",
        f"{name}: dashboard p99 latency under load (alone: {args.alone * 1000:.0f} ms)",
        f"{board.p99 * 1000:.0f} ms",
        f"{health.p99 * 1000:.0f} ms",
        board.p99 / health.p99,
    )


def alone(base: str, token: str, days: int) -> float:
    """The dashboard's latency with no other load: its own cost, without queueing."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers) as client:
        times = []
        for _ in range(20):
            started = time.perf_counter()
            client.get(f"{base}/api/analytics/dashboard/shop?days={days}").raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--history", type=int, default=90)
    parser.add_argument("--days", type=int, default=28)
    args = parser.parse_args()
    with bench_env(args.backend, "bench_api") as env:
        token = prepare(env, args.history)
        process, base = start_server(env, args.workers)
        try:
            totals = measure(base, token, args)
            args.alone = alone(base, token, args.days)
            report(totals, args)
        finally:
            process.terminate()
            process.wait(60)


@contextmanager
def bench_env(backend: str, prefix: str) -> Iterator[dict[str, str]]:
    """The environment of `dpo` processes over a fresh database: SQLite in a temporary home,
    or a new schema of the PostgreSQL at PG_URL (dropped afterwards)."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DPO_HOME": home, "PYTHONPATH": str(ROOT)}
        env = {k: v for k, v in env.items() if k not in ("DPO_DATABASE_URL", "DPO_CONFIG")}
        if backend != "pg":
            yield env
            return
        schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", PG_URL, "-qc", f"CREATE SCHEMA {schema}"], check=True)
        env["DPO_DATABASE_URL"] = f"{PG_URL}?options=-csearch_path%3D{schema}"
        try:
            yield env
        finally:
            subprocess.run(["psql", PG_URL, "-qc", f"DROP SCHEMA {schema} CASCADE"],
                           check=True, capture_output=True)  # fmt: skip


if __name__ == "__main__":
    main()
