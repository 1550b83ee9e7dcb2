"""The gauge model of `dpo insights detect`: server and sensor metrics without a daily cycle
judged by the records they break, beside the seasonal model (see dpo/insights/gauges.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from dpo.insights import gauges
from dpo.insights.csvread import read_series
from dpo.insights.csvseries import detect_csv
from tests.conftest import CliInvoker
from tests.test_insights_detect import rows

START = datetime(2026, 1, 5)  # a Monday
PER_HOUR = 12  # rows every 5 minutes


def cpu(days: int = 14, *, seed: int = 5) -> np.ndarray:
    """A server's CPU every 5 minutes: about 40 %, no daily cycle, and short bursts to
    60-90 % a few times a day."""
    rng = np.random.default_rng(seed)
    n = days * 24 * PER_HOUR
    values = 40 + 1.5 * rng.normal(size=n)
    for start in rng.choice(n - 3, size=days * 4, replace=False):
        values[start : start + rng.integers(1, 4)] = rng.uniform(60, 90)
    return np.clip(values, 0, 100)


def write(path: Path, values: np.ndarray, *, minutes: int = 5) -> Path:
    lines = ["timestamp,value"]
    for i, value in enumerate(values):
        lines.append(f"{(START + timedelta(minutes=minutes * i)).isoformat()},{value:.3f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def hour_of(row: dict[str, str]) -> int:
    return int((datetime.fromisoformat(row["timestamp"]) - START).total_seconds() // 3600)


def test_a_gauge_moving_to_a_level_it_never_had_alerts_within_the_hour(
    cli: CliInvoker, tmp_path: Path
) -> None:
    values = cpu()
    shift = 10 * 24 * PER_HOUR + 14 * PER_HOUR  # day 10, 14:00: a runaway process, +25 points
    values[shift:] = np.clip(values[shift:] + 25, 0, 100)
    series = write(tmp_path / "cpu.csv", values)
    scored = rows(cli.ok("insights", "detect", str(series)).stdout)
    alerts = [r for r in scored if r["alert"] == "1"]
    assert [hour_of(r) for r in alerts] == [10 * 24 + 14]  # one alert, as the hour ends
    assert alerts[0]["timestamp"] == (START + timedelta(days=10, hours=14, minutes=55)).isoformat()
    data = read_series(series, time_column=None, value_column=None)
    assert not gauges.judge(data).cyclic.any()  # judged as a gauge throughout


def test_bursts_like_every_day_are_not_alerts(tmp_path: Path) -> None:
    series = write(tmp_path / "cpu.csv", cpu(days=21, seed=6))
    result = detect_csv(series)
    assert result.alerts == []
    assert result.first_judged is not None


def test_a_dip_below_every_dip_alerts_and_a_burst_a_little_higher_does_not(
    tmp_path: Path,
) -> None:
    values = cpu(days=14, seed=7)
    # One row at 100 %: above every burst (60-90 %), but by less than bursts reach above
    # the usual load, so one more burst.
    values[6 * 24 * PER_HOUR + 30] = 100.0
    dip = 8 * 24 * PER_HOUR + 5 * PER_HOUR  # day 8, 05:00: 20 minutes at 0 %
    values[dip : dip + 4] = 0.0
    result = detect_csv(write(tmp_path / "cpu.csv", values))
    assert [hour_of(r.__dict__) for r in result.alerts] == [8 * 24 + 5]


def test_a_daily_cycle_is_left_to_the_seasonal_model(tmp_path: Path) -> None:
    """Traffic with a daily cycle is recognised as cyclic from day 3 (and the gauge model
    does not judge it), however sparse: the counting noise of 2 orders an hour is set aside."""
    rng = np.random.default_rng(8)
    hours = np.arange(28 * 24)
    shape = 1 + 0.8 * np.sin(2 * np.pi * (hours % 24 - 9) / 24)
    for mean in (500.0, 2.0):
        path = tmp_path / f"orders_{mean:g}.csv"
        lines = ["timestamp,value"]
        for h, count in zip(hours, rng.poisson(mean * shape), strict=True):
            lines.append(f"{(START + timedelta(hours=int(h))).isoformat()},{count}")
        path.write_text("\n".join(lines) + "\n")
        cyclic = gauges.judge(read_series(path, time_column=None, value_column=None)).cyclic
        assert not cyclic[: 3 * 24].any()
        assert cyclic[3 * 24 :].mean() > 0.95, mean


def test_nothing_is_judged_before_two_days_and_judgements_are_causal(tmp_path: Path) -> None:
    values = cpu(days=10, seed=9)
    full = gauges.judge(
        read_series(write(tmp_path / "full.csv", values), time_column=None, value_column=None)
    )
    assert not full.judged[:48].any() and full.judged[48:].all()
    part = gauges.judge(
        read_series(
            write(tmp_path / "part.csv", values[: 6 * 24 * PER_HOUR]),
            time_column=None,
            value_column=None,
        )
    )
    assert np.array_equal(part.evidence, full.evidence[: 6 * 24])
    assert np.array_equal(part.cyclic, full.cyclic[: 6 * 24])


def test_the_gauge_model_answers_to_the_sensitivity(tmp_path: Path) -> None:
    values = cpu()
    shift = 10 * 24 * PER_HOUR
    values[shift:] += 8  # a smaller step: about a third of a burst
    series = write(tmp_path / "cpu.csv", values)
    found = [len(detect_csv(series, sensitivity=s).alerts) for s in (0.05, 1.0, 1.6)]
    assert found[0] == 0
    assert found[0] <= found[1] <= found[2]
