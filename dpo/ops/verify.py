"""`dpo sources verify`: compare what dpo stored with what each upstream itself reports per day.

For each source, the last N complete local days in the upstream's own time zone that its syncs
have covered are compared metric by metric:

- **stored**: the source's facts of each day, as the daily rollups take them (a segment's day
  fact where the source reported one, else the sum of its hours), summed over its channels and
  campaigns; money in the source's own currency, never converted;
- **upstream**: `Connector.daily_totals`, the upstream's cheapest daily report.

A difference beyond the metric's tolerance is drift. Figures are rounded to their precision
first (money to the cent, counts to units); the tolerance is an amount or a share of the
upstream's figure, from the source's `verify_tolerances` setting, else the kind's section,
else `DEFAULT_TOLERANCES` (GA's distinct sessions and users are estimates: 2 %), else exact.
With `repair`, the drifting days are fetched again through the sync engine's `replace_window`
under the source's sync lock (its `fact_change` rows bring the rollups up to date), then
compared again. Each source's outcome is kept in `source_verification`, for `dpo status` and
the API.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

from dpo import connectors, localdays
from dpo.connectors.base import Budget, Connector, DailyTotals, NotVerifiableError, Window
from dpo.errors import (
    EXIT_OK,
    EXIT_UNEXPECTED,
    ConfigError,
    DpoError,
    LockHeldError,
    TryLaterError,
    describe,
)
from dpo.ingest.sync import STREAM, replace_window
from dpo.metrics import BY_NAME as METRICS
from dpo.metrics import NAMES as METRIC_ORDER
from dpo.resources.sources import enabled_sources, spec_for
from dpo.storage import tables
from dpo.storage.locks import hold_lock
from dpo.storage.models import Organization, Source, SourceVerification, SyncState, utcnow

log = logging.getLogger(__name__)

DEFAULT_TOLERANCES: Mapping[str, str] = {"sessions": "2%", "users": "2%"}
_STEP = {"money": Decimal("0.01"), "integral": Decimal(1), "other": Decimal("0.000001")}


class VerifyStatus(StrEnum):
    """How a source's verification ended."""

    ok = "ok"  # every figure within its tolerance
    drift = "drift"  # some figure beyond it
    failed = "failed"  # the upstream (or the source's setup) failed: nothing compared
    skipped = "skipped"  # nothing to compare: never synced, or no upstream report


@dataclass(frozen=True)
class Tolerance:
    """How far a stored figure may be from the upstream's: an amount, or a share in percent."""

    amount: Decimal
    is_share: bool = False

    @classmethod
    def parse(cls, text: str) -> Tolerance:
        """`2%` or `0.05` (as `verify_tolerances` holds them)."""
        share = text.endswith("%")
        return cls(Decimal(text.removesuffix("%")), is_share=share)

    def allows(self, difference: Decimal, upstream: Decimal) -> bool:
        """True when `difference` is within the tolerance of `upstream`."""
        limit = abs(upstream) * self.amount / 100 if self.is_share else self.amount
        return abs(difference) <= limit

    def __str__(self) -> str:
        if not self.amount:
            return "exact"
        return f"{self.amount.normalize():f}" + ("%" if self.is_share else "")


@dataclass(frozen=True)
class DayMetric:
    """One compared figure: a metric on a local day, stored and upstream."""

    day: date
    metric: str
    stored: Decimal
    upstream: Decimal
    tolerance: str
    is_drift: bool

    @property
    def difference(self) -> Decimal:
        """Stored minus upstream."""
        return self.stored - self.upstream

    def as_dict(self) -> dict[str, Any]:
        """The figure as JSON shows it."""
        return {
            "day": self.day,
            "metric": self.metric,
            "stored": self.stored,
            "upstream": self.upstream,
            "difference": self.difference,
            "tolerance": self.tolerance,
            "is_drift": self.is_drift,
        }


@dataclass(frozen=True)
class VerifyRequest:
    """What a run compares: the last `days` complete days before `now`; `repair` re-syncs."""

    now: datetime
    days: int = 28
    repair: bool = False


