"""Evaluate the anomaly detector on labelled series; choose its default sensitivity.

    python bench/detector_eval.py [--series 180] [--seed 1 2] [--days 90] [--sens 0.5 0.7 1 1.4 2]
        [--daily 60] [--demo] [--set point_z=4.5 …] [--real ../shared/datasets/nab-dev]

For each sensitivity it prints, over synthetic series (see bench/synthetic.py):

- point precision / recall / F1: every labelled point is an incident point;
- incident recall: labelled incidents with at least one flagged point (their first 3 hours
  after the start count: a causal detector needs a point or two to see a moderate change);
- false alarms: flagged runs (gaps of up to 3 points merged) that touch no incident, per
  30 days of one series, from day 3 of an hourly series (the earliest it can be judged) and
  day 14 of a daily one; alarm precision = runs that touch an incident / all runs;
- per kind of series and of incident, so a weakness shows where it is.

With `--real DIR` it also scores real labelled series (NAB's format) through the path a user
runs, `dpo insights detect` at its defaults but each sensitivity, and prints window recall,
false alarms per series per 30 days and a NAB-style score separately (see
bench/real_eval.py); `--series 0` skips the synthetic suites.

The default sensitivity was chosen from these numbers (see the README).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import record
from bench.synthetic import SynthSeries, make_daily_suite, make_suite
from dpo.insights.anomalies import detect
from dpo.insights.detection import DetectorConfig, Series
from dpo.vocab import Grain


@dataclass
class Tally:
    """Counts behind the figures."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    incidents: int = 0
    found: int = 0
    runs: int = 0
    true_runs: int = 0
    hours: int = 0
    by_incident: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def add(self, other: Tally) -> None:
        for name in ("tp", "fp", "fn", "incidents", "found", "runs", "true_runs", "hours"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, (a, b) in other.by_incident.items():
            self.by_incident[k][0] += a
            self.by_incident[k][1] += b

    def line(self) -> str:
        p = self.tp / max(self.tp + self.fp, 1)
        r = self.tp / max(self.tp + self.fn, 1)
        f1 = 2 * p * r / max(p + r, 1e-9)
        ir = self.found / max(self.incidents, 1)
        ap = self.true_runs / max(self.runs, 1)
        false_runs = (self.runs - self.true_runs) / max(self.hours / 720, 1e-9)
        return (
            f"point P {p:.3f} R {r:.3f} F1 {f1:.3f} | incidents found {ir:.3f} "
            f"({self.found}/{self.incidents}) | alarm precision {ap:.3f}, "
            f"false alarms/30d {false_runs:.2f}"
        )

    def f1(self) -> float:
        p = self.tp / max(self.tp + self.fp, 1)
        r = self.tp / max(self.tp + self.fn, 1)
        return 2 * p * r / max(p + r, 1e-9)


def runs(flags: np.ndarray, *, gap: int = 3) -> list[tuple[int, int]]:
    """Flagged runs [start, end), merging gaps of up to `gap` points."""
    idx = np.flatnonzero(flags)
    out: list[list[int]] = []
    for i in idx:
        if out and i - out[-1][1] <= gap:
            out[-1][1] = int(i) + 1
        else:
            out.append([int(i), int(i) + 1])
    return [(a, b) for a, b in out]


def evaluate(s: SynthSeries, flags: np.ndarray, judged_from: int) -> Tally:
    """Compare flags with labels from the first judged point on."""
    tally = Tally()
    lab = s.labels[judged_from:]
    f = flags[judged_from:]
    tally.tp = int((f & lab).sum())
    tally.fp = int((f & ~lab).sum())
    tally.fn = int((~f & lab).sum())
    tally.hours = len(lab)
    for inc in s.incidents:
        tally.incidents += 1
        hit = bool(flags[inc.start : inc.end].any())
        tally.found += hit
        tally.by_incident[inc.kind][0] += hit
        tally.by_incident[inc.kind][1] += 1
    for start, end in runs(flags[judged_from:]):
        a, b = start + judged_from, end + judged_from
        tally.runs += 1
        tally.true_runs += any(a < i.end + 3 and i.start < b for i in s.incidents)
    return tally


def score(s: SynthSeries, config: DetectorConfig) -> np.ndarray:
    grain = Grain.day if s.kind == "daily" else Grain.hour
    series = Series(s.values, s.slots, s.days, grain, is_log=s.is_log, volume=s.volume)
    return detect(series, config).is_anomaly


def sweep(
    suite: list[SynthSeries],
    sensitivities: list[float],
    base: DetectorConfig,
    *,
    judged_from: int = 3 * 24,
) -> None:
    for sens in sensitivities:
        config = DetectorConfig(**{**base.__dict__, "sensitivity": sens})
        total, by_kind = Tally(), defaultdict(Tally)
        started = time.perf_counter()
        for s in suite:
            tally = evaluate(s, score(s, config), judged_from)
            total.add(tally)
            by_kind[s.kind].add(tally)
        seconds = time.perf_counter() - started
        print(f"\nsensitivity {sens:g}  ({len(suite)} series, {seconds:.1f}s)")
        print(f"  all       {total.line()}")
        for kind, tally in sorted(by_kind.items()):
            print(f"  {kind:9} {tally.line()}")
        found = ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(total.by_incident.items()))
        print(f"  incidents found by kind: {found}")
        print(f"  point F1 {total.f1():.3f}")
        grain = "daily" if judged_from < 24 else "hourly"
        found = total.found / max(total.incidents, 1)
        false_alarms = (total.runs - total.true_runs) / max(total.hours / 720, 1e-9)
        record("detector", f"anomaly detector, sensitivity {sens:g}, {len(suite)} synthetic "
               f"{grain} series: incidents found / false alarms per 30 days / point F1",
               f"{found:.0%} / {false_alarms:.2f} / {total.f1():.3f}")  # fmt: skip


