"""The figures a benchmark reports, collected by bench/run_all.py into one table.

Each benchmark prints its own detailed output and calls `record(...)` for its headline
figures; when DPO_BENCH_FIGURES names a file (run_all.py sets it), they are appended to it as
JSON lines. A figure is a measured value next to the baseline measured in the same run, the
ratio between them and the target the ratio is held to.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    bench: str  # the script, e.g. "ingest"
    what: str  # e.g. "PostgreSQL: dpo window write vs raw COPY (1,000,000 rows)"
    value: str  # dpo's figure with its unit, e.g. "8.96 s"
    baseline: str = ""  # the same-run baseline, e.g. "8.81 s"
    ratio: float | None = None
    target: str = ""  # e.g. "≥ 0.5" (higher is better) or "≤ 1.5"
    met: bool | None = None  # None: reported for reference, no target


def record(
    bench: str,
    what: str,
    value: str,
    baseline: str = "",
    ratio: float | None = None,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
) -> None:
    """Hand one figure to run_all.py (a no-op when a benchmark runs on its own). The ratio's
    target is `at_least` (higher is better) or `at_most` (lower is better), if any."""
    target, met = "", None
    if ratio is not None and at_least is not None:
        target, met = f"≥ {at_least:g}", ratio >= at_least
    elif ratio is not None and at_most is not None:
        target, met = f"≤ {at_most:g}", ratio <= at_most
    figure = Figure(bench, what, value, baseline, ratio, target, met)
    path = os.environ.get("DPO_BENCH_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(figure)) + "\n")
