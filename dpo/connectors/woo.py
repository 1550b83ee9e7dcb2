"""WooCommerce: orders, revenue and refunds per hour from the REST API v3, through requests.

Definitions (the README states them too):

- **orders / revenue**: the orders WooCommerce Analytics counts — every status but the excluded
  ones (`excluded_statuses`, default pending, failed and cancelled; trash, auto-draft and
  checkout-draft always), custom statuses included — or exactly the `counted_statuses` when
  they are set; and the sum of their `total` (tax and shipping included), in the UTC hour of
  `date_created_gmt`. An order that later moves to an excluded status leaves the figures of the
  hour it was created in.
- **refunds**: the amounts refunded on those same orders, in the hour the order was created
  (the orders endpoint lists refunds without dates), so revenue - refunds is net revenue. A
  fully refunded order (status `refunded`) counts, as in Analytics: its total in revenue and
  the same amount in refunds.
- Every elapsed hour gets a row (zero orders is a fact), in the store's own currency (asked of
  the store, or the `currency` setting); orders in another currency are skipped with a warning,
  so currencies never mix.

A window (one local day) lists the orders created in it (`after`/`before`, GMT), checked
against `X-WP-Total`, or read until a short page when a proxy strips the paging headers.
Changes to older orders are found by listing the orders modified since the last run
(`modified_after`, minus an overlap for clock skew) and re-fetching the days they were created
in. Trashed and deleted orders never show there, so every run also lists the ids of the orders
created in the last `reconcile_days` days, keeps a digest of each day's ids, and re-fetches a
day whose ids changed. Once a day the last `rescan_days` days are re-fetched whole.

Authentication (`auth`): HTTP Basic over HTTPS; OAuth 1.0a one-legged signatures (HMAC-SHA256,
in the query string) over plain HTTP, where WooCommerce accepts nothing else. `auto` chooses by
the URL's scheme, and turns to OAuth 1.0a when WooCommerce ignores Basic auth over HTTPS: signed
for the `https://` URL when the host drops the Authorization header, for `http://` when TLS ends
at a proxy WordPress does not know about. An `http://` store that redirects to HTTPS is used
there. An answer that is not WooCommerce's JSON (a firewall's or the
host's page) is retried, never blamed on the key.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import Field

from dpo.connectors.base import Budget, Connector, FactRow, Role, RunPlan, Window, once_a_day
from dpo.connectors.settings import CurrencyCode, NameList, UpstreamSettings, ZoneName
from dpo.connectors.upstream import (
    Fault,
    Retrier,
    check_source_settings,
    checked_number,
    retry_after,
    short,
    source_settings,
)
from dpo.errors import ConfigError, DpoError, UpstreamDataError, register_secret
from dpo.vocab import Grain

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

API = "/wp-json/wc/v3"
_ZERO = Decimal(0)
_ID_PAGE = 100  # ids only: the largest page WooCommerce allows
_LISTED_IDS = "listed_ids"  # state: a digest of each recent day's order ids
# A window's listing ends this long before the run began: an order placed while its pages are
# read (by a store clock a little behind dpo's) cannot shift them; the next run fetches it.
_SETTLED = timedelta(minutes=2)
# Never orders in Analytics, whatever the settings (Admin/API/Reports/DataStore.php adds
# auto-draft and trash; the checkout block's DraftOrders adds checkout-draft).
ALWAYS_EXCLUDED = frozenset({"trash", "auto-draft", "checkout-draft"})
_BAD_SIGNATURE = "Invalid signature - provided signature does not match."  # WooCommerce's words
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class WooHttpError(Exception):
    """A non-200 answer from the store: WooCommerce's error envelope (`code`, `message`), or
    `page` saying what came instead (a firewall's or the host's answer)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str],
        *,
        page: str | None = None,
    ) -> None:
        super().__init__(f"HTTP {status} {code}".strip())
        self.status, self.code, self.message, self.headers = status, code, message, headers
        self.page = page

    @property
    def is_woocommerce(self) -> bool:
        """True when WordPress itself answered, with its JSON error envelope."""
        return self.page is None


class WooBodyError(Exception):
    """A 200 answer that is not the JSON expected (a firewall's challenge page, a plugin's)."""


class WooPagingError(Exception):
    """The orders changed while they were being paged through, or the pages did not move."""


@dataclass
class _Hour:
    orders: int = 0
    revenue: Decimal = _ZERO
    refunds: Decimal = _ZERO


