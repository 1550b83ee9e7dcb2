"""`dpo insights detect FILE.csv`: every row scored, sensible columns, one-line errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CliInvoker
from tests.test_anomalies import hourly

START = datetime(2026, 1, 5)  # a Monday


def write_hourly(
    path: Path, *, days: int = 90, header: str = "timestamp,value,label"
) -> list[bool]:
    """A shop's hourly orders with a 12-hour checkout failure on day 60; returns the labels."""
    y, _, _ = hourly(days=days, per_hour=120.0, seed=7)
    labels = np.zeros(len(y), dtype=bool)
    labels[60 * 24 + 9 : 60 * 24 + 21] = True
    y[labels] = np.round(y[labels] * 0.2)
    lines = [header]
    for i, value in enumerate(y):
        lines.append(f"{(START + timedelta(hours=i)).isoformat()},{int(value)},{int(labels[i])}")
    path.write_text("\n".join(lines) + "\n")
    return list(labels)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_every_row_is_scored_and_the_incident_found(cli: CliInvoker, tmp_path: Path) -> None:
    series = tmp_path / "orders.csv"
    labels = write_hourly(series)
    out = tmp_path / "scored.csv"
    result = cli.ok("insights", "detect", str(series), "--output", str(out))
    assert "Scored 2,160 rows of 'value' (hourly rows;" in result.stdout
    # The label column is recognised as a label, not a value; the only note is the first
    # week's (hour 167 is the last judged on under 7 days of history).
    week = (START + timedelta(hours=7 * 24 - 1)).isoformat()
    assert result.stderr == (
        f"Note: rows up to {week} are judged on under a week of history: wider bands, and only "
        "changes of 60 % or more count (history_days says how much each had)\n"
    )
    scored = rows(out.read_text())
    assert list(scored[0]) == ["timestamp", "value", "score", "is_anomaly", "alert", "finding",
                               "history_days"]  # fmt: skip
    assert len(scored) == 2160
    # How sure: no history behind the first two days (not judged), then the days before
    # (on days 2 and 3, before a daily cycle can be told, by the gauge model alone).
    history = [r["history_days"] for r in scored]
    assert set(history[: 2 * 24]) == {""}
    assert (history[2 * 24], history[3 * 24], history[7 * 24 - 1], history[-1]) == (
        "2.00",
        "3.00",
        "6.96",
        "89.96",
    )
    assert [float(h) for h in history[2 * 24 :]] == sorted(float(h) for h in history[2 * 24 :])
    assert scored[100]["timestamp"] == (START + timedelta(hours=100)).isoformat()
    scores = [float(r["score"]) for r in scored]
    assert all(0 <= s <= 1 for s in scores)
    flagged = [r["is_anomaly"] == "true" for r in scored]
    assert flagged == [s >= 0.5 for s in scores]
    assert max(scores[: 2 * 24]) == 0  # the first two days are history
    assert not any(flagged[: 7 * 24])  # and the first week, judged with wide bands, is quiet
    hits = sum(f and lab for f, lab in zip(flagged, labels, strict=True))
    false_alarms = sum(f and not lab for f, lab in zip(flagged, labels, strict=True))
    assert hits >= 10 and false_alarms == 0


def test_csv_on_stdout_and_json(cli: CliInvoker, tmp_path: Path) -> None:
    series = tmp_path / "orders.csv"
    write_hourly(series, days=30)
    plain = rows(cli.ok("insights", "detect", str(series)).stdout)
    assert len(plain) == 30 * 24
    as_json = json.loads(cli.ok("insights", "detect", str(series), "--json").stdout)
    assert [p["timestamp"] for p in as_json] == [r["timestamp"] for r in plain]
    assert [p["score"] for p in as_json] == [float(r["score"]) for r in plain]
    assert set(as_json[0]) == {
        "timestamp",
        "value",
        "score",
        "is_anomaly",
        "expected",
        "alert",
        "finding",
        "history_days",
    }


def test_scores_do_not_depend_on_later_rows(cli: CliInvoker, tmp_path: Path) -> None:
    full, part = tmp_path / "full.csv", tmp_path / "part.csv"
    write_hourly(full)
    part.write_text("\n".join(full.read_text().splitlines()[: 1 + 61 * 24]) + "\n")
    whole = rows(cli.ok("insights", "detect", str(full)).stdout)
    cut = rows(cli.ok("insights", "detect", str(part)).stdout)
    assert cut == whole[: len(cut)]


