"""Exchange rates the user gives: set one, import a file, list them.

A rate is date-effective: `EUR USD 1.0843 from 2026-03-01` holds until the pair's next rate.
Adding or changing rates marks the facts they convert as changed (`fact_change`), so the next
`dpo aggregate` recomputes exactly those rollups, as after a restatement. How rollups pick a
rate (direct, inverse, or crossed through a common currency) is `storage/fx.py`.

`import_rates` reads three CSV layouts, told apart by their header:
- dpo's own: `date,base,quote,rate` (also `effective_from` for `date`);
- the ECB's reference-rate files (`eurofxref-hist.csv`, `eurofxref.csv`): `Date,USD,JPY,…`,
  one column per currency, each the value of 1 EUR, `N/A` where there is none;
- the ECB Data Portal's CSV (`…/service/data/EXR/D.USD.EUR.SP00.A?format=csvdata`):
  `CURRENCY`, `CURRENCY_DENOM`, `TIME_PERIOD`, `OBS_VALUE` (1 CURRENCY_DENOM = OBS_VALUE
  CURRENCY).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from dpo.errors import InvalidInputError
from dpo.storage import tables
from dpo.storage.fx import PLACES
from dpo.storage.models import utcnow
from dpo.validation import check_currency, check_day

_RATE = tables.fx_rate
_FACT = tables.fact
_ORG = tables.organization
_CHANGE = tables.fact_change
_MAX_RATE = Decimal("1e12")
_BATCH = 1000


@dataclass(frozen=True)
class Rate:
    """One unit of `base` is worth `rate` of `quote` from `effective_from` on."""

    base: str
    quote: str
    effective_from: date
    rate: Decimal
    source: str = ""


@dataclass(frozen=True)
class RatesSaved:
    """What a `set` or an `import` did."""

    added: int
    changed: int
    unchanged: int
    organizations: int  # whose rollups the next `dpo aggregate` recomputes
    first: date | None = None
    last: date | None = None


def rate_from(base: str, quote: str, value: str, effective_from: date, *, source: str) -> Rate:
    """A rate typed by a user or read from a file, checked, or an error saying why not."""
    try:
        b, q = check_currency(base), check_currency(quote)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    if b == q:
        raise InvalidInputError(f"a rate converts between two currencies, not {b} to itself")
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise InvalidInputError(f"rate {value!r} is not a number") from None
    if not number.is_finite() or number <= 0 or number >= _MAX_RATE:
        raise InvalidInputError(f"rate {value!r} must be a positive number below 1e12")
    if number.quantize(PLACES) == 0:
        raise InvalidInputError(f"rate {value!r} is smaller than dpo keeps (12 decimal places)")
    day = check_day(effective_from, option="--from")
    return Rate(b, q, day, number.quantize(PLACES), source)


def save_rates(engine: Engine, rates: Iterable[Rate]) -> RatesSaved:
    """Add or replace `rates` and mark the facts they convert for re-aggregation, atomically."""
    given = {(r.base, r.quote, r.effective_from): r for r in rates}
    if not given:
        return RatesSaved(0, 0, 0, 0)
    added = changed = 0
    r = _RATE.c
    with engine.begin() as conn:
        existing: dict[tuple[str, str, date], Decimal] = {}
        for pair in {(b, q) for b, q, _ in given}:
            days = [d for b, q, d in given if (b, q) == pair]
            query = sa.select(r.effective_from, r.rate).where(
                r.base == pair[0],
                r.quote == pair[1],
                r.effective_from >= min(days),
                r.effective_from <= max(days),
            )
            for row in conn.execute(query):
                existing[(*pair, _day(row.effective_from))] = Decimal(row.rate).quantize(PLACES)
        new, updated = [], []
        for key, rate in given.items():
            if key not in existing:
                new.append(rate)
            elif existing[key] != rate.rate:
                updated.append(rate)
        now = utcnow()
        for i in range(0, len(new), _BATCH):
            conn.execute(
                sa.insert(_RATE),
                [{**_values(rate), "updated_at": now} for rate in new[i : i + _BATCH]],
            )
        for rate in updated:
            conn.execute(
                sa.update(_RATE)
                .where(
                    r.base == rate.base,
                    r.quote == rate.quote,
                    r.effective_from == rate.effective_from,
                )
                .values(rate=rate.rate, source=rate.source, updated_at=now)
            )
        added, changed = len(new), len(updated)
        touched = [*new, *updated]
        orgs = _mark_changed(conn, min(t.effective_from for t in touched)) if touched else 0
    first = min(d for _, _, d in given)
    last = max(d for _, _, d in given)
    return RatesSaved(added, changed, len(given) - added - changed, orgs, first, last)


def list_rates(
    conn: Connection,
    *,
    currency: str | None = None,
    since: date | None = None,
    limit: int = 100,
) -> list[Rate]:
    """The rates, newest first; only those involving `currency`, from `since` on."""
    r = _RATE.c
    query = sa.select(_RATE).order_by(r.effective_from.desc(), r.base, r.quote).limit(limit)
    if currency is not None:
        query = query.where(sa.or_(r.base == currency, r.quote == currency))
    if since is not None:
        query = query.where(r.effective_from >= since)
    return [
        Rate(row.base, row.quote, _day(row.effective_from), Decimal(row.rate), row.source)
        for row in conn.execute(query)
    ]


def read_rates(path: Path) -> list[Rate]:
    """The rates in a CSV file (see the module's layouts), or an error naming the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path} is not a UTF-8 text file") from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    if not header:
        raise InvalidInputError(f"{path} is empty")
    names = {h.lower() for h in header}
    source = path.name[:200]
    if {"base", "quote", "rate"} <= names and names & {"date", "effective_from"}:
        parse = _long_rows
    elif {"CURRENCY", "CURRENCY_DENOM", "TIME_PERIOD", "OBS_VALUE"} <= set(header):
        parse = _portal_rows
    elif header[0].lower() == "date":
        parse = _reference_rows
    else:
        raise InvalidInputError(
            f"{path}: unknown layout (header {','.join(header[:6])}…); expected "
            "date,base,quote,rate, the ECB's Date,USD,JPY,… or the ECB Data Portal's CSV"
        )
    rates: list[Rate] = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            rates += parse(header, row, source)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}, line {line}: {exc}") from None
    if not rates:
        raise InvalidInputError(f"{path} holds no rates")
    return rates