@dataclass
class VerifyResult:
    """How one source's verification went, and every figure it compared."""

    source_id: int
    org: str
    source: str
    kind: str
    status: VerifyStatus = VerifyStatus.ok
    message: str = ""
    exit_code: int = EXIT_OK
    timezone: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    rows: list[DayMetric] = field(default_factory=list)
    repaired_days: list[date] = field(default_factory=list)

    @property
    def label(self) -> str:
        """org/source, as messages name it."""
        return f"{self.org}/{self.source}"

    @property
    def days(self) -> int:
        """How many local days were compared."""
        if self.first_day is None or self.last_day is None:
            return 0
        return (self.last_day - self.first_day).days + 1

    @property
    def drift(self) -> list[DayMetric]:
        """The figures beyond their tolerance."""
        return [r for r in self.rows if r.is_drift]

    @property
    def drift_days(self) -> list[date]:
        return sorted({r.day for r in self.drift})

    @property
    def drift_metrics(self) -> list[str]:
        found = {r.metric for r in self.drift}
        return [m for m in METRIC_ORDER if m in found]

    def as_dict(self, *, every_row: bool = False) -> dict[str, Any]:
        """The outcome as JSON shows it: the drifting figures, or all of them."""
        return {
            "source_id": self.source_id,
            "org": self.org,
            "source": self.source,
            "kind": self.kind,
            "status": self.status,
            "summary": self.message,
            "exit_code": self.exit_code,
            "timezone": self.timezone,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "days": self.days,
            "drift_days": self.drift_days,
            "drift_metrics": self.drift_metrics,
            "repaired_days": self.repaired_days,
            "rows": [r.as_dict() for r in (self.rows if every_row else self.drift)],
        }


# --- the run ------------------------------------------------------------------------------------


def verify_sources(
    engine: Engine, request: VerifyRequest, *, org_slug: str | None = None, kind: str | None = None
) -> list[VerifyResult]:
    """Verify every enabled source (of one organization, of one kind), one after the other."""
    if kind is not None and not is_verifiable(kind):
        raise NotVerifiableError(
            f"{kind} sources cannot be verified: there is no upstream report to compare with"
        )
    with Session(engine, expire_on_commit=False) as session:
        pairs = enabled_sources(
            session, kind=kind, org_slugs=None if org_slug is None else [org_slug]
        )
    if not pairs:
        scope = " ".join(x for x in (kind, "sources", org_slug and f"of {org_slug}") if x)
        raise ConfigError(f"no enabled {scope} to verify")
    return [verify_source(engine, source, org, request) for source, org in pairs]


def is_verifiable(kind: str) -> bool:
    """True when the connector of `kind` reads an upstream daily report."""
    if not connectors.is_available(kind):
        return False
    return connectors.connector_class(kind).daily_totals is not Connector.daily_totals


def verify_source(
    engine: Engine, source: Source, org: Organization, request: VerifyRequest
) -> VerifyResult:
    """Verify one source (repairing it if asked) and record the outcome; failures are
    reported in the outcome, not raised."""
    assert source.id is not None
    result = VerifyResult(source.id, org.slug, source.name, source.kind)
    if not is_verifiable(source.kind):
        result.status, result.message = VerifyStatus.skipped, "no upstream report to compare with"
        return result
    try:
        connector = connectors.connector_class(source.kind)(spec_for(source, org))
        try:
            _verify(engine, connector, request, result)
        finally:
            connector.close()
    except DpoError as exc:
        _failed(result, describe(exc), exc.exit_code)
    except Exception as exc:
        log.debug("verifying %s failed", result.label, exc_info=True)
        _failed(result, describe(exc), EXIT_UNEXPECTED)
    if result.status is not VerifyStatus.skipped:
        _record(engine, result, now=request.now)
    return result


def _failed(result: VerifyResult, message: str, exit_code: int) -> None:
    result.status, result.message, result.exit_code = VerifyStatus.failed, message, exit_code
    result.rows = []


