"""bench/real_eval.py: real labelled series scored as `dpo insights detect` scores them."""

from __future__ import annotations

import importlib
import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_insights_detect import START, write_hourly

real_eval = importlib.import_module("bench.real_eval")

# The checkout failure of `write_hourly` (day 60, 09:00-21:00), and a window on the first day.
FAILURE = (START + timedelta(days=60, hours=9), START + timedelta(days=60, hours=21))
FIRST_DAY = (START + timedelta(hours=6), START + timedelta(hours=12))


def nab_dir(tmp_path: Path) -> Path:
    """A NAB-style directory: one category, one labelled file, windows.json."""
    (tmp_path / "shop").mkdir()
    write_hourly(tmp_path / "shop" / "orders.csv", header="timestamp,value,label")
    windows = {"shop/orders.csv": [[a.isoformat(), b.isoformat()] for a, b in (FIRST_DAY, FAILURE)]}
    (tmp_path / "windows.json").write_text(json.dumps(windows))
    return tmp_path


def test_the_sensitivity_reaches_the_detector(tmp_path: Path) -> None:
    path = nab_dir(tmp_path) / "shop" / "orders.csv"
    assert real_eval.evaluate_file(path, [FAILURE]).found == 1
    assert real_eval.evaluate_file(path, [FAILURE], sensitivity=1e-3).found == 0


def test_a_missed_window_says_why(tmp_path: Path) -> None:
    path = nab_dir(tmp_path) / "shop" / "orders.csv"
    result = real_eval.evaluate_file(path, [FIRST_DAY, FAILURE], sensitivity=1e-3)
    assert result.found == 0
    early, late = result.misses
    assert "before the series was first judged" in early
    assert "highest score" in late and "judged only" not in late


def test_one_report_per_sensitivity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = nab_dir(tmp_path)
    monkeypatch.setattr("sys.argv", ["real_eval.py", str(directory), "--sens", "1", "2", "-v"])
    real_eval.main()
    out = capsys.readouterr().out
    assert out.count("real labelled series") == 2
    assert "at its defaults," in out and "at its defaults but sensitivity 2," in out
    assert f"missed {FIRST_DAY[0]:%Y-%m-%d %H:%M}" in out
