"""Reading a series from any CSV file, for `dpo insights detect`.

Reading is forgiving where it can be and precise where it cannot: the delimiter is sniffed,
the time and value columns are found by name or content, the grid (hourly or daily) is
chosen from the typical step (finer rows are aggregated, see `resample`), times with UTC
offsets are placed on a real-time grid while their seasonality follows the wall clock they
were written in, empty values are missing points, and anything unreadable is one clear
error naming the row and the column.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dpo.errors import InvalidInputError
from dpo.insights import resample, timeline
from dpo.vocab import Grain

if TYPE_CHECKING:
    import pandas as pd

TIME_NAMES = ("timestamp", "time", "datetime", "date", "ds", "hour", "period", "date_hour", "ts")
VALUE_NAMES = ("value", "values", "y", "count", "metric", "amount", "total")
# Columns that describe a series rather than measure it: labels, our own output.
NOT_VALUES = re.compile(
    r"^(label|labels|is_?anomaly|anomaly|is_?incident|incident|outlier|flag|target|truth|"
    r"ground_?truth|y_?true|score|expected|id|index|unnamed.*|)$",
    re.IGNORECASE,
)
# Decoration people's exports put around numbers: thousands separators, currency, percent.
DECORATION = re.compile(r"[,\s$€£¥%\u00a0]")
EPOCH = re.compile(r"^\d{9,13}(\.\d+)?$")
RATIO_NAMES = re.compile(
    r"(?:^|[^a-z0-9])(cpc|cpm|cpa|ctr|roas|mer|aov|rate|ratio|price)(?:$|[^a-z0-9])", re.I
)
NA_TEXT = {"", "na", "n/a", "nan", "null", "none", "-"}
MAX_POSITIONS = 5 * 366 * 24


@dataclass(frozen=True)
class Scale:
    """How to model values: counts/amounts as they are, or ratios on a log scale."""

    is_log: bool
    reason: str


@dataclass
class CsvSeries:
    """A CSV series as read: the rows' own text, their values and their grid positions."""

    time_column: str
    value_column: str
    grain: Grain
    scale: Scale
    times: list[str]
    values: np.ndarray
    positions: np.ndarray
    grid: timeline.Timeline
    resampling: resample.Resampling
    grid_values: np.ndarray  # one value per grid position, NaN where there is no data
    real: np.ndarray  # each row's real time (ns), to order rows within a position
    has_offsets: bool = False
    notes: list[str] = field(default_factory=list)


