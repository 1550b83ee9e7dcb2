"""Benchmark `dpo goals progress`: goals that share a series are forecast once per request.

    python bench/goals.py [--goals 100]

Builds the demo organization (`dpo demo`), adds `--goals` goals over ten KPIs and five periods
(so goals repeat a KPI and period, as real ones do: per channel, per campaign, revised
targets), then measures in the same run the progress of all of them:

- the baseline: each goal forecast on its own (a model fit per series per goal);
- `progress`: one request, each distinct series fit once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KPIS = ("revenue", "spend", "orders", "sessions", "roas", "cpa", "ctr", "aov", "clicks", "mer")
PERIODS = ("month", "week", "quarter", "year", "day")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--goals", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["DPO_HOME"] = home
        subprocess.run(
            [sys.executable, "-m", "dpo", "demo"], check=True, capture_output=True, env=os.environ
        )
        _run(args.goals)


def _run(count: int) -> None:
    from sqlmodel import select

    from dpo.insights import pacing
    from dpo.resources import goals
    from dpo.storage.db import session_scope
    from dpo.storage.models import Goal, Organization

    with session_scope() as session:
        for i in range(count):
            kpi = KPIS[i % len(KPIS)]
            target = "0.02" if kpi == "ctr" else str(100 + i)
            period = PERIODS[(i // len(KPIS)) % len(PERIODS)]
            goals.add_goal(session, "demo", {"kpi": kpi, "target": target, "period": period})
    now = datetime.now(UTC)
    with session_scope() as session:
        conn = session.connection()
        pairs = list(session.exec(select(Goal, Organization).join(Organization)))
        started = time.perf_counter()
        alone = [pacing.goal_progress(conn, g, o, now=now) for g, o in pairs]
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        shared = pacing.progress(session, org_slug="demo", now=now)
        measured = time.perf_counter() - started
    assert [p.model_dump() for p in alone] == [p.model_dump() for p in shared]
    print(f"goals: {count}, distinct KPI and period: {len(KPIS) * len(PERIODS)}")
    print(f"baseline, each goal forecast alone: {baseline:.2f} s")
    print(f"progress, series shared:            {measured:.2f} s")
    print(f"ratio (baseline / progress): {baseline / measured:.2f}x")


if __name__ == "__main__":
    main()