class WooSettings(UpstreamSettings):
    """`[woo]`: WooCommerce REST API v3."""

    # WooCommerce Analytics' default `woocommerce_excluded_report_order_statuses`.
    excluded_statuses: NameList = Field(default_factory=lambda: ["pending", "failed", "cancelled"])
    counted_statuses: NameList | None = None  # exactly these, when set (excluded_statuses unused)
    rescan_days: int = Field(default=30, ge=0, le=400)
    reconcile_days: int = Field(default=7, ge=0, le=60)
    overlap_minutes: int = Field(default=60, ge=0, le=10_080)
    auth: Literal["auto", "basic", "query", "oauth1"] = "auto"
    page_size: int = Field(default=100, ge=1, le=100)
    currency: CurrencyCode | None = None  # the store's currency; None: asked of the store
    timezone: ZoneName | None = None  # the days' time zone; None: the organization's

    def counts(self, status: str) -> bool:
        """True when orders in `status` are counted."""
        if self.counted_statuses is not None:
            return status in self.counted_statuses
        return status not in ALWAYS_EXCLUDED and status not in self.excluded_statuses


class WooConnector(Connector):
    """WooCommerce orders; the source's account is the store URL."""

    kind = "woo"
    summary = "WooCommerce (REST API v3): orders, revenue and refunds"
    account_help = "the store's URL, e.g. https://shop.example.com"
    role = Role.store
    needs_secret = True
    settings_model = WooSettings
    metrics = frozenset({"orders", "revenue", "refunds"})
    default_lookback_days = 1

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.config = source_settings(WooSettings, spec)
        self._session: requests.Session | None = None
        self._signed_as: str | None = None  # OAuth 1.0a for this scheme, once Basic was ignored
        self._signer: _OAuth1Signer | None = None
        self._store_currency: str | None = None
        self._warned_cleartext = False
        self._moved_to: str | None = None  # the https:// URL an http:// store redirects to

    @classmethod
    def canonical_account(cls, account: str) -> str:
        """The store URL with its scheme and host in lower case and no trailing slash:
        `HTTPS://Shop.example.com/` and `https://shop.example.com` are one store."""
        parts = urlsplit(account.strip())
        return urlunsplit(
            (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
        )

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
        if parts.username or parts.password:
            raise ValueError(
                "a woo source's store URL must not hold a user or password: the URL names the "
                "source in every line, job and metric; give the REST API key with --secret-env "
                "or --secret-file"
            )
        return check_source_settings(WooSettings, settings)

    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone or self.spec.org_timezone)

    @property
    def base_url(self) -> str:
        root = self._moved_to or self.spec.endpoint or self.spec.account
        return root.rstrip("/") + API

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
            changed |= self._changed_days(since, budget)
        new_state["modified_after"] = now.astimezone(UTC).isoformat()
        new_state.pop(_LISTED_IDS, None)
        if self.config.reconcile_days:
            listed = self._listed_ids(today, budget)
            before: Mapping[str, str] = state.get(_LISTED_IDS) or {}
            changed |= {
                date.fromisoformat(day)
                for day, digest in listed.items()
                if day in before and before[day] != digest
            }
            new_state[_LISTED_IDS] = listed
        return RunPlan(changed_days=rescan | changed, state=new_state)

    def fetch_window(self, window: Window, *, now: datetime, budget: Budget) -> Iterator[FactRow]:
        currency = self._currency(budget)
        params = {
            # `after`/`before` are exclusive: widen by a second, then keep the window's own.
            # A busy store's new orders would move the pages (and X-WP-Total) between two
            # reads, every time: the listing ends at a moment already past.
            "after": _gmt(window.start - timedelta(seconds=1)),
            "before": _gmt(min(window.end, now - _SETTLED)),
        }
        orders = self._list_orders(params, budget, what=f"orders of {window.day}")
        hours = self._by_hour(orders, window, currency)
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

    def first_day(self, now: datetime, *, budget: Budget) -> date:
        """The local day of the store's oldest order (the statuses `status=any` lists), or
        today when it has none: a store holds nothing before its first order."""
        query = {
            "orderby": "date",
            "order": "asc",
            "per_page": 1,
            "_fields": "date_created_gmt",
            "dates_are_gmt": "true",
        }
        body, _ = self._retrier(budget).call(
            lambda: self._get_list("/orders", query, budget), what="the store's first order"
        )
        first = body[0] if body else {}
        if not isinstance(first, dict):
            raise UpstreamDataError(f"the store listed an order that is not one: {short(first)}")
        created = _parse_gmt(first.get("date_created_gmt"))
        return (created or now).astimezone(self.timezone()).date()

    def check(self) -> str:
        budget = Budget()
        retrier = self._retrier(budget)
        _, headers = retrier.call(
            lambda: self._get_list("/orders", {"per_page": 1}, budget), what="listing orders"
        )
        currency = self._currency(budget)
        total = headers.get("X-WP-Total")
        seen = f"{total} orders visible" if total is not None else "orders visible"
        return f"WooCommerce store answered: {seen}, in {currency} ({self._auth_mode()} auth)"

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- verification ---------------------------------------------------------------------------

    def daily_totals(
        self, first: date, last: date, *, budget: Budget
    ) -> dict[date, dict[str, Decimal]]:
        """Orders, revenue and refunds per day, from a light listing of the orders created in
        first…last (`_fields`: only what counting needs), counted exactly as the sync counts
        them (`_by_hour`): the same statuses, the order's total, its refunds on the day it was
        created, the store's currency, the source's days.

        The store's report endpoints count otherwise: `reports/orders/totals` counts orders
        per status over all time, `reports/sales` fixed statuses in the store's own time zone,
        and Analytics (`wc-analytics`) dates a refund on the day it was made, from a lookup
        table filled in the background.
        """
        from dpo.localdays import days

        tz = self.timezone()
        currency = self._currency(budget)
        start, end = Window.for_day(first, tz).start, Window.for_day(last, tz).end
        params = {
            # `after`/`before` are exclusive: widen by a second, then keep the days' own.
            "after": _gmt(start - timedelta(seconds=1)),
            "before": _gmt(end),
            "_fields": "id,status,currency,total,refunds,date_created_gmt",
        }
        orders = self._list_orders(
            params, budget, what=f"orders of {first}…{last}", per_page=_ID_PAGE
        )
        totals = {}
        for day in days(first, last):
            hours = self._by_hour(orders, Window.for_day(day, tz), currency).values()
            totals[day] = {
                "orders": Decimal(sum(h.orders for h in hours)),
                "revenue": sum((h.revenue for h in hours), _ZERO),
                "refunds": sum((h.refunds for h in hours), _ZERO),
            }
        return totals

    # --- facts ----------------------------------------------------------------------------------

    def _by_hour(
        self, orders: list[dict[str, Any]], window: Window, currency: str
    ) -> dict[datetime, _Hour]:
        hours: dict[datetime, _Hour] = {}
        skipped = 0
        for order in orders:
            created = _parse_gmt(order.get("date_created_gmt"))
            if created is None or not window.contains(created):
                continue
            status = order.get("status")
            if not isinstance(status, str) or not status:
                raise UpstreamDataError(
                    f"the store sent order {order['id']} of {window.day} without a status"
                )
            if not self.config.counts(status):
                continue
            if str(order.get("currency") or currency).upper() != currency:
                skipped += 1
                continue
            hour = hours.setdefault(created.replace(minute=0, second=0, microsecond=0), _Hour())
            hour.orders += 1
            hour.revenue += _money(order.get("total"), "revenue", order)
            refunds = order.get("refunds") or []
            if not isinstance(refunds, list) or not all(isinstance(r, dict) for r in refunds):
                raise UpstreamDataError(
                    f"the store sent order {order['id']}'s refunds as {short(refunds)}"
                )
            hour.refunds += sum((-_money(r.get("total"), "refunds", order) for r in refunds), _ZERO)
        if skipped:
            log.warning(
                "%s: %d orders of %s not in %s were left out",
                self.spec.label,
                skipped,
                window.day,
                currency,
            )
        return hours

    def _currency(self, budget: Budget) -> str:
        """The `currency` setting, or the store's own (`woocommerce_currency`), asked once."""
        if self.config.currency:
            return self.config.currency.upper()
        if self._store_currency is None:
            retrier = Retrier(
                label=self.spec.label,
                classify=self._classify_currency,
                budget=budget,
                settings=self.config,
            )
            body, _ = retrier.call(
                lambda: self._get("/data/currencies/current", {}, budget),
                what="reading the store's currency",
            )
            code = str(body.get("code") or "").upper() if isinstance(body, dict) else ""
            if not re.fullmatch(r"[A-Z]{3}", code):
                raise DpoError(
                    f"the store gave no currency code: {short(body)}",
                    hint="set it with --setting currency=EUR (its ISO 4217 code)",
                )
            self._store_currency = code
            if code != self.spec.org_currency:
                log.warning(
                    "%s: the store sells in %s, the organization reports in %s: its facts in %s "
                    "stay out of the organization's figures",
                    self.spec.label,
                    code,
                    self.spec.org_currency,
                    code,
                )
        return self._store_currency

    # --- changes --------------------------------------------------------------------------------

    def _changed_days(self, since: datetime, budget: Budget) -> set[date]:
        params = {"modified_after": _gmt(since), "_fields": "id,date_created_gmt"}
        orders = self._list_orders(
            params, budget, what="recently modified orders", per_page=_ID_PAGE
        )
        tz = self.timezone()
        days = set()
        for order in orders:
            created = _parse_gmt(order.get("date_created_gmt"))
            if created is not None:
                days.add(created.astimezone(tz).date())
        return days

    def _listed_ids(self, today: date, budget: Budget) -> dict[str, str]:
        """A digest of the ids of the orders the store lists for each of the recent days.

        Trashed orders leave the default listing and deleted ones are gone, and neither shows up
        in `modified_after`: a day whose ids changed since the last run is fetched again.
        """
        tz = self.timezone()
        first = today - timedelta(days=self.config.reconcile_days)
        start = Window.for_day(first, tz).start
        params = {"after": _gmt(start - timedelta(seconds=1)), "_fields": "id,date_created_gmt"}
        orders = self._list_orders(
            params, budget, what="the order ids of recent days", per_page=_ID_PAGE
        )
        ids: dict[date, list[int]] = {
            first + timedelta(days=n): [] for n in range(self.config.reconcile_days + 1)
        }
        for order in orders:
            created = _parse_gmt(order.get("date_created_gmt"))
            day = created.astimezone(tz).date() if created else None
            if day in ids:
                ids[day].append(int(order["id"]))
        return {day.isoformat(): _digest(day_ids) for day, day_ids in ids.items()}

    # --- HTTP -----------------------------------------------------------------------------------

    def _list_orders(
        self,
        params: Mapping[str, Any],
        budget: Budget,
        *,
        what: str,
        per_page: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every order matching `params`, all pages, checked against X-WP-Total if given."""
        retrier = self._retrier(budget)
        size = per_page or self.config.page_size
        return retrier.call(lambda: self._all_pages(params, budget, size), what=f"listing {what}")

    def _all_pages(
        self, params: Mapping[str, Any], budget: Budget, per_page: int
    ) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = []
        totals: set[int] = set()
        seen: set[int] = set()
        page = 1
        while True:
            query = {
                **params,
                "dates_are_gmt": "true",
                "per_page": per_page,
                "page": page,
                "orderby": "id",
                "order": "asc",
            }
            body, headers = self._get_list("/orders", query, budget)
            total = _int_header(headers, "X-WP-Total")
            if total is not None:
                totals.add(total)
            for order in body:
                if not isinstance(order, dict) or not isinstance(order.get("id"), int):
                    shape = sorted(order)[:8] if isinstance(order, dict) else type(order).__name__
                    raise UpstreamDataError(  # its fields, never their values (customer data)
                        f"the store listed an order without a numeric id (fields: {shape})"
                    )
            fresh = [order for order in body if order["id"] not in seen]
            if body and not fresh:
                raise WooPagingError(f"page {page} of the orders repeated an earlier page")
            for order in fresh:
                seen.add(order["id"])
                orders.append(order)
            pages = _int_header(headers, "X-WP-TotalPages")
            # Without the paging headers (a proxy stripped them), a short page is the last.
            last = page >= pages if pages is not None else len(body) < per_page
            if not body or last:
                break
            page += 1
        if totals and (len(totals) > 1 or len(seen) != totals.pop()):
            raise WooPagingError("the orders changed while they were being listed")
        return orders

    def _get_list(
        self, path: str, params: Mapping[str, Any], budget: Budget
    ) -> tuple[list[dict[str, Any]], Mapping[str, str]]:
        body, headers = self._get(path, params, budget)
        if not isinstance(body, list):
            raise WooBodyError("the store answered with JSON that is not a list of orders")
        return body, headers

    def _get(
        self, path: str, params: Mapping[str, Any], budget: Budget
    ) -> tuple[Any, Mapping[str, str]]:
        response = self._send(path, params, budget)
        if (
            response.status_code == 401
            and self.config.auth == "auto"
            and self._auth_mode() == "basic"
            and _error_code(response) == "woocommerce_rest_cannot_view"
        ):
            # WooCommerce saw no Basic auth: the host dropped the Authorization header, or
            # WordPress does not see HTTPS (TLS ends at a proxy in front of it) and checks OAuth
            # 1.0a signatures against its http:// URL. Signatures travel in the query string.
            for scheme in (urlsplit(self.base_url).scheme, "http"):
                self._signed_as = scheme
                response = self._send(path, params, budget)
                if _error_message(response) != _BAD_SIGNATURE:
                    break
            log.info(
                "%s: WooCommerce ignored Basic auth; requests are signed with OAuth 1.0a for %s://",
                self.spec.label,
                self._signed_as,
            )
        if response.status_code != 200:
            raise _http_error(response)
        try:
            body = response.json()
        except ValueError:
            page, title = _page(response)
            raise WooBodyError(
                f"the store's firewall or host answered HTTP 200 with {page}, not WooCommerce"
                + (f": {title}" if title else "")
            ) from None
        return body, response.headers

    def _send(self, path: str, params: Mapping[str, Any], budget: Budget) -> requests.Response:
        query = dict(params)
        auth: Any = None
        key, secret = self._credentials
        mode = self._auth_mode()
        if mode != "oauth1" and not self._warned_cleartext and self.base_url.startswith("http:"):
            self._warned_cleartext = True
            log.warning(
                "%s: auth=%s sends the consumer secret unencrypted over http://; WooCommerce "
                "accepts it only where WordPress sees HTTPS (auth=auto signs with OAuth 1.0a)",
                self.spec.label,
                mode,
            )
        if mode == "query":
            query.update(consumer_key=key, consumer_secret=secret)
        elif mode == "basic":
            auth = (key, secret)
        else:
            if self._signer is None or self._signer.as_scheme != self._signed_as:
                self._signer = _OAuth1Signer(key, secret, as_scheme=self._signed_as)
            auth = self._signer
        url = self.base_url + path
        response = self._http().get(
            url,
            params=query,
            auth=auth,
            timeout=budget.timeout(self.config.timeout_seconds),
            allow_redirects=mode != "oauth1",  # a signature holds for the URL it signed only
        )
        if response.is_redirect and self._moved_to is None:
            target = urlsplit(urljoin(response.url, response.headers["Location"]))
            if target.scheme == "https" and target.path.endswith(urlsplit(url).path):
                # An http:// store that redirects to HTTPS: carry on there (Basic, for auto).
                root = target.path[: len(target.path) - len(urlsplit(url).path)]
                self._moved_to = urlunsplit(("https", target.netloc, root, "", ""))
                log.info("%s: the store redirects to %s", self.spec.label, self._moved_to)
                return self._send(path, params, budget)
        return response

    def _auth_mode(self) -> str:
        """How requests are authenticated: basic, query or oauth1 (`auto` resolved)."""
        if self._signed_as is not None:
            return "oauth1"
        if self.config.auth != "auto":
            return self.config.auth
        return "oauth1" if urlsplit(self.base_url).scheme == "http" else "basic"

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

    def _classify_currency(self, exc: BaseException) -> Fault | None:
        """As `_classify`; a key that may not read settings (403) or a store without the
        endpoint (404, WooCommerce before 3.5) is told to set the currency."""
        if isinstance(exc, WooHttpError) and exc.is_woocommerce and exc.status in (403, 404):
            return Fault(
                f"the store would not tell its currency ({_said(exc)})",
                False,
                hint="set it with --setting currency=EUR (the store's ISO 4217 code), or use a "
                "key of a user who may manage WooCommerce (a shop manager or an administrator)",
            )
        return self._classify(exc)


class _OAuth1Signer:
    """Signs each request with OAuth 1.0a, one-legged (consumer key and secret, no token), as
    WooCommerce checks it: HMAC-SHA256, the parameters in the query string, a new nonce each
    time. `as_scheme` signs the URL in that scheme (the one WordPress sees) and sends it as is.
    """

    def __init__(self, key: str, secret: str, *, as_scheme: str | None = None) -> None:
        from requests_oauthlib import OAuth1  # type: ignore[import-untyped]

        self.as_scheme = as_scheme
        self._sign = OAuth1(key, secret, signature_method="HMAC-SHA256", signature_type="query")

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        real = urlsplit(str(request.url))
        if self.as_scheme is None or self.as_scheme == real.scheme:
            signed: requests.PreparedRequest = self._sign(request)
            return signed
        request.url = urlunsplit(real._replace(scheme=self.as_scheme))
        signed = self._sign(request)
        signed.url = urlunsplit(urlsplit(str(signed.url))._replace(scheme=real.scheme))
        return signed


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
    said = _said(exc)
    if 300 <= exc.status < 400:
        return Fault(
            f"the store redirects its REST API elsewhere (HTTP {exc.status} to {exc.message})",
            False,
            hint="give the URL it redirects to as the source's --account (or --endpoint)",
        )
    if exc.status == 404:
        return Fault(
            f"no WooCommerce REST API at {store}{API} ({said})",
            False,
            hint="check the store URL (--account) and that WordPress permalinks are enabled",
        )
    if not exc.is_woocommerce:
        return _host_fault(exc, said)
    if exc.status == 429 or exc.status >= 500:
        return Fault(f"the store answered {said}", True, retry_after(exc.headers))
    if exc.status in (401, 403):
        hint = "check the consumer key and secret (KEY:SECRET, a key with Read access)"
        if exc.code == "woocommerce_rest_cannot_view" and exc.status == 401:
            hint += (
                "; WooCommerce found no key it accepts: Basic auth and auth=query count only "
                "when WordPress sees HTTPS, over plain http only OAuth 1.0a does (auth=auto)"
            )
        return Fault(f"the store refused the credentials ({said})", False, hint=hint)
    return Fault(f"the store refused the request ({said})", False)


def _host_fault(exc: WooHttpError, said: str) -> Fault:
    """An answer from in front of WordPress: a firewall's or the host's page, not WooCommerce."""
    if exc.status == 401:
        return Fault(
            f"the web server asked for a password before WordPress answered ({said})",
            False,
            hint="the site is protected in front of WordPress (a staging site?): dpo cannot "
            "pass that protection; the key was not checked",
        )
    title = f": {exc.message}" if exc.message else ""
    return Fault(
        f"the store's firewall or host refused the request ({said}, not WooCommerce){title}",
        True,
        retry_after(exc.headers),
        hint="the request never reached WooCommerce, so the key was not checked; if this "
        "lasts, allow dpo's requests to /wp-json/wc/v3/ in the firewall (Cloudflare, "
        "Sucuri, Wordfence, ModSecurity) or ask the host",
    )


def _said(exc: WooHttpError) -> str:
    """`HTTP 401 code: message`, or `HTTP 403, an HTML page` for a non-WooCommerce answer."""
    if not exc.is_woocommerce:
        return f"HTTP {exc.status}, {exc.page}"
    said = f"HTTP {exc.status}" + (f" {exc.code}" if exc.code else "")
    if exc.message:
        said += f": {short(exc.message)}"
    return said


def _http_error(response: requests.Response) -> WooHttpError:
    if response.is_redirect:
        location = short(response.headers.get("Location", ""), 120)
        return WooHttpError(response.status_code, "", location, response.headers, page="")
    code = _error_code(response)
    if code is None:
        page, title = _page(response)
        return WooHttpError(response.status_code, "", title, response.headers, page=page)
    return WooHttpError(
        response.status_code, code, _error_message(response) or "", response.headers
    )


def _error_message(response: requests.Response) -> str | None:
    """The `message` of WordPress's JSON error envelope, or None."""
    if _error_code(response) is None:
        return None
    return str(response.json().get("message", ""))


def _error_code(response: requests.Response) -> str | None:
    """The `code` of WordPress's JSON error envelope, or None when the body is something else."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("code"), str) and "message" in body:
        return str(body["code"])
    return None


def _page(response: requests.Response) -> tuple[str, str]:
    """What a body that is not WooCommerce's JSON is (`an HTML page`…), and its title if any."""
    text = response.text.strip()
    if not text:
        return "an empty page", ""
    if "html" in response.headers.get("Content-Type", "").lower() or text.startswith("<"):
        title = _TITLE.search(text)
        return "an HTML page", short(title.group(1), 80) if title else ""
    try:
        response.json()
    except ValueError:
        return "a page that is not JSON", ""
    return "JSON that is not WooCommerce's", ""


def _digest(ids: list[int]) -> str:
    text = ",".join(str(i) for i in sorted(ids))
    return f"{len(ids)}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_gmt(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
    except ValueError:
        raise UpstreamDataError(
            f"the store sent an order date dpo cannot read: {short(value)}"
        ) from None


def _money(value: object, metric: str, order: Mapping[str, Any]) -> Decimal:
    """An order's amount (text), checked as `metric` is (a finite number within range)."""
    number = checked_number(
        metric, value or 0, upstream="WooCommerce", where=f"for order {order.get('id')}"
    )
    return Decimal(number)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None