def csv_path(suite: list[SynthSeries], sensitivities: list[float]) -> None:
    """The hourly count and amount series again, each written to a CSV and scored by
    `dpo insights detect`'s path (`detect_csv`: the seasonal model and, where a series has
    no daily cycle, the gauge model), beside `detect` alone on the same series."""
    import tempfile
    from datetime import datetime, timedelta

    from dpo.insights.csvseries import detect_csv

    chosen = [s for s in suite if not s.is_log and s.kind != "daily"]
    monday = datetime(2026, 1, 5)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, s in enumerate(chosen):
            start = monday + timedelta(hours=int(s.slots[0]))
            lines = ["timestamp,value"]
            for k, v in enumerate(s.values):
                when = start + timedelta(hours=k)
                lines.append(f"{when:%Y-%m-%d %H:%M}," + ("" if np.isnan(v) else repr(float(v))))
            path = Path(tmp) / f"s{i}.csv"
            path.write_text("\n".join(lines) + "\n")
            paths.append(path)
        for sens in sensitivities:
            alone, through = Tally(), Tally()
            for s, path in zip(chosen, paths, strict=True):
                config = DetectorConfig(sensitivity=sens)
                alone.add(evaluate(s, score(s, config), 3 * 24))
                points = detect_csv(path, sensitivity=sens, missing="zero").points
                flags = np.array([p.is_anomaly for p in points], dtype=np.bool_)
                through.add(evaluate(s, flags, 3 * 24))
            print(f"\nsensitivity {sens:g}, {len(chosen)} hourly count and amount series")
            print(f"  detect alone          {alone.line()}")
            print(f"  dpo insights detect   {through.line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=180)
    parser.add_argument("--seed", type=int, nargs="*", default=[1])
    parser.add_argument("--daily", type=int, default=0, help="also this many daily series")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--sens", type=float, nargs="*", default=[0.5, 0.7, 1.0, 1.4, 2.0])
    parser.add_argument("--demo", action="store_true", help="also score the demo incidents")
    parser.add_argument("--real", type=Path, help="also score real labelled series (NAB format)")
    parser.add_argument(
        "--csv-path", action="store_true", help="also score the hourly series as CSV files"
    )
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="NAME=VALUE", help="override DetectorConfig"
    )
    args = parser.parse_args()
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    base = DetectorConfig(**overrides)  # type: ignore[arg-type]
    print(f"config: {base}")
    if args.series:
        suite = [s for seed in args.seed for s in make_suite(seed, args.series, days=args.days)]
        labelled = sum(len(s.incidents) for s in suite)
        print(f"{len(suite)} hourly series x {args.days} days, {labelled} labelled incidents")
        sweep(suite, args.sens, base)
        if args.csv_path:
            csv_path(suite, args.sens)
    if args.daily:
        daily = [s for seed in args.seed for s in make_daily_suite(seed, args.daily)]
        labelled = sum(len(s.incidents) for s in daily)
        print(f"\n{len(daily)} daily series x 180 days, {labelled} labelled incidents")
        sweep(daily, args.sens, base, judged_from=14)
    if args.demo:
        from bench.demo_eval import evaluate_checkout, evaluate_demo

        evaluate_demo(args.sens)
        evaluate_checkout(range(1, 31))
    if args.real:
        from bench.real_eval import evaluate_real

        for sens in args.sens:
            evaluate_real(args.real, sensitivity=sens)


if __name__ == "__main__":
    main()
