"""The detector on the demo source's own data: hourly KPIs of a demo shop, with the three
injected incidents as labels, scored point by point (the detector alone, without grouping);
and, over demo shops of many seeds, how many hours of its checkout failure `insights generate`
needs to flag it, its purchases judged one by one and pooled (`dpo.insights.pooled`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np

from dpo.connectors.base import Budget, SourceSpec, Window
from dpo.connectors.demo import CAMPAIGNS, DEFAULT_SEED, DemoConnector
from dpo.insights import pooled
from dpo.insights.anomalies import detect
from dpo.insights.detection import DetectorConfig, Scores, Series
from dpo.insights.findings import SUPPRESS, flagged_runs
from dpo.insights.series import TOTAL_SCOPE, KpiSeries, OrgSeries
from dpo.insights.timeline import Timeline, hourly_in_zone
from dpo.vocab import Grain

ANCHOR = date(2026, 3, 20)
DAYS = 90
ZONE = "Europe/Berlin"


def _connector(profile: str, seed: int = DEFAULT_SEED) -> DemoConnector:
    settings = DemoConnector.normalize_settings(
        profile, {"anchor": ANCHOR.isoformat(), "seed": seed}, today=ANCHOR
    )
    return DemoConnector(
        SourceSpec(1, 1, "demo", "demo", profile, "x", ZONE, "EUR", settings=settings)
    )


def demo_series(
    seed: int = DEFAULT_SEED,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], Series]:
    """Hourly series of the demo shop (name -> values), their labels, and a template Series."""
    first = ANCHOR - timedelta(days=DAYS - 1)
    connectors = {p: _connector(p, seed) for p in ("ga", "meta", "woo")}
    tz = connectors["ga"].timezone()
    start = datetime.combine(first, datetime.min.time(), tz).astimezone(UTC)
    hours = DAYS * 24
    grid = hourly_in_zone(start, hours, tz)
    values: dict[str, np.ndarray] = {}
    now = datetime.combine(ANCHOR + timedelta(days=1), datetime.min.time(), UTC)

    def add(name: str, hour: datetime, value: float) -> None:
        i = int((hour - start).total_seconds() // 3600)
        if 0 <= i < hours:
            series = values.setdefault(name, np.full(hours, np.nan))
            series[i] = (0.0 if np.isnan(series[i]) else series[i]) + value

    for day in range(DAYS):
        for profile, conn in connectors.items():
            window = Window.for_day(first + timedelta(days=day), tz)
            for row in conn.fetch_window(window, now=now, budget=Budget()):
                if row.grain != Grain.hour:
                    continue
                if profile == "ga":
                    add("sessions", row.period_start, float(row.sessions or 0))
                    add("conversions", row.period_start, float(row.conversions or 0))
                elif profile == "woo":
                    add("orders", row.period_start, float(row.orders or 0))
                    add("revenue", row.period_start, float(row.revenue or 0))
                else:
                    add("spend", row.period_start, float(row.spend or 0))
                    add(f"spend {row.campaign_name}", row.period_start, float(row.spend or 0))
    labels = {name: np.zeros(hours, dtype=bool) for name in values}
    for conn in connectors.values():
        for incident in conn.incidents():
            lo = int((incident.start - start).total_seconds() // 3600)
            hi = int((incident.end - start).total_seconds() // 3600)
            hit = {
                "tracking_outage": ["sessions", "conversions"],
                "spend_spike": ["spend", f"spend {CAMPAIGNS[0].name}"],
                "conversion_drop": ["orders", "revenue", "conversions"],
            }[incident.kind]
            for name in hit:
                labels[name][max(lo, 0) : max(hi, 0)] = True
    template = Series(np.zeros(hours), grid.slots, grid.days, Grain.hour)
    return values, labels, template


def evaluate_demo(sensitivities: Sequence[float]) -> None:
    """Print point precision/recall on the demo shop's series for each sensitivity."""
    values, labels, template = demo_series()
    print(f"\ndemo shop: {len(values)} hourly series x {DAYS} days, 3 injected incidents")
    for sens in sensitivities:
        tp = fp = fn = 0
        found = set()
        for name, y in values.items():
            series = Series(y, template.slots, template.days, Grain.hour)
            flags = detect(series, DetectorConfig(sensitivity=sens)).is_anomaly
            lab = labels[name]
            tp += int((flags & lab).sum())
            fp += int((flags & ~lab).sum())
            fn += int((~flags & lab).sum())
            if (flags & lab).any():
                found.add(name)
        p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        f1 = 2 * p * r / max(p + r, 1e-9)
        labelled = sum(lab.any() for lab in labels.values())
        print(
            f"  sensitivity {sens:g}: point P {p:.3f} R {r:.3f} F1 {f1:.3f}"
            f" | false points {fp} | labelled series hit {len(found)}/{labelled}"
        )


