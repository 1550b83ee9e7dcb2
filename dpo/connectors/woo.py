"""WooCommerce: orders, revenue and refunds per hour from the REST API v3, through requests.

Definitions (the README states them too):

- **orders / revenue**: orders in the counted statuses (default processing, completed,
  on-hold) and the sum of their `total` (tax and shipping included), in the UTC hour of
  `date_created_gmt`. An order that later moves to another status (cancelled, refunded, failed)
  leaves the figures of the hour it was created in.
- **refunds**: the amounts refunded on those same counted orders, in the hour the order was
  created (the orders endpoint lists refunds without dates), so revenue - refunds is net
  revenue. A fully refunded order usually takes the status `refunded`, which is not counted:
  add `refunded` to the counted statuses to keep such orders in revenue and refunds both.
- Every elapsed hour gets a row (zero orders is a fact); orders in another currency than the
  store's are skipped with a warning, so currencies never mix.

A window (one local day) lists the orders created in it (`after`/`before`, GMT). Changes to
older orders are found by listing the orders modified since the last run (`modified_after`,
minus an overlap for clock skew) and re-fetching the days they were created in; once a day the
last `rescan_days` days are re-fetched whole, in case a change slipped through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field

from dpo.connectors.base import Budget, Connector, FactRow, Role, RunPlan, Window, once_a_day
from dpo.connectors.settings import NameList, UpstreamSettings
from dpo.connectors.upstream import (
    Fault,
    Retrier,
    check_source_settings,
    retry_after,
    short,
    source_settings,
)
from dpo.errors import ConfigError, DpoError, register_secret
from dpo.vocab import Grain

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

API = "/wp-json/wc/v3"
_ZERO = Decimal(0)


class WooHttpError(Exception):
    """A non-200 answer from the store, with the WooCommerce error code when it gave one."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status} {code}".strip())
        self.status, self.code, self.message, self.headers = status, code, message, headers


class WooBodyError(Exception):
    """A 200 answer that is not the JSON expected (an HTML page from a firewall or plugin)."""


class WooPagingError(Exception):
    """The orders changed while they were being paged through (the counts disagree)."""


@dataclass
class _Hour:
    orders: int = 0
    revenue: Decimal = _ZERO
    refunds: Decimal = _ZERO


@dataclass
class _Listing:
    orders: list[dict[str, Any]] = field(default_factory=list)
    totals: set[int] = field(default_factory=set)


class WooSettings(UpstreamSettings):
    """`[woo]`: WooCommerce REST API v3."""

    counted_statuses: NameList = Field(
        default_factory=lambda: ["processing", "completed", "on-hold"]
    )
    rescan_days: int = Field(default=30, ge=0, le=400)
    overlap_minutes: int = Field(default=60, ge=0, le=10_080)
    auth: Literal["basic", "query"] = "basic"
    page_size: int = Field(default=100, ge=1, le=100)
    currency: str | None = None  # the store's currency; None: the organization's
    timezone: str | None = None  # the days' time zone; None: the organization's


