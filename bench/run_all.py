"""Run every benchmark and print one table of their headline figures (Markdown).

    python bench/run_all.py [--quick] [--only startup ingest …]

Each benchmark runs as its own process (so start-up and peak memory are its own), prints its
detailed output on stderr as it goes, and hands its headline figures over (bench/figures.py).
The table then shows each figure beside the baseline measured in the same run, their ratio
and the target, and ends with the machine it ran on. The default sizes are the reference
ones (1 M facts, a year of history, insights for 10 organizations); `--quick` shrinks them
for a smoke run.

Needs `pip install -e '.[test,bench]'`, PostgreSQL at DPO_BENCH_PG_URL (default: the local
test server) and, for the workers, Redis at DPO_BENCH_BROKER_URL (default: database 15 of the
local server). Exits 1 when a benchmark fails or a figure misses its target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG_URL = os.environ.get("DPO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

# (name, reference arguments, --quick arguments)
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("startup", ["startup.py", "--runs", "21"], ["startup.py", "--runs", "7"]),
    ("ingest", ["ingest.py", "--rows", "1000000"], ["ingest.py", "--rows", "100000"]),
    ("aggregate", ["aggregate.py", "--days", "365"], ["aggregate.py", "--days", "60"]),
    ("api sqlite", ["api.py", "--backend", "sqlite"], ["api.py", "--seconds", "2"]),
    ("api pg", ["api.py", "--backend", "pg"], ["api.py", "--backend", "pg", "--seconds", "2"]),
    ("insights", ["insights.py", "--orgs", "10"], ["insights.py", "--orgs", "3"]),
    ("workers", ["workers.py", "--orgs", "40"], ["workers.py", "--orgs", "10"]),
    (
        "detector",
        ["detector_eval.py", "--series", "120", "--sens", "1"],
        ["detector_eval.py", "--series", "30", "--sens", "1"],
    ),
]


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                 if ln.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f", {kib / 1024**2:.0f} GiB RAM"
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {postgres_version()}"
    )


def postgres_version() -> str:
    try:
        import psycopg2

        with psycopg2.connect(PG_URL) as conn, conn.cursor() as cur:
            cur.execute("SHOW server_version")
            row = cur.fetchone()
        return str(row[0]).split()[0] if row else "?"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


def run(name: str, argv: list[str], figures: Path) -> tuple[bool, float]:
    print(f"\n### {name}: python bench/{' '.join(argv)}", file=sys.stderr, flush=True)
    env = {**os.environ, "DPO_BENCH_FIGURES": str(figures)}
    env.pop("DPO_DATABASE_URL", None)
    env.pop("DPO_CONFIG", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]], env=env,
                          stdout=sys.stderr, check=False)  # fmt: skip
    return done.returncode == 0, time.perf_counter() - started


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| benchmark | figure | dpo | baseline | ratio | target | |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        met = {True: "ok", False: "**missed**", None: ""}[r["met"]]  # type: ignore[index]
        lines.append(f"| {r['bench']} | {r['what']} | {r['value']} | {r['baseline']} | {ratio} "
                     f"| {r['target']} | {met} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run only these benchmarks")
    args = parser.parse_args()
    chosen = [(n, q if args.quick else ref) for n, ref, q in BENCHMARKS
              if not args.only or n in args.only or n.split()[0] in args.only]  # fmt: skip
    failed: list[str] = []
    timings: list[str] = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures.jsonl"
        figures.touch()
        for name, argv in chosen:
            ok, seconds = run(name, argv, figures)
            timings.append(f"{name} {seconds:.0f} s")
            if not ok:
                failed.append(name)
        rows = [json.loads(line) for line in figures.read_text().splitlines()]
    print(table(rows))
    print(f"\n{'Quick run' if args.quick else 'Reference sizes'}, "
          f"{time.perf_counter() - began:.0f} s in all ({', '.join(timings)}).")  # fmt: skip
    print(f"Machine: {machine()}.")
    missed = [r["what"] for r in rows if r["met"] is False]
    for name in failed:
        print(f"FAILED: {name} (its output above says why)")
    for what in missed:
        print(f"MISSED TARGET: {what}")
    sys.exit(1 if failed or missed else 0)


if __name__ == "__main__":
    main()
