"""Forecast backtest on real and demo daily series: are dpo's totals and their intervals right?

    python bench/forecast_eval.py [--step 1] [--quick]

Series: the NYC taxi passenger counts of NAB (`../shared/datasets/nab-dev/realKnownCause/
nyc_taxi.csv`, half-hourly, summed to 215 days) and four daily series of the demo shop
(revenue, orders, sessions, spend; 200 days). From every STEP-th day with twelve weeks of
history before it and 28 days after it, each forecaster sees only the past and forecasts 28
days; compared with what happened:

- MAE of each of the next 7 days, of the 7-day total and of the 28-day total, as a ratio to a
  seasonal-naive forecast's (each day as the same weekday a week earlier): below 1 is better;
- coverage of the nominal 80 % intervals of each day (1-7 ahead), of 7-day and 28-day totals;
- a goal's chance: "the next 28 days beat the last 28" — the Brier score of the forecast's
  probability against the outcome, beside always saying the event's base rate over the
  series (known only afterwards: a demanding baseline) and always saying 50 %.

Forecasters: `dpo` (`insights.forecast.forecast_daily`: chosen by backtest, calibrated) and
`ets` (the damped-trend ETS alone with its own simulated intervals: what dpo used before).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dpo.connectors.base import Budget, SourceSpec, Window  # noqa: E402
from dpo.connectors.demo import DemoConnector  # noqa: E402
from dpo.insights import forecast as fc  # noqa: E402
from dpo.vocab import Grain  # noqa: E402

TAXI = ROOT.parent / "shared" / "datasets" / "nab-dev" / "realKnownCause" / "nyc_taxi.csv"
HISTORY = 84  # days before the first origin
AHEAD = 28
ANCHOR = date(2026, 3, 20)
DEMO_DAYS = 200

Forecaster = Callable[[np.ndarray], fc.Forecast]


def taxi() -> np.ndarray:
    """Passengers per day (the file's clock), complete days only."""
    days: dict[date, float] = defaultdict(float)
    counts: dict[date, int] = defaultdict(int)
    with TAXI.open() as handle:
        for row in csv.DictReader(handle):
            day = datetime.fromisoformat(row["timestamp"]).date()
            days[day] += float(row["value"])
            counts[day] += 1
    return np.array([days[d] for d in sorted(days) if counts[d] == 48])


def demo() -> dict[str, np.ndarray]:
    """The demo shop's daily revenue, orders, sessions and spend (local days)."""
    first = ANCHOR - timedelta(days=DEMO_DAYS - 1)
    now = datetime.combine(ANCHOR + timedelta(days=1), datetime.min.time(), UTC)
    out = {name: np.zeros(DEMO_DAYS) for name in ("revenue", "orders", "sessions", "spend")}
    for profile, fields in (("woo", ("revenue", "orders")), ("ga", ("sessions",)),
                            ("meta", ("spend",))):  # fmt: skip
        settings = DemoConnector.normalize_settings(
            profile, {"anchor": ANCHOR.isoformat()}, today=ANCHOR
        )
        spec = SourceSpec(1, 1, "demo", "demo", profile, "x", "Europe/Berlin", "EUR",
                          settings=settings)  # fmt: skip
        conn = DemoConnector(spec)
        tz = conn.timezone()
        for day in range(DEMO_DAYS):
            window = Window.for_day(first + timedelta(days=day), tz)
            for row in conn.fetch_window(window, now=now, budget=Budget()):
                if row.grain == Grain.hour:
                    for name in fields:
                        out[name][day] += float(getattr(row, name) or 0)
    return {f"demo {name}": values for name, values in out.items()}


def dpo_forecast(history: np.ndarray) -> fc.Forecast:
    return fc.forecast_daily(history, AHEAD)


def ets_alone(history: np.ndarray) -> fc.Forecast:
    """The damped-trend ETS with its own intervals, as dpo forecast before."""
    fit = fc._fit(history[-fc.HISTORY :], "add")
    paths = fc._simulate(fit, AHEAD, np.random.default_rng(0))
    return fc.Forecast("ets", np.maximum(paths, 0.0))


FORECASTERS: dict[str, Forecaster] = {"dpo": dpo_forecast, "ets": ets_alone}


def evaluate(name: str, y: np.ndarray, step: int) -> dict[str, dict[str, list[float]]]:
    """Per forecaster: lists of per-origin errors, hits and probabilities."""
    found: dict[str, dict[str, list[float]]] = {k: defaultdict(list) for k in FORECASTERS}
    naive: dict[str, list[float]] = defaultdict(list)
    events: list[float] = []
    for o in range(HISTORY, len(y) - AHEAD + 1, step):
        past, future = y[:o], y[o : o + AHEAD]
        snaive = past[-7:][np.arange(AHEAD) % 7]
        naive["day"] += list(np.abs(snaive[:7] - future[:7]))
        naive["week"].append(abs(snaive[:7].sum() - future[:7].sum()))
        naive["month"].append(abs(snaive.sum() - future.sum()))
        target = past[-AHEAD:].sum()
        events.append(float(future.sum() >= target))
        for key, forecaster in FORECASTERS.items():
            f = forecaster(past)
            got = found[key]
            lo, hi = f.interval()
            got["day"] += list(np.abs(f.mean[:7] - future[:7]))
            got["day_in"] += list(((lo[:7] <= future[:7]) & (future[:7] <= hi[:7])).astype(float))
            for span, days in (("week", 7), ("month", AHEAD)):
                totals = f.totals(days)
                low, high = np.quantile(totals, [0.1, 0.9])
                truth = future[:days].sum()
                got[span].append(abs(float(totals.mean()) - truth))
                got[f"{span}_in"].append(float(low <= truth <= high))
            got["chance"].append(float((f.totals() >= target).mean()))
            got[f"chose {f.method}"].append(1.0)
    for got in found.values():
        got["events"] = events
        for span, errors in naive.items():
            got[f"naive {span}"] = errors
    print(f"  {name}: {len(events)} origins", flush=True)
    return found


def summary(results: dict[str, dict[str, dict[str, list[float]]]]) -> None:
    head = (f"{'series':<16} {'model':<4} {'MAE/naive: day':>14} {'7-day':>6} {'28-day':>6} | "
            f"{'80% covers: day':>15} {'7-day':>6} {'28-day':>6} | {'Brier':>5} "
            f"{'base':>5} {'50%':>5}")  # fmt: skip
    print(head)
    pooled: dict[str, dict[str, list[float]]] = {k: defaultdict(list) for k in FORECASTERS}
    for name, per in results.items():
        for key, got in per.items():
            for field, values in got.items():
                pooled[key][field] += values
            _line(name, key, got)
    for key, got in pooled.items():
        _line("all series", key, got)
    for key in FORECASTERS:
        ratios = {span: [_ratio(per[key], span) for per in results.values()]
                  for span in ("day", "week", "month")}  # fmt: skip
        geo = {span: float(np.exp(np.mean(np.log(r)))) for span, r in ratios.items()}
        print(f"{key}: MAE/naive, geometric mean over the series: day {geo['day']:.2f}, "
              f"7-day {geo['week']:.2f}, 28-day {geo['month']:.2f}")  # fmt: skip
    for key, got in pooled.items():
        chose = {k.split(" ", 1)[1]: len(v) for k, v in got.items() if k.startswith("chose ")}
        print(f"{key}: methods chosen {chose}")


def _ratio(got: dict[str, list[float]], span: str) -> float:
    return float(np.mean(got[span]) / max(np.mean(got[f"naive {span}"]), 1e-9))


def _line(name: str, key: str, got: dict[str, list[float]]) -> None:
    def ratio(span: str) -> float:
        return _ratio(got, span)

    events = np.array(got["events"])
    chance = np.array(got["chance"])
    brier = float(np.mean((chance - events) ** 2))
    base = float(np.mean((events.mean() - events) ** 2))
    half = float(np.mean((0.5 - events) ** 2))
    print(f"{name:<16} {key:<4} {ratio('day'):>14.2f} {ratio('week'):>6.2f} "
          f"{ratio('month'):>6.2f} | {np.mean(got['day_in']):>15.0%} "
          f"{np.mean(got['week_in']):>6.0%} {np.mean(got['month_in']):>6.0%} | "
          f"{brier:>5.3f} {base:>5.3f} {half:>5.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=1, help="days between origins")
    parser.add_argument("--quick", action="store_true", help="taxi and demo revenue only")
    args = parser.parse_args()
    series = {"nyc taxi": taxi(), **demo()}
    if args.quick:
        series = {k: v for k, v in series.items() if k in ("nyc taxi", "demo revenue")}
    print(f"{len(series)} daily series; forecasts of {AHEAD} days from every {args.step} day(s)")
    results = {name: evaluate(name, y, args.step) for name, y in series.items()}
    summary(results)


if __name__ == "__main__":
    main()