def read_series(
    path: Path,
    *,
    time_column: str | None,
    value_column: str | None,
    scale: str = "auto",
    every: str = "auto",
    agg: str | None = None,
    missing: str = "gap",
) -> CsvSeries:
    """Read and check a CSV series (InvalidInputError, one line, for anything wrong).

    `agg` defaults to a sum for counts and amounts, a mean for ratios (see `resample`).
    """
    frame = _read_frame(path)
    notes: list[str] = []
    tcol = _time_column(frame, time_column)
    vcol = _value_column(frame, tcol, value_column, notes)
    wall, real = _parse_times(frame[tcol], tcol)
    values = _parse_values(frame[vcol], vcol)
    how_scale = _scale(vcol, scale, file_name=path.stem)
    how = resample.choose(
        real, every=every, agg=agg or ("mean" if how_scale.is_log else "sum"), missing=missing
    )
    step = how.step
    real_floor = real - real % step
    wall_floor = wall - wall % step
    start = int(real_floor.min())
    positions = ((real_floor - start) // step).astype(np.int64)
    size = int(positions.max()) + 1
    if size > MAX_POSITIONS:
        raise InvalidInputError(
            f"{path.name}: {len(values):,} rows spread over {size:,} {how.grain.value}s; "
            "dpo scores series of up to five years"
        )
    grid_wall = _grid_wall_clock(positions, wall_floor - real_floor, size, start, step)
    how = resample.with_rows_per_bucket(how, positions, real)
    return CsvSeries(
        time_column=tcol,
        value_column=vcol,
        grain=how.grain,
        scale=how_scale,
        times=[str(t) for t in frame[tcol].tolist()],
        values=values,
        positions=positions,
        grid=timeline.from_wall_clock(how.grain, start, grid_wall),
        resampling=how,
        grid_values=resample.grid_values(how, positions, real, values, size),
        real=real,
        has_offsets=bool(np.any(wall != real)),
        notes=notes,
    )


def _read_frame(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from None
    if not text.strip():
        raise InvalidInputError(f"{path.name} is empty")
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise InvalidInputError(f"{path.name} is not a readable CSV file: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise InvalidInputError(f"{path.name} has a header but no rows")
    if len(frame.columns) < 2:
        raise InvalidInputError(f"{path.name} needs a time column and a value column")
    return frame


def _time_column(frame: pd.DataFrame, given: str | None) -> str:
    if given is not None:
        return _named(frame, given, "--time-column")
    lowered = {c.lower(): c for c in frame.columns}
    for name in TIME_NAMES:
        if name in lowered:
            return str(lowered[name])
    for column in frame.columns:
        if "time" in column.lower() or "date" in column.lower():
            return str(column)
    for column in frame.columns:
        if _share_parsed_as_times(frame[column]) >= 0.9:
            return str(column)
    raise InvalidInputError(
        f"no time column found among {', '.join(frame.columns)}: name it with --time-column"
    )


def _value_column(
    frame: pd.DataFrame, time_column: str, given: str | None, notes: list[str]
) -> str:
    if given is not None:
        column = _named(frame, given, "--value-column")
        if column == time_column:
            raise InvalidInputError("--value-column names the time column")
        return column
    named = [str(c) for c in frame.columns if c != time_column and c.lower() in VALUE_NAMES]
    if named:  # a column called "value" is the value, numbers or not (bad ones are errors)
        return named[0]
    candidates = [
        str(c)
        for c in frame.columns
        if c != time_column and not NOT_VALUES.match(str(c)) and _is_numeric(frame[c])
    ]
    if not candidates:
        raise InvalidInputError(
            f"no numeric column to score besides {time_column!r}: name it with --value-column"
        )
    chosen = candidates[0]
    others = [c for c in candidates if c != chosen]
    if others:
        notes.append(
            f"scoring column {chosen!r}; also numeric: {', '.join(others)} "
            "(choose with --value-column)"
        )
    return chosen


def _named(frame: pd.DataFrame, name: str, option: str) -> str:
    for column in frame.columns:
        if column == name or column.lower() == name.lower():
            return str(column)
    raise InvalidInputError(
        f"{option} {name!r} is not a column; columns: {', '.join(frame.columns)}"
    )


def _is_numeric(column: pd.Series[Any]) -> bool:
    text = column.astype(str).str.strip()
    present = text[~text.str.lower().isin(NA_TEXT)]
    if len(present) == 0:
        return False
    return bool(_numbers(present).notna().mean() >= 0.9)


def _numbers(text: pd.Series[Any]) -> pd.Series[Any]:
    """Numbers, read leniently: "1,234", "$1,234.50" and "12.5%" are 1234, 1234.5, 12.5."""
    import pandas as pd

    parsed = pd.to_numeric(text, errors="coerce")
    retry = parsed.isna() & text.str.contains(DECORATION, regex=True)
    if retry.any():
        parsed[retry] = pd.to_numeric(
            text[retry].str.replace(DECORATION, "", regex=True), errors="coerce"
        )
    return parsed


def _share_parsed_as_times(column: pd.Series[Any]) -> float:
    import pandas as pd

    sample = column.astype(str).head(50)
    if pd.to_numeric(sample, errors="coerce").notna().all():
        return 0.0  # plain numbers are values, not times
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed", utc=True)
    return float(parsed.notna().mean())


def _parse_values(column: pd.Series[Any], name: str) -> np.ndarray:
    text = column.astype(str).str.strip()
    missing = text.str.lower().isin(NA_TEXT)
    parsed = _numbers(text.where(~missing, ""))
    parsed[missing] = np.nan
    bad = parsed.isna() & ~missing
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InvalidInputError(
            f"row {row + 2}: {text.iloc[row]!r} in column {name!r} is not a number"
        )
    values = parsed.to_numpy(dtype=np.float64)
    if np.isinf(values).any():
        row = int(np.flatnonzero(np.isinf(values))[0])
        raise InvalidInputError(f"row {row + 2}: {text.iloc[row]!r} in column {name!r} is infinite")
    if np.isnan(values).all():
        raise InvalidInputError(f"column {name!r} has no values")
    return np.asarray(values, dtype=np.float64)


def _parse_times(column: pd.Series[Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(wall-clock ns, real-time ns) of each row; naive times are both."""
    text = [str(t).strip() for t in column.tolist()]
    parsed: list[datetime] = []
    for row, value in enumerate(text):
        moment = _parse_time(value)
        if moment is None:
            raise InvalidInputError(
                f"row {row + 2}: cannot read {value!r} in column {name!r} as a date or time"
            )
        parsed.append(moment)
    wall = np.array([_naive_ns(m.replace(tzinfo=None)) for m in parsed], dtype=np.int64)
    real = np.array(
        [_naive_ns(m.replace(tzinfo=None)) - _offset_ns(m) for m in parsed], dtype=np.int64
    )
    return wall, real


def _parse_time(text: str) -> datetime | None:
    """ISO 8601 (with or without offset, `Z` allowed), Unix time in seconds or milliseconds
    (UTC), else whatever pandas can read."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if EPOCH.match(text):
        seconds = float(text) / (1000 if len(text.split(".", maxsplit=1)[0]) > 11 else 1)
        return datetime.fromtimestamp(seconds, UTC)
    import pandas as pd

    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    if pd.isna(stamp):
        return None
    moment: datetime = stamp.to_pydatetime()
    return moment


def _naive_ns(moment: datetime) -> int:
    epoch = datetime(1970, 1, 1)
    delta = moment - epoch
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _offset_ns(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds()) * 10**9 if offset else 0


def _grid_wall_clock(
    positions: np.ndarray, offsets: np.ndarray, size: int, start: int, step: int
) -> np.ndarray:
    """Wall-clock ns of every grid position: a gap takes the UTC offset of the row before."""
    per_position = np.full(size, np.iinfo(np.int64).min, dtype=np.int64)
    per_position[positions] = offsets
    known = per_position != np.iinfo(np.int64).min
    index = np.where(known, np.arange(size), 0)
    np.maximum.accumulate(index, out=index)
    filled = per_position[index]
    real = start + np.arange(size, dtype=np.int64) * step
    return real + filled


def _scale(column: str, wanted: str, *, file_name: str) -> Scale:
    """Ratios on a log scale: when asked, or when the column (or, for a column named
    plainly "value", the file) is named like one: cpc, roas, conversion_rate…"""
    if wanted == "ratio":
        return Scale(True, "--scale ratio")
    if wanted == "amount":
        return Scale(False, "--scale amount")
    if RATIO_NAMES.search(column):
        return Scale(True, f"column {column!r} names a ratio: judged on a log scale")
    if column.lower() in VALUE_NAMES and RATIO_NAMES.search(file_name):
        return Scale(True, f"file {file_name!r} names a ratio: judged on a log scale")
    return Scale(False, "counts and amounts are judged as they are")
