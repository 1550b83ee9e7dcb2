"""The sync engine: plan day windows, fetch each completely, replace it in one transaction.

A source's `sync_state` records the contiguous UTC range it has synced, [covered_from,
watermark). Every run refetches the last `lookback` days before the watermark (upstreams
restate recent data) oldest first, then extends history backwards, newest first, down to the
history floor (`--since`, remembered, or `sync.initial_days` ago). Each window's facts are
deleted and re-inserted together with the new state in one transaction, so a crash between
windows loses nothing, doubles nothing, and the next run resumes where coverage ends.

A connector may add days to a run (`Connector.prepare`): days the upstream reports as changed
since the last run, or a restatement window once a day. They are fetched after the recent days.
The connector's own state (its "changed since" mark) lives in `sync_state.pending["connector"]`
and is saved only together with `pending["owed_days"]`: every added day the run did not fetch —
an explicit `--until` range fetches its range only, a time budget or an error may stop a run
early — and every day the previous watermark's lookback promised to fetch again that the run
moved the lookback past without fetching (a range that advanced the watermark). Later runs
fetch owed days as added days, so no change the connector reported is lost and a long
restatement progresses even when no single run can finish it. Owed days are kept while they lie
inside the synced range and before the lookback; older days are fetched anew by the history
backfill, newer ones by the lookback. Both are saved with every window, and when the run ends
or fails; a run whose budget ran out while preparing keeps the previous ones, so the upstream
is asked again from the old mark. A connector whose upstream keeps data for a limited time says
from which day (`Connector.available_from`), and one that can tell cheaply where its data
starts says that day when a run is told to backfill (`Connector.first_day`): no window is
planned before either, and a remembered or requested history start older is raised to it, with
one warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, insert
from sqlmodel import Session

from dpo.connectors.base import Budget, Connector, FactRow, RunPlan, SourceSpec, Window
from dpo.errors import BudgetSpentError, DpoError, UpstreamDataError, describe
from dpo.ingest import values
from dpo.ingest.plan import (
    Coverage,
    SyncRequest,
    extend_coverage,
    owed_days,
    plan_windows,
    within_reach,
)
from dpo.storage import tables
from dpo.storage.facts import replace_facts
from dpo.storage.models import SyncState, utcnow
from dpo.storage.tables import FACT_COLUMNS

log = logging.getLogger(__name__)

STREAM = "facts"
CONNECTOR_STATE = "connector"  # the key of a connector's own state in sync_state.pending
OWED_DAYS = "owed_days"  # added days a run did not fetch, for later runs
ZONE = "zone"  # the time zone the source's windows were cut in
_FACT_CHANGE = tables.fact_change
_STATE = tables.sync_state
_QUALITY = tables.window_quality

OnWindow = Callable[[int, int], None]  # (windows done, windows planned)


@dataclass
class SyncOutcome:
    """What a run of one source did."""

    windows_planned: int = 0
    windows_done: int = 0
    rows_written: int = 0
    is_cut_short: bool = False  # the budget ran out before windows could be planned
    days_done: set[date] = field(default_factory=set)
    stuck: dict[date, str] = field(default_factory=dict)  # days whose data could not be stored

    @property
    def is_complete(self) -> bool:
        """True when every planned window was synced (False when the budget ran out)."""
        return not self.is_cut_short and self.windows_done == self.windows_planned


def sync_source(
    engine: Engine,
    connector: Connector,
    request: SyncRequest,
    *,
    lookback_days: int,
    initial_days: int,
    on_window: OnWindow | None = None,
    outcome: SyncOutcome | None = None,
) -> SyncOutcome:
    """Sync one source: every planned window, until done or the deadline passes.

    `outcome` (a new one if not given) counts the windows as they are committed, so a caller
    can say what a run that failed half-way did write."""
    spec = connector.spec
    state = _load_state(engine, spec.id)
    coverage = Coverage(state.watermark, state.covered_from, state.history_start)
    if request.since and (coverage.history_start is None or request.since < coverage.history_start):
        coverage = replace(coverage, history_start=request.since)
    outcome = SyncOutcome() if outcome is None else outcome
    budget = Budget(request.deadline)
    try:
        run_plan = _prepare(connector, state, request, coverage=coverage, budget=budget)
    except BudgetSpentError:
        log.info("%s: time budget spent while preparing the run", spec.label)
        outcome.is_cut_short = True
        _record_success(engine, spec.id, now=request.now, complete=False)
        return outcome
    except BaseException as exc:
        _record_failure(engine, spec.id, exc, now=request.now)
        raise
    ledger = _Ledger(state.pending or {}, run_plan, coverage, connector.timezone(), lookback_days)
    try:
        _sync_planned(
            engine,
            connector,
            request,
            state=state,
            ledger=ledger,
            budget=budget,
            outcome=outcome,
            initial_days=initial_days,
            on_window=on_window,
        )
    except BaseException as exc:
        pending = ledger.pending(ledger.coverage, outcome.days_done)
        _record_failure(engine, spec.id, exc, now=request.now, pending=pending)
        raise
    pending = ledger.pending(ledger.coverage, outcome.days_done)
    if outcome.stuck:
        stuck = UpstreamDataError(_stuck_text(outcome.stuck), hint="the next run tries again")
        _record_failure(engine, spec.id, stuck, now=request.now, pending=pending)
        raise stuck
    _record_success(engine, spec.id, now=request.now, complete=outcome.is_complete, pending=pending)
    return outcome


def _stuck_text(stuck: Mapping[date, str]) -> str:
    """`2026-03-09 could not be stored: …` (and how many more days)."""
    first = min(stuck)
    more = f" (and {len(stuck) - 1} more days)" if len(stuck) > 1 else ""
    return f"{first} could not be stored{more}: {stuck[first]}"


@dataclass
class _Ledger:
    """What a run leaves in `sync_state.pending`: the connector's new state, only ever together
    with the days the run owes to later runs."""

    saved: Mapping[str, Any]  # `pending` as the run found it
    run_plan: RunPlan  # its changed days include the days owed by earlier runs
    before: Coverage
    tz: ZoneInfo
    lookback_days: int
    coverage: Coverage = field(init=False)  # as far as the run got

    def __post_init__(self) -> None:
        self.saved = dict(self.saved)
        self.coverage = self.before

    def pending(self, coverage: Coverage, done: AbstractSet[date]) -> dict[str, Any]:
        """`pending` once the run reached `coverage`, having fetched the days `done`."""
        pending = dict(self.saved)
        pending[ZONE] = self.tz.key
        if self.run_plan.state is not None:
            pending[CONNECTOR_STATE] = dict(self.run_plan.state)
        owed = owed_days(
            self.run_plan.changed_days,
            before=self.before,
            after=coverage,
            done=done,
            tz=self.tz,
            lookback_days=self.lookback_days,
        )
        pending[OWED_DAYS] = sorted(d.isoformat() for d in owed)
        return pending


def _sync_planned(
    engine: Engine,
    connector: Connector,
    request: SyncRequest,
    *,
    state: SyncState,
    ledger: _Ledger,
    budget: Budget,
    outcome: SyncOutcome,
    initial_days: int,
    on_window: OnWindow | None,
) -> None:
    """Plan the run's windows (its changed days among them) and sync them."""
    coverage = ledger.before
    try:
        available = _oldest_day(connector, request, coverage, budget=budget)
    except BudgetSpentError:
        log.info("%s: time budget spent before the run was planned", connector.spec.label)
        outcome.is_cut_short = True
        return
    if available is not None:
        coverage = _within_reach(connector, coverage, available)
    ledger.coverage = coverage
    windows = plan_windows(
        coverage,
        tz=ledger.tz,
        request=request,
        lookback_days=ledger.lookback_days,
        initial_days=initial_days,
        changed_days=ledger.run_plan.changed_days,
        available_from=available,
    )
    outcome.windows_planned = len(windows)
    _sync_windows(
        engine,
        connector,
        windows,
        request,
        state=state,
        ledger=ledger,
        budget=budget,
        outcome=outcome,
        on_window=on_window,
    )