class WooConnector(Connector):
    """WooCommerce orders; the source's account is the store URL."""

    kind = "woo"
    summary = "WooCommerce (REST API v3): orders, revenue and refunds"
    account_help = "the store's URL, e.g. https://shop.example.com"
    role = Role.store
    settings_model = WooSettings
    metrics = frozenset({"orders", "revenue", "refunds"})
    default_lookback_days = 1

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.config = source_settings(WooSettings, spec)
        self._session: requests.Session | None = None

    @classmethod
    def normalize_settings(
        cls, account: str, settings: Mapping[str, Any], *, today: date
    ) -> dict[str, Any]:
        parts = urlsplit(account)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"a woo source's account is the store URL, such as https://shop.example.com; "
                f"got {account!r}"
            )
        return check_source_settings(WooSettings, settings)

    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone or self.spec.org_timezone)

    @property
    def base_url(self) -> str:
        return (self.spec.endpoint or self.spec.account).rstrip("/") + API

    # --- the engine's hooks -------------------------------------------------------------------

    def prepare(self, state: Mapping[str, Any], *, now: datetime, budget: Budget) -> RunPlan:
        today = now.astimezone(self.timezone()).date()
        rescan, new_state = once_a_day(
            state, key="rescanned_on", today=today, days=self.config.rescan_days
        )
        changed: set[date] = set()
        mark = state.get("modified_after")
        if mark:
            since = datetime.fromisoformat(mark) - timedelta(minutes=self.config.overlap_minutes)
            changed = self._changed_days(since, budget)
        new_state["modified_after"] = now.astimezone(UTC).isoformat()
        return RunPlan(changed_days=rescan | changed, state=new_state)

    def fetch_window(self, window: Window, *, now: datetime, budget: Budget) -> Iterator[FactRow]:
        params = {
            # `after`/`before` are exclusive: widen by a second, then keep the window's own.
            "after": _gmt(window.start - timedelta(seconds=1)),
            "before": _gmt(window.end),
        }
        orders = self._list_orders(params, budget, what=f"orders of {window.day}")
        hours = self._by_hour(orders, window)
        currency = self.config.currency or self.spec.org_currency
        hour = window.start
        while hour < window.end and hour < now:
            found = hours.get(hour, _Hour())
            yield FactRow(
                Grain.hour,
                hour,
                currency=currency,
                orders=found.orders,
                revenue=found.revenue,
                refunds=found.refunds,
            )
            hour += timedelta(hours=1)

    def check(self) -> str:
        retrier = self._retrier(Budget())
        body, headers = retrier.call(
            lambda: self._get("/orders", {"per_page": 1}, Budget()), what="listing orders"
        )
        total = headers.get("X-WP-Total", str(len(body)))
        return f"WooCommerce store answered: {total} orders visible"

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- facts ----------------------------------------------------------------------------------

    def _by_hour(self, orders: list[dict[str, Any]], window: Window) -> dict[datetime, _Hour]:
        counted = set(self.config.counted_statuses)
        currency = self.config.currency or self.spec.org_currency
        hours: dict[datetime, _Hour] = {}
        skipped = 0
        for order in orders:
            created = _parse_gmt(order.get("date_created_gmt"))
            if created is None or not window.contains(created) or order["status"] not in counted:
                continue
            if str(order.get("currency") or currency).upper() != currency:
                skipped += 1
                continue
            hour = hours.setdefault(created.replace(minute=0, second=0, microsecond=0), _Hour())
            hour.orders += 1
            hour.revenue += _money(order.get("total"))
            hour.refunds += sum((-_money(r.get("total")) for r in order.get("refunds", [])), _ZERO)
        if skipped:
            log.warning(
                "%s: %d orders of %s not in %s were left out",
                self.spec.label,
                skipped,
                window.day,
                currency,
            )
        return hours

    def _changed_days(self, since: datetime, budget: Budget) -> set[date]:
        params = {"modified_after": _gmt(since), "_fields": "id,date_created_gmt"}
        orders = self._list_orders(params, budget, what="recently modified orders")
        tz = self.timezone()
        days = set()
        for order in orders:
            created = _parse_gmt(order.get("date_created_gmt"))
            if created is not None:
                days.add(created.astimezone(tz).date())
        return days

    # --- HTTP -----------------------------------------------------------------------------------

    def _list_orders(
        self, params: Mapping[str, Any], budget: Budget, *, what: str
    ) -> list[dict[str, Any]]:
        """Every order matching `params`, all pages, checked against X-WP-Total."""
        retrier = self._retrier(budget)
        return retrier.call(lambda: self._all_pages(params, budget), what=f"listing {what}")

    def _all_pages(self, params: Mapping[str, Any], budget: Budget) -> list[dict[str, Any]]:
        listing = _Listing()
        seen: set[int] = set()
        page = 1
        while True:
            query = {
                **params,
                "dates_are_gmt": "true",
                "per_page": self.config.page_size,
                "page": page,
                "orderby": "id",
                "order": "asc",
            }
            body, headers = self._get("/orders", query, budget)
            listing.totals.add(_int_header(headers, "X-WP-Total", len(body)))
            for order in body:
                if order["id"] not in seen:
                    seen.add(order["id"])
                    listing.orders.append(order)
            pages = _int_header(headers, "X-WP-TotalPages", page)
            if not body or page >= pages:
                break
            page += 1
        if len(listing.totals) > 1 or len(seen) != listing.totals.pop():
            raise WooPagingError("the orders changed while they were being listed")
        return listing.orders

    def _get(
        self, path: str, params: Mapping[str, Any], budget: Budget
    ) -> tuple[list[dict[str, Any]], Mapping[str, str]]:
        session = self._http()
        query = dict(params)
        auth = None
        key, secret = self._credentials
        if self.config.auth == "query":
            query.update(consumer_key=key, consumer_secret=secret)
        else:
            auth = (key, secret)
        response = session.get(
            self.base_url + path,
            params=query,
            auth=auth,
            timeout=budget.timeout(self.config.timeout_seconds),
        )
        if response.status_code != 200:
            raise _http_error(response)
        try:
            body = response.json()
        except ValueError:
            raise WooBodyError("the store answered with a page that is not JSON") from None
        if not isinstance(body, list):
            raise WooBodyError("the store answered with JSON that is not a list of orders")
        return body, response.headers

    def _http(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers["User-Agent"] = "dpo (WooCommerce connector)"
        return self._session

    @cached_property
    def _credentials(self) -> tuple[str, str]:
        key, sep, secret = (self.spec.secret or "").partition(":")
        if not sep or not key or not secret:
            raise ConfigError(
                "the secret must be the consumer key and secret as KEY:SECRET",
                hint="create a read-only REST API key in WooCommerce → Settings → Advanced",
            )
        register_secret(key)
        register_secret(secret)
        return key, secret

    def _retrier(self, budget: Budget) -> Retrier:
        return Retrier(
            label=self.spec.label, classify=self._classify, budget=budget, settings=self.config
        )

    def _classify(self, exc: BaseException) -> Fault | None:
        return classify(exc, store=self.spec.account)


def classify(exc: BaseException, *, store: str) -> Fault | None:
    """How to treat a failure talking to a store."""
    import requests

    if isinstance(exc, WooHttpError):
        return _http_fault(exc, store=store)
    if isinstance(exc, WooBodyError | WooPagingError):
        return Fault(str(exc), is_transient=True)
    if isinstance(exc, requests.Timeout):
        return Fault("the store did not answer in time", is_transient=True)
    if isinstance(exc, requests.ConnectionError):
        return Fault(f"cannot connect to {urlsplit(store).netloc}", is_transient=True)
    if isinstance(exc, requests.RequestException):
        return Fault(f"request failed: {type(exc).__name__}", is_transient=True)
    return None


def _http_fault(exc: WooHttpError, *, store: str) -> Fault:
    said = f"HTTP {exc.status}" + (f" {exc.code}" if exc.code else "")
    if exc.message:
        said += f": {short(exc.message)}"
    if exc.status == 429 or exc.status >= 500:
        return Fault(f"the store answered {said}", True, retry_after(exc.headers))
    if exc.status in (401, 403):
        return Fault(
            f"the store refused the credentials ({said})",
            False,
            hint="check the consumer key and secret (KEY:SECRET, with read access) "
            "and, if the host strips Authorization headers, use --setting auth=query",
        )
    if exc.status == 404:
        return Fault(
            f"no WooCommerce REST API at {store}{API} ({said})",
            False,
            hint="check the store URL (--account) and that WordPress permalinks are enabled",
        )
    return Fault(f"the store refused the request ({said})", False)


def _http_error(response: requests.Response) -> WooHttpError:
    code = message = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            code, message = str(body.get("code", "")), str(body.get("message", ""))
    except ValueError:
        pass  # an HTML error page: the status says enough
    return WooHttpError(response.status_code, code, message, response.headers)


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_gmt(value: object) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _money(value: object) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except InvalidOperation:
        raise DpoError(f"the store sent an amount that is not a number: {short(value)}") from None


def _int_header(headers: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(headers.get(name, default))
    except ValueError:
        return default
