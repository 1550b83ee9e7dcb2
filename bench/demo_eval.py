"""The detector on the demo source's own data: hourly KPIs of a demo shop, with the three
injected incidents as labels, scored point by point (the detector alone, without grouping)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np

from dpo.connectors.base import Budget, SourceSpec, Window
from dpo.connectors.demo import CAMPAIGNS, DemoConnector
from dpo.insights.anomalies import detect
from dpo.insights.detection import DetectorConfig, Series
from dpo.insights.timeline import hourly_in_zone
from dpo.vocab import Grain

ANCHOR = date(2026, 3, 20)
DAYS = 90
ZONE = "Europe/Berlin"


def _connector(profile: str) -> DemoConnector:
    settings = DemoConnector.normalize_settings(
        profile, {"anchor": ANCHOR.isoformat()}, today=ANCHOR
    )
    return DemoConnector(
        SourceSpec(1, 1, "demo", "demo", profile, "x", ZONE, "EUR", settings=settings)
    )


def demo_series() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], Series]:
    """Hourly series of the demo shop (name -> values), their labels, and a template Series."""
    first = ANCHOR - timedelta(days=DAYS - 1)
    connectors = {p: _connector(p) for p in ("ga", "meta", "woo")}
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