Shop = tuple[dict[str, np.ndarray], dict[str, np.ndarray], Series]


def checkout_hours(shop: Shop, history_days: int) -> tuple[int | None, int | None, int, float]:
    """For a demo shop (`demo_series`) judged from `history_days` before its checkout failure:
    the hours of the failure seen when it is first flagged on the total's orders, revenue or
    conversions, alone and with pooling (None: not in its 12 hours), the false runs pooling
    adds, and the days judged."""
    values, labels, template = shop
    hit = np.flatnonzero(labels["orders"])
    lo, hi = int(hit[0]), int(hit[-1]) + 1
    begin = max(0, (lo // 24 - history_days) * 24)
    grid = Timeline(Grain.hour, 0, template.slots[begin:], template.days[begin:])
    scored = []
    for kpi in pooled.MOVED:
        y = values[kpi][begin:]
        scores = detect(Series(y, grid.slots, grid.days, Grain.hour))
        scored.append((KpiSeries(kpi, TOTAL_SCOPE, y), scores))
    data = OrgSeries(Grain.hour, grid, [s for s, _ in scored], {})
    joint = pooled.corroborate(data, scored, DetectorConfig())
    window = (lo - begin, hi - begin)
    added = _false_runs([sc for _, sc in joint], window) - _false_runs(
        [sc for _, sc in scored], window
    )
    alone = _first_hour([sc for _, sc in scored], window)
    together = _first_hour([sc for _, sc in joint], window)
    return alone, together, added, float(scored[0][1].is_judged.sum()) / 24


def _first_hour(scores: Sequence[Scores], window: tuple[int, int]) -> int | None:
    lo, hi = window
    hours = [int(h[0]) + 1 for s in scores if len(h := np.flatnonzero(s.is_anomaly[lo:hi]))]
    return min(hours, default=None)


def _false_runs(scores: Sequence[Scores], window: tuple[int, int]) -> int:
    """Runs of hours flagged on any of the series (the alerts a shop sees) outside `window`."""
    flags = np.logical_or.reduce([s.is_anomaly for s in scores])
    runs = flagged_runs(flags, np.ones(len(flags)), SUPPRESS[Grain.hour])
    return sum(1 for lo, hi, _ in runs if hi <= window[0] or lo >= window[1])


def evaluate_checkout(seeds: Sequence[int], history: Sequence[int] = (21, 63)) -> None:
    """Print, over demo shops of many seeds, how soon their checkout failure is flagged."""
    print(f"\ndemo checkout failure (-80 % for 12 h), {len(seeds)} seeds, the total's purchases:")
    shops = [demo_series(seed) for seed in seeds]
    for days in history:
        rows = [checkout_hours(shop, days) for shop in shops]
        for name, column in (("alone", 0), ("pooled", 1)):
            hours = [r[column] for r in rows]
            within = sum(1 for h in hours if h is not None and h <= 3)
            median = float(np.median([13 if h is None else h for h in hours]))
            print(f"  {days} days of history, {name}: within 3 h {within}/{len(rows)},"
                  f" median {median:g} h")  # fmt: skip
        added, judged = sum(r[2] for r in rows), sum(r[3] for r in rows)
        print(f"  {days} days of history, false runs pooling adds: {added}"
              f" ({added / judged * 30:.3f} per shop per 30 days)")  # fmt: skip