def test_gaps_unsorted_rows_and_empty_values(cli: CliInvoker, tmp_path: Path) -> None:
    series = tmp_path / "gappy.csv"
    write_hourly(series, days=40)
    lines = series.read_text().splitlines()
    header, body = lines[0], lines[1:]
    del body[500:530]  # thirty hours never exported
    body[700] = body[700].split(",")[0] + ",,0"  # an empty value: a missing point
    body = body[::-1]  # newest first
    series.write_text("\n".join([header, *body]) + "\n")
    scored = rows(cli.ok("insights", "detect", str(series)).stdout)
    assert [r["timestamp"] for r in scored] == [line.split(",")[0] for line in body]
    empty = next(r for r in scored if r["value"] == "")
    assert empty["is_anomaly"] in ("true", "false")


def test_daily_series_and_columns_found_by_name(cli: CliInvoker, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    week = [1.0, 1.0, 1.0, 1.0, 0.95, 0.6, 0.7]
    lines = ["Date;Campaign Spend;Clicks"]
    for day in range(120):
        spend = 1000 * week[day % 7] * np.exp(rng.normal(0, 0.05)) * (0.3 if day == 100 else 1)
        when = (START + timedelta(days=day)).date()
        lines.append(f"{when};{spend:.2f};{int(spend)}")
    series = tmp_path / "daily.csv"
    series.write_text("\n".join(lines) + "\n")
    result = cli.ok("insights", "detect", str(series), "-o", str(tmp_path / "out.csv"))
    assert "120 rows of 'Campaign Spend' (daily rows;" in result.stdout
    assert result.stderr.startswith("Note: scoring column 'Campaign Spend'; also numeric: Clicks")
    scored = rows((tmp_path / "out.csv").read_text())
    assert [i for i, r in enumerate(scored) if r["is_anomaly"] == "true"] == [100]
    clicks = cli.ok("insights", "detect", str(series), "--value-column", "clicks").stdout
    assert len(rows(clicks)) == 120


def test_offsets_place_rows_in_real_time_across_dst(cli: CliInvoker, tmp_path: Path) -> None:
    """Times written with their UTC offset: a DST change is neither a gap nor a duplicate."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    y, _, _ = hourly(days=40, per_hour=80.0)
    first = datetime(2026, 3, 1, tzinfo=UTC)
    lines = ["time,sessions"] + [
        f"{(first + timedelta(hours=i)).astimezone(berlin).isoformat()},{int(v)}"
        for i, v in enumerate(y)
    ]
    series = tmp_path / "dst.csv"
    series.write_text("\n".join(lines) + "\n")
    scored = rows(cli.ok("insights", "detect", str(series)).stdout)
    assert len(scored) == len(y)
    assert sum(r["is_anomaly"] == "true" for r in scored) == 0


def test_ratio_columns_are_judged_on_a_log_scale(cli: CliInvoker, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    lines = ["hour,cpc"]
    for i in range(40 * 24):
        lines.append(
            f"{(START + timedelta(hours=i)).isoformat()},{0.8 * np.exp(rng.normal(0, 0.1)):.4f}"
        )
    series = tmp_path / "cpc.csv"
    series.write_text("\n".join(lines) + "\n")
    result = cli.ok("insights", "detect", str(series), "-o", str(tmp_path / "o.csv"))
    assert "names a ratio: judged on a log scale" in result.stdout


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (None, (), "Error: {path} does not exist"),
        ("", (), "Error: bad.csv is empty"),
        ("timestamp,value\n", (), "Error: bad.csv has a header but no rows"),
        (
            "timestamp,value\n2026-01-01T00:00,1\n2026-01-01T01:00,abc\n2026-01-01T02:00,3\n",
            (),
            "Error: row 3: 'abc' in column 'value' is not a number",
        ),
        (
            "timestamp,value\n2026-01-01T00:00,1\nyesterday-ish,2\n2026-01-01T02:00,3\n",
            (),
            "Error: row 3: cannot read 'yesterday-ish' in column 'timestamp' as a date or time",
        ),
        (
            "timestamp,value\n" + "".join(f"2026-01-{d:02d},1\n" for d in range(1, 30, 7)),
            (),
            "Error: the rows are about 7.0 days apart: dpo scores series with a row at least "
            "every day",
        ),
        (
            "timestamp,value\n2026-01-01,1\n2026-01-02,2\n2026-01-03,3\n",
            ("--every", "1h"),
            "Error: the rows are about 1.0 days apart: --every 1h needs a row at least hourly",
        ),
        (
            "timestamp,value\n2026-01-01,1\n2026-01-02,2\n2026-01-03,3\n",
            ("--value-column", "spend"),
            "Error: --value-column 'spend' is not a column; columns: timestamp, value",
        ),
        (
            "timestamp,label\n2026-01-01,1\n2026-01-02,0\n2026-01-03,0\n",
            (),
            "Error: no numeric column to score besides 'timestamp': name it with --value-column",
        ),
    ],
)
def test_bad_files_are_one_error_line_and_exit_2(
    cli: CliInvoker, tmp_path: Path, content: str | None, options: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    result = cli("insights", "detect", str(path), *options)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == message.format(path=path)
    assert result.stdout == ""


def test_sensitivity_comes_from_the_settings_like_generate(
    cli: CliInvoker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(11)
    y, _, _ = hourly(days=40, per_hour=60.0, noise=0.15)
    y[30 * 24 + 8 : 30 * 24 + 20] = np.round(y[30 * 24 + 8 : 30 * 24 + 20] * rng.uniform(0.6, 0.8))
    series = tmp_path / "s.csv"
    series.write_text(
        "timestamp,value\n"
        + "".join(f"{(START + timedelta(hours=i)).isoformat()},{int(v)}\n" for i, v in enumerate(y))
    )

    def flagged(*options: str) -> int:
        return sum(r["is_anomaly"] == "true" for r in rows(cli.ok(*options).stdout))

    default = flagged("insights", "detect", str(series))
    assert flagged("insights", "detect", str(series), "--sensitivity", "1") == default
    monkeypatch.setenv("DPO_INSIGHTS__SENSITIVITY", "4")
    assert flagged("insights", "detect", str(series)) > default
    assert flagged("insights", "detect", str(series), "--sensitivity", "1") == default


def test_a_file_named_like_a_ratio_is_judged_on_a_log_scale(
    cli: CliInvoker, tmp_path: Path
) -> None:
    """NAB-style exports: the metric is in the file name, the column is just "value"."""
    series = tmp_path / "exchange-2_cpc_results.csv"
    write_hourly(series, days=20, header="timestamp,value,label")
    result = cli.ok("insights", "detect", str(series), "-o", str(tmp_path / "o.csv"))
    assert "file 'exchange-2_cpc_results' names a ratio" in result.stdout
    plain = tmp_path / "orders.csv"
    write_hourly(plain, days=20)
    assert (
        "counts and amounts" in cli.ok("insights", "detect", str(plain), "-o", "/dev/null").stdout
    )


def test_a_short_series_is_scored_but_not_judged(cli: CliInvoker, tmp_path: Path) -> None:
    series = tmp_path / "short.csv"
    write_hourly(series, days=2)
    result = cli.ok("insights", "detect", str(series), "-o", str(tmp_path / "o.csv"))
    assert "none judged: a series needs 2 days of history first" in result.stdout
    scored = rows((tmp_path / "o.csv").read_text())
    assert len(scored) == 48 and {r["score"] for r in scored} == {"0.0000"}


def test_exports_with_decorated_numbers_epoch_times_and_an_index(
    cli: CliInvoker, tmp_path: Path
) -> None:
    """A spreadsheet's money ("$1,234.50"), Unix times, and pandas' unnamed index column."""
    y, _, _ = hourly(days=20, per_hour=900.0)
    epoch = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())
    lines = [",ts,Revenue"]
    for i, v in enumerate(y):
        lines.append(f'{i},{epoch + 3600 * i},"${v:,.2f}"')
    series = tmp_path / "export.csv"
    series.write_text("\n".join(lines) + "\n")
    scored = json.loads(cli.ok("insights", "detect", str(series), "--json").stdout)
    assert len(scored) == len(y)
    assert scored[5]["value"] == pytest.approx(float(y[5]))
    assert scored[5]["timestamp"] == str(epoch + 5 * 3600)
    percent = tmp_path / "rate.csv"
    percent.write_text(
        "date,conversion rate\n"
        + "".join(f"2026-01-{d:02d},{2 + (d % 3) / 10:.1f}%\n" for d in range(1, 29))
    )
    rates = json.loads(cli.ok("insights", "detect", str(percent), "--json").stdout)
    assert rates[0]["value"] == 2.1


def write_every_5_minutes(
    path: Path,
    hourly_counts: np.ndarray,
    *,
    keep: Callable[[int, int], bool] | None = None,
    seed: int = 2,
) -> None:
    """Each hour's count spread over twelve 5-minute rows; `keep(hour, minute)` drops rows."""
    rng = np.random.default_rng(seed)
    lines = ["timestamp,value"]
    for hour, count in enumerate(hourly_counts):
        parts = rng.multinomial(int(count), [1 / 12] * 12)
        for part, minute in zip(parts, range(0, 60, 5), strict=True):
            if keep is not None and not keep(hour, minute):
                continue
            lines.append(f"{(START + timedelta(hours=hour, minutes=minute)).isoformat()},{part}")
    path.write_text("\n".join(lines) + "\n")


def test_rows_every_5_minutes_are_judged_per_hour_with_one_alert(
    cli: CliInvoker, tmp_path: Path
) -> None:
    y, _, _ = hourly(days=30, per_hour=240.0, seed=3)
    first, last = 24 * 24 + 9, 24 * 24 + 21  # checkout broken from 09:00 to 21:00 on day 24
    y[first:last] = np.round(y[first:last] * 0.2)
    series = tmp_path / "orders_5min.csv"
    write_every_5_minutes(series, y)
    result = cli.ok("insights", "detect", str(series), "-o", str(tmp_path / "o.csv"))
    assert "Scored 8,640 rows of 'value' (rows about 5 minutes apart, summed per hour" in (
        result.stdout
    )
    scored = rows((tmp_path / "o.csv").read_text())
    assert len(scored) == 30 * 24 * 12
    flagged = [i // 12 for i, r in enumerate(scored) if r["is_anomaly"] == "true"]
    assert flagged and set(flagged) <= set(range(first, last))
    alerts = [r for r in scored if r["alert"] == "1"]
    assert len(alerts) == 1  # one incident, one alert, however many rows it covers
    first_hour = min(flagged)
    assert first_hour <= first + 3  # a large sustained loss is known within hours
    # The alert is on the row at which the first flagged hour is complete.
    assert alerts[0]["timestamp"] == (START + timedelta(hours=first_hour, minutes=55)).isoformat()
    assert {r["finding"] for r in scored if r["is_anomaly"] == "true"} == {"1"}
    assert {r["finding"] for r in scored if r["is_anomaly"] == "false"} == {""}
    only = rows(cli.ok("insights", "detect", str(series), "--alerts-only").stdout)
    assert only == alerts
    as_json = json.loads(
        cli.ok("insights", "detect", str(series), "--alerts-only", "--json").stdout
    )
    assert [(p["timestamp"], p["alert"], p["finding"]) for p in as_json] == [
        (alerts[0]["timestamp"], True, 1)
    ]


def test_a_gap_in_collection_is_not_a_drop(cli: CliInvoker, tmp_path: Path) -> None:
    """Twelve hours without rows, and a day with every other row missing: no anomaly by
    default, a data-quality note instead; with --missing zero the empty hours are a drop."""
    y, _, _ = hourly(days=30, per_hour=240.0, seed=4)
    gap_day, sparse_day = 20, 23

    def keep(hour: int, minute: int) -> bool:
        if gap_day * 24 + 9 <= hour < gap_day * 24 + 21:
            return False
        return hour // 24 != sparse_day or minute % 10 == 0

    series = tmp_path / "gappy.csv"
    write_every_5_minutes(series, y, keep=keep)
    result = cli.ok("insights", "detect", str(series))
    scored = rows(result.stdout)
    assert not any(r["is_anomaly"] == "true" for r in scored)
    assert not any(r["alert"] == "1" for r in scored)
    gap_start = START + timedelta(days=gap_day, hours=9)
    assert result.stderr.strip().splitlines()[-1] == (
        "Note: data quality: 1 gap without data (12 hours in all, not judged): "
        f"{gap_start:%Y-%m-%d %H:%M} to {gap_start + timedelta(hours=12):%Y-%m-%d %H:%M} "
        "(12 hours)"
    )
    zeros = rows(cli.ok("insights", "detect", str(series), "--missing", "zero").stdout)
    alerts = [r for r in zeros if r["alert"] == "1"]
    # The empty hours have no rows: their alert is on the first row after them.
    assert alerts[0]["timestamp"] == (gap_start + timedelta(hours=12)).isoformat()
    assert alerts[0]["finding"] == "1"


def test_irregular_times_and_the_mean_of_a_gauge(cli: CliInvoker, tmp_path: Path) -> None:
    """Rows at random moments (about 6 an hour), a latency-like gauge averaged per hour."""
    rng = np.random.default_rng(8)
    moments = np.cumsum(rng.exponential(600.0, size=6 * 24 * 21))
    hours = moments / 3600
    level = 100 + 20 * np.sin(2 * np.pi * (hours % 24) / 24)
    values = level * np.exp(rng.normal(0, 0.05, len(hours)))
    spike = (hours >= 15 * 24 + 10) & (hours < 15 * 24 + 14)
    values[spike] *= 3
    lines = ["time,latency_ms"] + [
        f"{(START + timedelta(seconds=float(s))).isoformat()},{v:.2f}"
        for s, v in zip(moments, values, strict=True)
    ]
    series = tmp_path / "latency.csv"
    series.write_text("\n".join(lines) + "\n")
    result = cli.ok("insights", "detect", str(series), "--agg", "mean", "-o", str(tmp_path / "o"))
    assert "averaged per hour" in result.stdout
    scored = rows((tmp_path / "o").read_text())
    assert len(scored) == len(values)
    alerts = [i for i, r in enumerate(scored) if r["alert"] == "1"]
    assert len(alerts) == 1 and spike[alerts[0]]


def test_ratios_are_averaged_per_hour_by_default(cli: CliInvoker, tmp_path: Path) -> None:
    lines = ["timestamp,cpc"] + [
        f"{(START + timedelta(minutes=30 * i)).isoformat()},0.8" for i in range(48 * 10)
    ]
    series = tmp_path / "cpc.csv"
    series.write_text("\n".join(lines) + "\n")
    result = cli.ok("insights", "detect", str(series), "-o", str(tmp_path / "o.csv"))
    assert "rows about 30 minutes apart, averaged per hour (2 rows)" in result.stdout
    daily = cli.ok("insights", "detect", str(series), "--every", "1d", "-o", "/dev/null")
    assert "averaged per day (48 rows)" in daily.stdout


def test_a_spike_in_one_row_finer_than_an_hour_alerts_on_that_row(
    cli: CliInvoker, tmp_path: Path
) -> None:
    """A 5-minute latency gauge: one row far beyond anything of the weeks before is flagged
    on its own, although the hour's mean hides most of it."""
    rng = np.random.default_rng(12)
    rows_per_day = 24 * 12
    values = 100 * np.exp(rng.standard_t(4, size=rows_per_day * 21) * 0.05)
    spike = 17 * rows_per_day + 10 * 12 + 7  # day 17, 10:35
    values[spike] = 400.0
    lines = ["timestamp,latency"] + [
        f"{(START + timedelta(minutes=5 * i)).isoformat()},{v:.1f}" for i, v in enumerate(values)
    ]
    series = tmp_path / "latency.csv"
    series.write_text("\n".join(lines) + "\n")
    scored = rows(cli.ok("insights", "detect", str(series), "--agg", "mean").stdout)
    hour = range(spike - 7, spike + 5)  # the hour's mean is out of line too
    assert [i for i, r in enumerate(scored) if r["is_anomaly"] == "true"] == list(hour)
    # Known at 10:35, when the row came, not at the end of its hour.
    assert [r["timestamp"] for r in scored if r["alert"] == "1"] == [
        (START + timedelta(days=17, hours=10, minutes=35)).isoformat()
    ]
    # The row scores highest of all; the rest of its hour shares the hour's record maximum.
    others = [float(r["score"]) for i, r in enumerate(scored) if i != spike]
    assert float(scored[spike]["score"]) >= max(others)
    assert float(scored[spike]["score"]) > max(float(scored[i]["score"]) for i in
                                               range(len(scored)) if i not in hour)  # fmt: skip


def test_a_spike_and_the_outage_after_it_are_one_finding(cli: CliInvoker, tmp_path: Path) -> None:
    """Flagged hours up to 6 hours apart are one incident, whichever way each went: a surge
    of orders and the checkout outage it caused three hours later get one alert."""
    y, _, _ = hourly(days=40, per_hour=120.0, seed=5)
    surge, outage = 30 * 24 + 10, 30 * 24 + 13
    y[surge] *= 4
    y[outage : outage + 4] = 0
    series = tmp_path / "orders.csv"
    lines = ["timestamp,value"]
    lines += [f"{(START + timedelta(hours=i)).isoformat()},{int(v)}" for i, v in enumerate(y)]
    series.write_text("\n".join(lines) + "\n")
    scored = rows(cli.ok("insights", "detect", str(series)).stdout)
    flagged = [i for i, r in enumerate(scored) if r["is_anomaly"] == "true"]
    assert surge in flagged and outage in flagged
    assert {scored[i]["finding"] for i in flagged} == {"1"}
    assert [i for i, r in enumerate(scored) if r["alert"] == "1"] == [surge]