def _verify(
    engine: Engine, connector: Connector, request: VerifyRequest, result: VerifyResult
) -> None:
    budget = Budget()
    tz = connector.learn_timezone(budget=budget)
    result.timezone = tz.key
    span = covered_days(engine, connector.spec.id, tz, now=request.now, days=request.days)
    if span is None:
        result.status, result.message = VerifyStatus.skipped, "no complete day synced yet"
        return
    result.first_day, result.last_day = span
    tolerances = tolerances_of(connector)
    result.rows = _compare(engine, connector, span, tolerances=tolerances, budget=budget)
    if result.drift and request.repair:
        _repair_and_compare(engine, connector, result, request, tolerances=tolerances)
    result.status = VerifyStatus.drift if result.drift else VerifyStatus.ok
    result.exit_code = max(result.exit_code, EXIT_UNEXPECTED if result.drift else EXIT_OK)
    result.message = _summary(result) + result.message


def covered_days(
    engine: Engine, source_id: int, tz: ZoneInfo, *, now: datetime, days: int
) -> tuple[date, date] | None:
    """The last `days` complete local days before `now` that the source's syncs covered."""
    with Session(engine) as session:
        state = session.get(SyncState, (source_id, STREAM))
    if state is None or state.watermark is None or state.covered_from is None:
        return None
    today = localdays.local_date(now, tz)
    last = min(today, localdays.local_date(state.watermark, tz)) - timedelta(days=1)
    oldest = localdays.local_date(state.covered_from, tz)
    if localdays.day_start(oldest, tz) < state.covered_from:
        oldest += timedelta(days=1)  # a partly covered first day is not compared
    first = max(last - timedelta(days=days - 1), oldest)
    return (first, last) if first <= last else None


def tolerances_of(connector: Connector) -> dict[str, Tolerance]:
    """Each metric's tolerance: the source's setting, the kind's section, the defaults."""
    spec = connector.spec
    configured: dict[str, str] = dict(DEFAULT_TOLERANCES)
    configured.update(spec.defaults.get("verify_tolerances") or {})
    configured.update(spec.settings.get("verify_tolerances") or {})
    return {metric: Tolerance.parse(text) for metric, text in configured.items()}


# --- comparing ----------------------------------------------------------------------------------


def _compare(
    engine: Engine,
    connector: Connector,
    span: tuple[date, date],
    *,
    tolerances: Mapping[str, Tolerance],
    budget: Budget,
) -> list[DayMetric]:
    first, last = span
    upstream = connector.daily_totals(first, last, budget=budget)
    names = {m for figures in upstream.values() for m in figures}
    metrics = [m for m in METRIC_ORDER if m in names]
    stored = stored_days(engine, connector.spec.id, connector.timezone(), span, metrics=metrics)
    return compare(stored, upstream, span, metrics=metrics, tolerances=tolerances)


def stored_days(
    engine: Engine, source_id: int, tz: ZoneInfo, span: tuple[date, date], *, metrics: list[str]
) -> dict[date, dict[str, Decimal]]:
    """The source's stored figure of each local day first…last, by metric: per channel and
    campaign its day facts' where it reported any, else the sum of its hours (as the daily
    rollups take them), then summed; a day fact counts on the date of its middle."""
    first, last = span
    f = tables.fact.c
    start = localdays.day_start(first, tz) - localdays.DAY_FACT_SHIFT
    end = localdays.day_start(last + timedelta(days=1), tz)
    query = sa.select(f.grain, f.period_start, f.channel, f.campaign, *(f[m] for m in metrics))
    query = query.where(f.source_id == source_id, f.period_start >= start, f.period_start < end)
    segments: dict[tuple[date, str, str], dict[str, dict[str, Decimal]]] = {}
    with engine.connect() as conn:
        for grain, moment, channel, campaign, *values in conn.execute(query):
            middle = moment + localdays.DAY_FACT_SHIFT if grain == "day" else moment
            day = localdays.local_date(middle, tz)
            if first <= day <= last:
                sums = segments.setdefault((day, channel, campaign), {}).setdefault(grain, {})
                _add_values(sums, metrics, values)
    out: dict[date, dict[str, Decimal]] = {}
    for (day, _channel, _campaign), by_grain in segments.items():
        figures = out.setdefault(day, {})
        hours, days = by_grain.get("hour", {}), by_grain.get("day", {})
        for metric in metrics:
            value = days.get(metric, hours.get(metric))
            if value is not None:
                figures[metric] = figures.get(metric, Decimal(0)) + value
    return out


