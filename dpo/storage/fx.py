"""Exchange rates as rollups and reports use them: which rate converts a fact's money, and
which money could not be converted.

A rate (`fx_rate`) says one `base` is worth `rate` of `quote` from `effective_from` until the
pair's next rate. Facts keep the upstream's currency; rollups convert money into the
organization's currency with the rate of the fact's local day (in the organization's zone; a
day fact's day is that of its middle, as in `localdays`). The rate for C → O on a day is, in
this order: a rate given for C → O, the inverse of one given for O → C, or a cross rate through
one currency both are quoted against (the ECB publishes every rate against EUR, so a GBP fact
under a USD organization converts through EUR). Counts never depend on a rate; money with no
rate for its day is left out of totals, and `unconverted` says which, how much and when.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection

from dpo import localdays, metrics
from dpo.storage import tables

_RATE = tables.fx_rate
_FACT = tables.fact
_SOURCE = tables.source
PLACES = Decimal("1e-12")  # the precision rates are kept and applied with
MONEY: tuple[str, ...] = tuple(m.name for m in metrics.METRICS if m.is_money)
_SHOWN_DAYS = 5


@dataclass(frozen=True)
class Span:
    """Facts of `grain` in `currency` starting in [start, end) convert with `rate`."""

    grain: str
    currency: str
    start: datetime
    end: datetime
    rate: Decimal


@dataclass
class _Pair:
    """One pair's rates, oldest first (only those that can apply to the days asked)."""

    days: list[date] = field(default_factory=list)
    rates: list[Decimal] = field(default_factory=list)

    def on(self, day: date) -> Decimal | None:
        at = bisect.bisect_right(self.days, day)
        return self.rates[at - 1] if at else None


class RateBook:
    """The rates that convert into `target` over local days first…last, loaded once."""

    def __init__(self, conn: Connection, target: str, first: date, last: date) -> None:
        self.target = target
        self._conn = conn
        self._first, self._last = first, last
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._loaded: set[str] = set()

    def rate(self, currency: str, day: date) -> Decimal | None:
        """How much of `target` one `currency` is worth on `day`, or None (no rate)."""
        if currency == self.target:
            return Decimal(1)
        self._load(currency)
        if (direct := self._leg(currency, self.target, day)) is not None:
            return direct
        for via in self._vias(currency):
            one, two = self._leg(currency, via, day), self._leg(via, self.target, day)
            if one is not None and two is not None:
                return (one * two).quantize(PLACES)
        return None

    def _leg(self, base: str, quote: str, day: date) -> Decimal | None:
        if (pair := self._pairs.get((base, quote))) and (rate := pair.on(day)) is not None:
            return rate
        if (pair := self._pairs.get((quote, base))) and (rate := pair.on(day)) is not None:
            return (Decimal(1) / rate).quantize(PLACES)
        return None

    def _vias(self, currency: str) -> list[str]:
        """Currencies quoted against both `currency` and the target: EUR first, then USD."""

        def partners(code: str) -> set[str]:
            return {b if q == code else q for b, q in self._pairs if code in (b, q)}

        common = partners(currency) & partners(self.target)
        return sorted(common - {currency, self.target}, key=lambda c: (c != "EUR", c != "USD", c))

    def _load(self, currency: str) -> None:
        """Load every pair that touches `currency` or the target, for the days asked."""
        wanted = {currency, self.target} - self._loaded
        if not wanted:
            return
        r = _RATE.c
        pairs = self._conn.execute(
            sa.select(r.base, r.quote)
            .where(sa.or_(r.base.in_(wanted), r.quote.in_(wanted)))
            .group_by(r.base, r.quote)
        ).all()
        for base, quote in pairs:
            if (base, quote) in self._pairs:
                continue
            key = (r.base == base, r.quote == quote)
            latest_before = (
                sa.select(sa.func.max(r.effective_from))
                .where(*key, r.effective_from <= self._first)
                .scalar_subquery()
            )
            rows = self._conn.execute(
                sa.select(r.effective_from, r.rate)
                .where(
                    *key,
                    r.effective_from <= self._last,
                    sa.or_(r.effective_from >= latest_before, latest_before.is_(None)),
                )
                .order_by(r.effective_from)
            ).all()
            self._pairs[(base, quote)] = _Pair(
                [_day(row.effective_from) for row in rows], [Decimal(row.rate) for row in rows]
            )
        self._loaded |= wanted


def spans(
    book: RateBook, currencies: Iterable[str], first: date, last: date, tz: ZoneInfo
) -> list[Span]:
    """The rates of local days first…last as UTC spans per grain and currency, consecutive days
    with one rate merged; days with no rate have no span."""
    out: list[Span] = []
    for currency in sorted(set(currencies) - {book.target}):
        runs: list[tuple[date, date, Decimal]] = []
        for day in localdays.days(first, last):
            rate = book.rate(currency, day)
            if rate is None:
                continue
            if runs and runs[-1][2] == rate and runs[-1][1] + timedelta(days=1) == day:
                runs[-1] = (runs[-1][0], day, rate)
            else:
                runs.append((day, day, rate))
        for start, end, rate in runs:
            utc_from = localdays.day_start(start, tz)
            utc_to = localdays.day_start(end + timedelta(days=1), tz)
            out.append(Span("hour", currency, utc_from, utc_to, rate))
            shift = localdays.DAY_FACT_SHIFT
            out.append(Span("day", currency, utc_from - shift, utc_to - shift, rate))
    return out


