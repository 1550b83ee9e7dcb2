"""Which day windows a sync run fetches, in which order, and how its coverage grows.

Pure functions of the source's recorded coverage, [covered_from, watermark), and the request:
the engine (`ingest/sync.py`) fetches what `plan_windows` returns, records what
`extend_coverage` returns after each window, and keeps what `owed_days` returns for later runs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dpo.connectors.base import Window


@dataclass(frozen=True)
class SyncRequest:
    """What one run was asked to do (all optional; `now` is explicit for testability)."""

    now: datetime
    since: date | None = None
    until: date | None = None
    deadline: float | None = None  # time.monotonic() value after which no window starts
    launched: datetime | None = None  # when the command started, before its slow imports
    skip_recent: float = 0.0  # seconds: skip sources another run synced within this long


@dataclass(frozen=True)
class Coverage:
    """The part of sync_state that window planning reads."""

    watermark: datetime | None = None
    covered_from: datetime | None = None
    history_start: date | None = None


def plan_windows(
    coverage: Coverage,
    *,
    tz: ZoneInfo,
    request: SyncRequest,
    lookback_days: int,
    initial_days: int,
    changed_days: Collection[date] = (),
    available_from: date | None = None,
) -> list[Window]:
    """The windows a run should fetch, in the order it should fetch them.

    `changed_days` (days the upstream says changed) are fetched after the recent days, oldest
    first, when they lie inside the synced range; days outside it are left to the history
    backfill, so coverage stays contiguous. An explicit `--until` range ignores them. No window
    is planned before `available_from`, the oldest day the upstream still serves.
    """
    today = request.now.astimezone(tz).date()
    last = min(request.until, today) if request.until else today
    floor = _history_floor(coverage, request.since, today - timedelta(days=initial_days - 1))
    if request.until is not None:
        first = request.since or (lookback_start(coverage, tz, lookback_days) or floor)
        days = list(_days(first, last))
    elif coverage.watermark is None or coverage.covered_from is None:
        days = list(reversed(list(_days(floor, last))))
    else:
        recent_start = lookback_start(coverage, tz, lookback_days) or floor
        recent = list(_days(recent_start, last))
        oldest = coverage.covered_from.astimezone(tz).date()
        older = [d for d in _days(floor, oldest - timedelta(days=1)) if d < recent_start]
        changed = sorted(d for d in set(changed_days) if oldest <= d < recent_start)
        days = recent + changed + list(reversed(older))
    return [Window.for_day(d, tz) for d in days if available_from is None or d >= available_from]


def within_reach(
    coverage: Coverage, available_from: date, *, tz: ZoneInfo
) -> tuple[Coverage, date | None]:
    """The coverage with its history start raised to `available_from` (the oldest day the
    upstream still serves), and the history start given up when that leaves out days not yet
    synced (else None)."""
    start = coverage.history_start
    if start is None or start >= available_from:
        return coverage, None
    covered = coverage.covered_from.astimezone(tz).date() if coverage.covered_from else None
    given_up = start if covered is None or covered > start else None
    return replace(coverage, history_start=available_from), given_up


def owed_days(
    days: Iterable[date],
    *,
    before: Coverage,
    after: Coverage,
    done: AbstractSet[date],
    tz: ZoneInfo,
    lookback_days: int,
) -> set[date]:
    """The days a run leaves to later runs as changed days, given its coverage `before` and
    `after` it and the days it fetched (`done`).

    They are `days` (the days it was asked to fetch again: changed upstream, or owed by earlier
    runs) and the days the lookback of `before` promised to fetch again that it moved the
    lookback past, less `done`; only those inside `after`'s synced range and before its
    lookback. Older days come back whole with the history backfill, newer ones with the next
    run's lookback.
    """
    start = lookback_start(after, tz, lookback_days)
    if start is None or after.covered_from is None:
        return set()
    oldest = after.covered_from.astimezone(tz).date()
    promised = lookback_start(before, tz, lookback_days)
    passed = set(_days(promised, start - timedelta(days=1))) if promised else set()
    return {d for d in set(days) | passed if oldest <= d < start} - done


def _history_floor(coverage: Coverage, since: date | None, default: date) -> date:
    candidates = [d for d in (since, coverage.history_start) if d is not None]
    return min(candidates) if candidates else default


def lookback_start(coverage: Coverage, tz: ZoneInfo, lookback_days: int) -> date | None:
    if coverage.watermark is None:
        return None
    return coverage.watermark.astimezone(tz).date() - timedelta(days=lookback_days)


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def extend_coverage(coverage: Coverage, window: Window, now: datetime) -> Coverage:
    """The coverage after `window` was synced: grown only where it stays contiguous."""
    end = min(window.end, now)
    wm, cf = coverage.watermark, coverage.covered_from
    if wm is None or cf is None:
        return replace(coverage, watermark=end, covered_from=window.start)
    if window.start <= wm < end:
        wm = end
    if window.start < cf <= window.end:
        cf = window.start
    return replace(coverage, watermark=wm, covered_from=cf)