def _add_values(sums: dict[str, Decimal], metrics: list[str], values: Iterable[Any]) -> None:
    """Add a fact's reported metrics (NULL: not reported) into `sums`."""
    for metric, value in zip(metrics, values, strict=True):
        if value is not None:
            sums[metric] = sums.get(metric, Decimal(0)) + Decimal(str(value))


def compare(
    stored: Mapping[date, Mapping[str, Decimal]],
    upstream: DailyTotals,
    span: tuple[date, date],
    *,
    metrics: list[str],
    tolerances: Mapping[str, Tolerance],
) -> list[DayMetric]:
    """Every day's figure of every metric, stored beside upstream (nothing: zero), each rounded
    to its precision and judged against its tolerance (exact when none is set)."""
    exact = Tolerance(Decimal(0))
    rows = []
    for day in localdays.days(*span):
        for metric in metrics:
            ours = _rounded(metric, stored.get(day, {}).get(metric, Decimal(0)))
            theirs = _rounded(metric, Decimal(upstream.get(day, {}).get(metric, 0)))
            tolerance = tolerances.get(metric, exact)
            drifts = not tolerance.allows(ours - theirs, theirs)
            rows.append(DayMetric(day, metric, ours, theirs, str(tolerance), drifts))
    return rows


def _rounded(metric: str, value: Decimal) -> Decimal:
    spec = METRICS[metric]
    step = _STEP["money" if spec.is_money else "integral" if spec.integral else "other"]
    rounded = value.quantize(step, rounding=ROUND_HALF_UP)
    if spec.is_money:
        return rounded
    whole = rounded.to_integral_value()
    return whole if rounded == whole else rounded.normalize()  # 198.000000 → 198


# --- repairing ----------------------------------------------------------------------------------


def _repair_and_compare(
    engine: Engine,
    connector: Connector,
    result: VerifyResult,
    request: VerifyRequest,
    *,
    tolerances: Mapping[str, Tolerance],
) -> None:
    """Re-sync the drifting days, then compare them again (one upstream report for the span
    they lie in); a repair that cannot run leaves the drift as found, saying why."""
    drifting = result.drift_days
    budget = Budget()
    try:
        repair_days(engine, connector, drifting, now=request.now, budget=budget)
    except DpoError as exc:
        result.message = f"; the repair failed: {describe(exc)}"
        result.exit_code = EXIT_UNEXPECTED
        return
    result.repaired_days = drifting
    span = (drifting[0], drifting[-1])
    again = _compare(engine, connector, span, tolerances=tolerances, budget=budget)
    kept = [r for r in result.rows if not span[0] <= r.day <= span[1]]
    result.rows = sorted([*kept, *again], key=lambda r: (r.day, METRIC_ORDER.index(r.metric)))


def repair_days(
    engine: Engine, connector: Connector, days: list[date], *, now: datetime, budget: Budget
) -> None:
    """Fetch `days` again and replace their facts, window by window, as `dpo sync` does (each
    window with its `fact_change` row), under the lock `dpo sync` takes for the source."""
    spec = connector.spec
    tz = connector.timezone()
    try:
        with hold_lock(engine, f"sync:source:{spec.id}"):  # the lock of jobs/sync.py
            for day in days:
                budget.check()
                replace_window(
                    engine,
                    connector,
                    Window.for_day(day, tz),
                    state=_sync_state(engine, spec.id),
                    budget=budget,
                    now=now,
                )
    except LockHeldError:
        raise TryLaterError(
            f"a sync of {spec.label} is running",
            hint="run `dpo sources verify --repair` again once it has ended",
        ) from None