def _sync_windows(
    engine: Engine,
    connector: Connector,
    windows: list[Window],
    request: SyncRequest,
    *,
    state: SyncState,
    ledger: _Ledger,
    budget: Budget,
    outcome: SyncOutcome,
    on_window: OnWindow | None,
) -> None:
    """Fetch and replace each window in turn, each with the state it leaves (the connector's
    and the days still owed); stop quietly when the budget runs out."""
    spec = connector.spec
    for window in windows:
        grown = extend_coverage(ledger.coverage, window, request.now)
        pending = ledger.pending(grown, outcome.days_done | {window.day})
        try:
            budget.check()
            written = replace_window(
                engine,
                connector,
                window,
                state=_with(state, grown, pending=pending),
                budget=budget,
                now=request.now,
            )
        except BudgetSpentError:
            log.info("%s: time budget spent before %s was done", spec.label, window.day)
            return
        except UpstreamDataError as exc:
            # What the upstream sent for this one day cannot be stored: its previous facts stay
            # and later runs fetch it again (the watermark stays before it, or it stays owed).
            # The other recent and changed days go on; a backfill stops here, as its coverage
            # only grows without gaps.
            if _is_backfill(window, ledger.coverage):
                raise
            log.warning("%s: %s left for the next run: %s", spec.label, window.day, exc.message)
            outcome.stuck[window.day] = describe(exc)
            continue
        ledger.coverage = grown
        outcome.days_done.add(window.day)
        outcome.windows_done += 1
        outcome.rows_written += written
        if on_window:
            on_window(outcome.windows_done, len(windows))


