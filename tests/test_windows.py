"""Window planning: which days a run fetches, in which order, and how coverage grows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from dpo.connectors.base import Window
from dpo.ingest.plan import Coverage, SyncRequest, extend_coverage, plan_windows

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def days(windows: list[Window]) -> list[str]:
    return [w.day.isoformat() for w in windows]


def plan(
    coverage: Coverage, *, changed_days: set[date] | None = None, **request: object
) -> list[Window]:
    return plan_windows(
        coverage,
        tz=BERLIN,
        request=SyncRequest(now=NOW, **request),  # type: ignore[arg-type]
        lookback_days=2,
        initial_days=5,
        changed_days=changed_days or (),
    )


def test_first_run_fetches_initial_history_newest_first() -> None:
    assert days(plan(Coverage())) == [
        "2026-03-10",
        "2026-03-09",
        "2026-03-08",
        "2026-03-07",
        "2026-03-06",
    ]


def test_next_run_refetches_the_lookback_oldest_first() -> None:
    covered = Coverage(
        watermark=NOW - timedelta(hours=1),
        covered_from=Window.for_day(date(2026, 3, 6), BERLIN).start,
    )
    assert days(plan(covered)) == ["2026-03-08", "2026-03-09", "2026-03-10"]


def test_since_extends_history_after_the_recent_days() -> None:
    covered = Coverage(watermark=NOW, covered_from=Window.for_day(date(2026, 3, 6), BERLIN).start)
    assert days(plan(covered, since=date(2026, 3, 3))) == [
        "2026-03-08",
        "2026-03-09",
        "2026-03-10",
        "2026-03-05",
        "2026-03-04",
        "2026-03-03",
    ]


def test_a_stale_watermark_catches_up_in_order() -> None:
    covered = Coverage(
        watermark=datetime(2026, 3, 5, 23, 0, tzinfo=UTC),
        covered_from=Window.for_day(date(2026, 3, 1), BERLIN).start,
        history_start=date(2026, 3, 1),
    )
    assert days(plan(covered)) == [
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
        "2026-03-07",
        "2026-03-08",
        "2026-03-09",
        "2026-03-10",
    ]


def test_since_and_until_refetch_exactly_that_range() -> None:
    covered = Coverage(watermark=NOW, covered_from=Window.for_day(date(2026, 1, 1), BERLIN).start)
    assert days(plan(covered, since=date(2026, 2, 1), until=date(2026, 2, 3))) == [
        "2026-02-01",
        "2026-02-02",
        "2026-02-03",
    ]


def test_until_never_goes_past_today() -> None:
    assert days(plan(Coverage(), since=date(2026, 3, 9), until=date(2026, 4, 1))) == [
        "2026-03-09",
        "2026-03-10",
    ]


def test_dst_days_have_23_and_25_hours() -> None:
    spring = Window.for_day(date(2026, 3, 29), BERLIN)
    autumn = Window.for_day(date(2026, 10, 25), BERLIN)
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)
    assert spring.start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert autumn.start == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)


@given(
    first=st.integers(min_value=0, max_value=60),
    order=st.permutations(list(range(10))),
)
def test_coverage_only_grows_where_it_stays_contiguous(first: int, order: list[int]) -> None:
    """Whatever order windows complete in, coverage is one contiguous range of synced days."""
    base = date(2026, 1, 1) + timedelta(days=first)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    coverage = Coverage()
    synced: set[date] = set()
    for offset in order:
        window = Window.for_day(base + timedelta(days=offset), BERLIN)
        coverage = extend_coverage(coverage, window, now)
        synced.add(window.day)
        assert coverage.covered_from is not None and coverage.watermark is not None
        lo = coverage.covered_from.astimezone(BERLIN).date()
        hi = (coverage.watermark - timedelta(seconds=1)).astimezone(BERLIN).date()
        covered = {lo + timedelta(days=i) for i in range((hi - lo).days + 1)}
        assert covered <= synced


def test_changed_days_inside_coverage_come_after_the_recent_days_oldest_first() -> None:
    covered = Coverage(watermark=NOW, covered_from=Window.for_day(date(2026, 3, 1), BERLIN).start)
    changed = {date(2026, 3, 5), date(2026, 3, 2), date(2026, 3, 9), date(2026, 2, 20)}
    assert days(plan(covered, changed_days=changed)) == [
        "2026-03-08",
        "2026-03-09",
        "2026-03-10",
        "2026-03-02",
        "2026-03-05",
    ]  # 03-09 is recent anyway; 02-20 lies outside the synced range


def test_changed_days_are_ignored_by_an_explicit_range_and_a_first_run() -> None:
    covered = Coverage(watermark=NOW, covered_from=Window.for_day(date(2026, 3, 1), BERLIN).start)
    changed = {date(2026, 3, 2)}
    explicit = plan(covered, since=date(2026, 3, 9), until=date(2026, 3, 10), changed_days=changed)
    assert days(explicit) == ["2026-03-09", "2026-03-10"]
    assert "2026-03-02" not in days(plan(Coverage(), changed_days=changed))