def _sync_state(engine: Engine, source_id: int) -> SyncState:
    """The source's sync state as it is, for `replace_window` to write back unchanged."""
    with Session(engine, expire_on_commit=False) as session:
        state = session.get(SyncState, (source_id, STREAM))
        assert state is not None  # a source with covered days has one
        session.expunge(state)
    state.updated_at = utcnow()
    return state


# --- the record ---------------------------------------------------------------------------------


def _record(engine: Engine, result: VerifyResult, *, now: datetime) -> None:
    with Session(engine) as session, session.begin():
        session.add(
            SourceVerification(
                source_id=result.source_id,
                verified_at=now,
                status=result.status.value,
                first_day=result.first_day,
                last_day=result.last_day,
                days=result.days,
                drift_days=[d.isoformat() for d in result.drift_days],
                drift_metrics=result.drift_metrics,
                repaired_days=[d.isoformat() for d in result.repaired_days],
                differences=[
                    {k: str(v) for k, v in r.as_dict().items() if k != "is_drift"}
                    for r in result.drift
                ],
                error=result.message if result.status is VerifyStatus.failed else None,
            )
        )


def _summary(result: VerifyResult) -> str:
    """`ok, 28 days`, `3 days drift (spend, clicks)`, with what a repair did."""
    repaired = f"repaired {_count(len(result.repaired_days), 'day')}; "
    prefix = repaired if result.repaired_days else ""
    if not result.drift:
        return f"{prefix}ok, {_count(result.days, 'day')}"
    still = " after the repair" if result.repaired_days else ""
    drifting = _count(len(result.drift_days), "day")
    return f"{prefix}{drifting} drift{still} ({', '.join(result.drift_metrics)})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# --- what status and the API show ---------------------------------------------------------------


class VerificationPublic(SQLModel):
    """A source's latest verification, as `dpo status` and the API show it."""

    source_id: int
    source: str
    kind: str
    verified_at: datetime
    status: str
    first_day: date | None
    last_day: date | None
    days: int
    drift_days: list[date]
    drift_metrics: list[str]
    repaired_days: list[date]
    differences: list[dict[str, str]]  # the drifting figures: day, metric, stored, upstream…
    error: str | None
    summary: str  # "verified 2 h ago: ok, 28 days"


def latest_verifications(
    session: Session, *, now: datetime, org_id: int | None = None
) -> dict[int, VerificationPublic]:
    """Each source's latest verification (of one organization), by source id."""
    record = SourceVerification
    newest = select(sa.func.max(record.id)).group_by(col(record.source_id))
    query = (
        select(record, Source)
        .join(Source, col(Source.id) == record.source_id)
        .where(col(record.id).in_(newest))
    )
    if org_id is not None:
        query = query.where(Source.org_id == org_id)
    out = {}
    for row, source in session.exec(query):
        public = VerificationPublic.model_validate(
            {**row.model_dump(), "source": source.name, "kind": source.kind, "summary": ""}
        )
        public.summary = summary_of(public, now=now)
        out[row.source_id] = public
    return out


def summary_of(found: VerificationPublic, *, now: datetime) -> str:
    """`verified 2 h ago: ok, 28 days`, or what drifted (metrics, days), or what failed."""
    ago = _ago(found.verified_at, now)
    if found.status == VerifyStatus.failed:
        return f"verification failed {ago}: {found.error}"
    if found.status == VerifyStatus.ok:
        repaired = f" ({_count(len(found.repaired_days), 'day')} repaired)"
        return f"verified {ago}: ok, {_count(found.days, 'day')}" + (
            repaired if found.repaired_days else ""
        )
    days = found.drift_days
    listed = ", ".join(d.isoformat() for d in days)
    if len(days) > 3:
        listed = f"{_count(len(days), 'day')} from {days[0]} to {days[-1]}"
    return f"verified {ago}: {', '.join(found.drift_metrics)} drift on {listed}"


def _ago(then: datetime, now: datetime) -> str:
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"