def _is_backfill(window: Window, coverage: Coverage) -> bool:
    """True for a window older than every day synced so far (the history backfill)."""
    return coverage.covered_from is not None and window.end <= coverage.covered_from


def _oldest_day(
    connector: Connector, request: SyncRequest, coverage: Coverage, *, budget: Budget
) -> date | None:
    """The oldest day worth a window: the oldest the upstream still serves and, when the run
    is told to backfill (`--since`) before the days synced, the upstream's first day with any
    data (one cheap request, so a store opened in 2020 is not asked for every day since 1990)."""
    found = [connector.available_from(request.now)]
    covered = coverage.covered_from
    if request.since is not None and (
        covered is None or request.since < covered.astimezone(connector.timezone()).date()
    ):
        found.append(connector.first_day(request.now, budget=budget))
    known = [day for day in found if day is not None]
    return max(known) if known else None


def _within_reach(connector: Connector, coverage: Coverage, available: date) -> Coverage:
    """The coverage with its history start no older than `available`; says once when that
    gives up days not synced yet."""
    spec = connector.spec
    coverage, given_up = within_reach(coverage, available, tz=connector.timezone())
    if given_up is not None:
        log.warning(
            "%s: %s has no data before %s; history starts there instead of %s",
            spec.label,
            spec.kind,
            available,
            given_up,
        )
    return coverage


def _prepare(
    connector: Connector,
    state: SyncState,
    request: SyncRequest,
    *,
    coverage: Coverage,
    budget: Budget,
) -> RunPlan:
    """The connector's plan, with the days owed by earlier runs among its changed days (an
    explicit --until range fetches none of them, and owes them on), and every synced day when
    the upstream's time zone changed since the last run."""
    pending = state.pending or {}
    saved: Mapping[str, Any] = pending.get(CONNECTOR_STATE) or {}
    budget.check()
    run_plan = connector.prepare(saved, now=request.now, budget=budget)
    owed = frozenset(date.fromisoformat(d) for d in pending.get(OWED_DAYS, []))
    owed |= _realigned_days(connector, pending.get(ZONE), coverage)
    return replace(run_plan, changed_days=run_plan.changed_days | owed)


def _realigned_days(connector: Connector, was: str | None, coverage: Coverage) -> frozenset[date]:
    """Every synced day, in the upstream's zone, when that zone is not the one the stored
    windows were cut in (else none).

    A window is a local day: after a zone change the stored facts' days no longer line up with
    the new windows, and a window fetched in the new zone would leave beside it the old day's
    facts it only half overlaps (its day figures counted twice). Fetching every synced day
    again in the new zone replaces them all; the days are owed until done, like changed days.
    """
    tz = connector.timezone()
    if was is None or was == tz.key or coverage.covered_from is None:
        return frozenset()
    if coverage.watermark is None:
        return frozenset()
    first = coverage.covered_from.astimezone(tz).date()
    last = coverage.watermark.astimezone(tz).date()
    log.warning(
        "%s: the %s time zone is now %s (it was %s); the %d synced days are fetched again",
        connector.spec.label,
        connector.spec.kind,
        tz.key,
        was,
        (last - first).days + 1,
    )
    return frozenset(first + timedelta(days=i) for i in range((last - first).days + 1))