def foreign_currencies(
    conn: Connection, org_id: int, target: str, start: datetime, end: datetime
) -> list[str]:
    """The currencies other than `target` of the organization's facts starting in [start, end)."""
    f = _FACT.c
    return list(
        conn.execute(
            sa.select(f.currency)
            .where(
                f.org_id == org_id,
                f.period_start >= start,
                f.period_start < end,
                f.currency.is_not(None),
                f.currency != target,
            )
            .group_by(f.currency)
        ).scalars()
    )


@dataclass(frozen=True)
class Unconverted:
    """Money of one source, metric and currency that no rate converts, over some days."""

    source_id: int
    source: str  # the source's name
    kind: str
    metric: str
    currency: str
    target: str
    amount: Decimal
    days: tuple[date, ...]

    @property
    def text(self) -> str:
        """E.g. `EUR 12,400 of ga:123 (ga) revenue not converted: no EUR→USD rate for …`."""
        shown = ", ".join(d.isoformat() for d in self.days[:_SHOWN_DAYS])
        more = f" and {len(self.days) - _SHOWN_DAYS} more" if len(self.days) > _SHOWN_DAYS else ""
        label = metrics.BY_NAME[self.metric].label.lower()
        return (
            f"{self.currency} {self.amount:,.2f} of {self.source} ({self.kind}) {label} not "
            f"converted: no {self.currency}→{self.target} rate for {shown}{more} "
            f"(add one with `dpo fx set {self.currency} {self.target} RATE --from DAY`)"
        )


def unconverted(
    conn: Connection,
    *,
    org_id: int,
    target: str,
    tz: ZoneInfo,
    first: date,
    last: date,
) -> list[Unconverted]:
    """The organization's money on local days first…last that no rate converts into `target`,
    per source, metric and currency — by the rollups' own day rule (a day's own figure where
    the source reported one, else the sum of its hours). Read only where the daily rollups
    counted facts left out, so it costs nothing for organizations with one currency."""
    if not _has_skipped(conn, org_id, first, last):
        return []
    f, s = _FACT.c, _SOURCE.c
    start = localdays.day_start(first, tz) - localdays.DAY_FACT_SHIFT
    end = localdays.day_start(last + timedelta(days=1), tz)
    rows = conn.execute(
        sa.select(
            f.source_id,
            s.name,
            s.kind,
            f.currency,
            f.grain,
            f.period_start,
            *(sa.func.sum(f[m]).label(m) for m in MONEY),
        )
        .join(_SOURCE, s.id == f.source_id)
        .where(
            f.org_id == org_id,
            f.period_start >= start,
            f.period_start < end,
            f.currency.is_not(None),
            f.currency != target,
        )
        .group_by(f.source_id, s.name, s.kind, f.currency, f.grain, f.period_start)
    ).all()
    if not rows:
        return []
    book = RateBook(conn, target, first, last)
    # (source, currency, day, metric) → [day figure, hours]
    figures: dict[tuple[int, str, str, str, date, str], list[Decimal | None]] = {}
    for row in rows:
        middle = localdays.DAY_FACT_SHIFT if row.grain == "day" else timedelta(0)
        day = localdays.local_date(row.period_start + middle, tz)
        if not first <= day <= last or book.rate(row.currency, day) is not None:
            continue
        for metric in MONEY:
            value = row._mapping[metric]
            if value is None:
                continue
            key = (row.source_id, row.name, row.kind, row.currency, day, metric)
            slot = figures.setdefault(key, [None, None])
            at = 0 if row.grain == "day" else 1
            slot[at] = (slot[at] or Decimal(0)) + Decimal(value)
    grouped: dict[tuple[int, str, str, str, str], tuple[Decimal, set[date]]] = {}
    for (sid, name, kind, currency, day, metric), (own, hours) in figures.items():
        amount = own if own is not None else hours
        if amount is None:
            continue
        total, days = grouped.get((sid, name, kind, metric, currency), (Decimal(0), set()))
        grouped[(sid, name, kind, metric, currency)] = (total + amount, days | {day})
    return [
        Unconverted(sid, name, kind, metric, currency, target, total, tuple(sorted(days)))
        for (sid, name, kind, metric, currency), (total, days) in sorted(grouped.items())
    ]


def _has_skipped(conn: Connection, org_id: int, first: date, last: date) -> bool:
    """True when the daily rollups left money out on some day first…last (a cheap look at the
    organization's total rows before reading its facts)."""
    t = tables.agg_daily.c
    query = (
        sa.select(t.day)
        .where(
            t.org_id == org_id,
            t.source_id == tables.TOTAL,
            t.day >= first,
            t.day <= last,
            t.skipped_facts > 0,
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