def _long_rows(header: Sequence[str], row: Sequence[str], source: str) -> Iterator[Rate]:
    cells = {h.lower(): v.strip() for h, v in zip(header, row, strict=False)}
    day = _parse_day(cells.get("date") or cells.get("effective_from") or "")
    yield rate_from(cells["base"], cells["quote"], cells["rate"], day, source=source)


def _reference_rows(header: Sequence[str], row: Sequence[str], source: str) -> Iterator[Rate]:
    day = _parse_day(row[0])
    for name, cell in zip(header[1:], row[1:], strict=False):
        value = cell.strip()
        if not name or value in ("", "N/A"):  # the ECB's files end each line with a comma
            continue
        yield rate_from("EUR", name, value, day, source=source)


def _portal_rows(header: Sequence[str], row: Sequence[str], source: str) -> Iterator[Rate]:
    cells = {h: v.strip() for h, v in zip(header, row, strict=False)}
    if cells.get("OBS_VALUE", "") in ("", "NaN"):
        return
    day = _parse_day(cells["TIME_PERIOD"])
    yield rate_from(
        cells["CURRENCY_DENOM"], cells["CURRENCY"], cells["OBS_VALUE"], day, source=source
    )


def _parse_day(text: str) -> date:
    """ISO dates, and the ECB daily file's `05 January 2024`."""
    for parse in (date.fromisoformat, lambda t: datetime.strptime(t, "%d %B %Y").date()):
        try:
            return parse(text.strip())
        except ValueError:
            continue
    raise InvalidInputError(f"{text!r} is not a date (YYYY-MM-DD)")


def _mark_changed(conn: Connection, first: date) -> int:
    """Record, for every source with facts in a currency not its organization's, the facts from
    `first` on as changed; return how many organizations that touches.

    Any rate may convert any pair (crossed through a common currency), so every such source is
    marked. A day's margin either side covers every time zone's local days.
    """
    f, o = _FACT.c, _ORG.c
    start = datetime.combine(first - timedelta(days=1), time(), UTC)
    rows = conn.execute(
        sa.select(
            f.org_id,
            f.source_id,
            sa.func.min(f.period_start).label("lo"),
            sa.func.max(f.period_start).label("hi"),
        )
        .join(_ORG, o.id == f.org_id)
        .where(f.currency.is_not(None), f.currency != o.currency)
        .group_by(f.org_id, f.source_id)
    ).all()
    now = utcnow()
    marked = []
    for row in rows:
        lo = max(row.lo, start)
        hi = row.hi + timedelta(days=1)
        if lo < hi:
            marked.append(
                {
                    "org_id": row.org_id,
                    "source_id": row.source_id,
                    "range_start": lo,
                    "range_end": hi,
                    "created_at": now,
                }
            )
    if marked:
        conn.execute(sa.insert(_CHANGE), marked)
    return len({m["org_id"] for m in marked})


def _values(rate: Rate) -> dict[str, object]:
    return {
        "base": rate.base,
        "quote": rate.quote,
        "effective_from": rate.effective_from,
        "rate": rate.rate,
        "source": rate.source,
    }


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