def replace_window(
    engine: Engine,
    connector: Connector,
    window: Window,
    *,
    state: SyncState,
    budget: Budget,
    now: datetime,
) -> int:
    """Fetch `window` and replace the source's facts in it, with `state`, atomically."""
    spec = connector.spec

    def bookkeeping(conn: Connection) -> None:
        conn.execute(
            insert(_FACT_CHANGE).values(
                org_id=spec.org_id,
                source_id=spec.id,
                range_start=window.start,
                range_end=window.end,
                created_at=utcnow(),
            )
        )
        key = (_STATE.c.source_id == state.source_id, _STATE.c.stream == state.stream)
        conn.execute(delete(_STATE).where(*key))
        conn.execute(insert(_STATE).values(**state.model_dump()))
        quality = _QUALITY.c
        conn.execute(
            delete(_QUALITY).where(quality.source_id == spec.id, quality.day == window.day)
        )
        flags = sorted(connector.data_quality(window))
        if flags:
            conn.execute(
                insert(_QUALITY),
                [{"source_id": spec.id, "day": window.day, "flag": f.value} for f in flags],
            )

    fetched = connector.fetch_window(window, now=now, budget=budget)
    rows = fact_tuples(
        values.checked(fetched, upstream=spec.label, day=window.day),
        spec,
        window,
        declared=connector.metrics,
    )
    return replace_facts(
        engine,
        rows,
        source_id=spec.id,
        start=window.start,
        end=window.end,
        bookkeeping=bookkeeping,
    )


def fact_tuples(
    rows: Iterable[FactRow],
    spec: SourceSpec,
    window: Window,
    *,
    declared: AbstractSet[str] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Connector rows as `fact` tuples (FACT_COLUMNS order), refusing rows outside `window`
    and (given the connector's `declared` metrics) metrics it does not declare."""
    for row in rows:
        if not window.contains(row.period_start):
            raise DpoError(
                f"{spec.label}: the {spec.kind} connector returned a fact for "
                f"{row.period_start.isoformat()}, outside the window {window.day}"
            )
        if declared is not None and not row.metrics.keys() <= declared:
            extra = sorted(k for k, v in row.metrics.items() if v is not None and k not in declared)
            if extra:
                raise DpoError(
                    f"{spec.label}: the {spec.kind} connector reported {', '.join(extra)}, "
                    "which it does not declare; nothing was written for this window"
                )
        head = {
            "source_id": spec.id,
            "org_id": spec.org_id,
            "grain": row.grain.value,
            "period_start": row.period_start,
            "channel": row.channel,
            "campaign": row.campaign,
            "campaign_name": row.campaign_name,
            "currency": row.currency,
        }
        yield tuple(head[c] if c in head else row.metrics.get(c) for c in FACT_COLUMNS)


def _load_state(engine: Engine, source_id: int) -> SyncState:
    with Session(engine, expire_on_commit=False) as session:
        state = session.get(SyncState, (source_id, STREAM))
        if state is None:
            state = SyncState(source_id=source_id, stream=STREAM)
        session.expunge_all()
        return state


def _with(state: SyncState, coverage: Coverage, *, pending: dict[str, Any]) -> SyncState:
    state.watermark = coverage.watermark
    state.covered_from = coverage.covered_from
    state.history_start = coverage.history_start
    state.pending = pending
    state.updated_at = utcnow()
    return state


def _record_success(
    engine: Engine,
    source_id: int,
    *,
    now: datetime,
    complete: bool,
    pending: dict[str, Any] | None = None,
) -> None:
    with Session(engine) as session, session.begin():
        state = session.get(SyncState, (source_id, STREAM)) or SyncState(
            source_id=source_id, stream=STREAM
        )
        if complete:
            state.last_success_at = now
            state.consecutive_failures = 0
        if pending is not None:
            state.pending = pending  # a new dict, so the JSON column is seen as changed
        state.updated_at = utcnow()
        session.add(state)


def _record_failure(
    engine: Engine,
    source_id: int,
    exc: BaseException,
    *,
    now: datetime,
    pending: dict[str, Any] | None = None,
) -> None:
    try:
        with Session(engine) as session, session.begin():
            state = session.get(SyncState, (source_id, STREAM)) or SyncState(
                source_id=source_id, stream=STREAM
            )
            state.last_error = describe(exc)
            state.last_error_at = now
            state.consecutive_failures += 1
            if pending is not None:
                state.pending = pending
            state.updated_at = utcnow()
            session.add(state)
    except Exception:  # the original failure matters more than its bookkeeping
        log.exception("could not record the failure of source %s", source_id)
