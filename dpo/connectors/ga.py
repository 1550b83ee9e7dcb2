"""Google Analytics 4: sessions, users, purchases, key events and revenue by channel group.

Through the official client (google-analytics-data, `BetaAnalyticsDataClient`, REST transport)
with a service-account key (the JSON file's content is the source's secret) or, without a
secret, Application Default Credentials. Two `runReport`s per window (a day in the property's
time zone), both split by `sessionDefaultChannelGroup` (x the configured campaign dimension)
and paged with limit/offset until `rowCount`:

- per `dateHour`: sessions, totalUsers, keyEvents (as conversions), purchases
  (`ecommercePurchases` or `transactions`, as orders) and revenue (`purchaseRevenue` or
  `totalRevenue`), as facts of grain `hour`;
- per `date`: sessions and totalUsers, as a fact of grain `day`. GA counts both as distinct
  sessions and users, so a session with events in two hours is in both hours: the day's own
  figure is the day's, and the hours are its shape (see `dpo.rollup.statements`).

- `dateHour` is in the property's time zone, which GA states in every response
  (`metadata.timeZone`); it is converted to UTC. On the autumn DST change GA folds the
  repeated hour into one `dateHour`; it is stored at the first of the two UTC hours.
- What GA says about a report's completeness (`subjectToThresholding`, `dataLossFromOtherRow`,
  sampling) is kept per window as data-quality flags.
- Each request asks for the property's quota (`returnPropertyQuota`); when the hour's, the
  day's or the project's hourly tokens fall below `quota_reserve_tokens`, the run stops (exit
  75) before spending them. A quota GA says is exhausted stops the run at once: its tokens
  return within the hour (or the day), beyond any retry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from dpo.connectors.base import Budget, Connector, FactRow, Role, RunPlan, SourceSpec, Window
from dpo.connectors.settings import UpstreamSettings, ZoneName
from dpo.connectors.upstream import (
    Fault,
    Retrier,
    check_source_settings,
    checked_number,
    retry_after,
    short,
    source_settings,
)
from dpo.errors import ConfigError, DpoError, TryLaterError, UpstreamDataError
from dpo.vocab import DataQuality, Grain

if TYPE_CHECKING:
    from google.analytics.data_v1beta import BetaAnalyticsDataClient
    from google.analytics.data_v1beta.types import ResponseMetaData, RunReportResponse

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
# GA4 properties hold no data before 14 August 2015, the oldest date the Data API serves:
# history starts there at the earliest.
FIRST_DAY = date(2015, 8, 14)
DISTINCT = ("sessions", "totalUsers")  # GA's distinct counts: the day's own figures
CHANNEL = "sessionDefaultChannelGroup"
_MICRO = Decimal("0.000001")


@dataclass
class _Report:
    """Every row of one report (all pages), with what GA said about it."""

    rows: list[Any] = field(default_factory=list)
    currency: str = ""
    quality: set[DataQuality] = field(default_factory=set)


class GaSettings(UpstreamSettings):
    """`[ga]`: Google Analytics 4 Data API."""

    campaign_dimension: str | None = None  # e.g. sessionCampaignName; None: channels only
    purchases_metric: Literal["ecommercePurchases", "transactions"] = "ecommercePurchases"
    revenue_metric: Literal["purchaseRevenue", "totalRevenue"] = "purchaseRevenue"
    page_size: int = Field(default=100_000, ge=1, le=250_000)
    quota_reserve_tokens: int = Field(default=2_000, ge=0)  # stop before the hour's quota ends
    timezone: ZoneName | None = None  # the property's time zone; None: read from GA


class GaConnector(Connector):
    """A GA4 property; the source's account is the numeric property id."""

    kind = "ga"
    summary = "Google Analytics 4 (Data API): sessions, users, purchases and revenue by channel"
    account_help = "the GA4 property id, e.g. 123456789"
    role = Role.analytics
    settings_model = GaSettings
    metrics = frozenset({"sessions", "users", "conversions", "orders", "revenue"})
    default_lookback_days = 3

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self.config = source_settings(GaSettings, spec)
        self._client: BetaAnalyticsDataClient | None = None
        self._tz: ZoneInfo | None = _zone(self.config.timezone) if self.config.timezone else None
        self._quota_left: int | None = None
        self._quality: dict[date, frozenset[DataQuality]] = {}

    @classmethod
    def canonical_account(cls, account: str) -> str:
        """The property number: `properties/123` and `123` are one property."""
        return account.strip().removeprefix("properties/")

    @classmethod
    def normalize_settings(
        cls, account: str, settings: Mapping[str, Any], *, today: date
    ) -> dict[str, Any]:
        if not account.removeprefix("properties/").isdigit():
            raise ValueError(
                f"a ga source's account is the GA4 property id (digits); got {account!r}"
            )
        checked = check_source_settings(GaSettings, settings)
        if checked.get("timezone"):
            _zone(checked["timezone"])
        return checked

    @property
    def property(self) -> str:
        return "properties/" + self.spec.account.removeprefix("properties/")

    # --- the engine's hooks -------------------------------------------------------------------

    def prepare(self, state: Mapping[str, Any], *, now: datetime, budget: Budget) -> RunPlan:
        if self._tz is None:
            reported = self._probe(budget).metadata.time_zone
            try:
                self._tz = _zone(reported)
            except ValueError:
                raise DpoError(
                    f"GA reports the time zone {short(reported)!r}, which dpo does not know",
                    hint="set the property's zone with --setting timezone=…",
                ) from None
        return RunPlan()

    def timezone(self) -> ZoneInfo:
        return self._tz or ZoneInfo(self.spec.org_timezone)

    def available_from(self, now: datetime) -> date:
        return FIRST_DAY

    def fetch_window(self, window: Window, *, now: datetime, budget: Budget) -> Iterator[FactRow]:
        hourly = self._read(window.day, "dateHour", self._hour_metrics(), budget)
        daily = self._read(window.day, "date", DISTINCT, budget)
        self._quality[window.day] = frozenset(hourly.quality | daily.quality)
        rows: dict[tuple[datetime, str, str], FactRow] = {}
        for row in hourly.rows:
            _merge(rows, self._hour_fact(row, hourly.currency))
        yield from rows.values()
        for row in daily.rows:
            yield self._day_fact(row, window, daily.currency)

    def data_quality(self, window: Window) -> frozenset[DataQuality]:
        return self._quality.pop(window.day, frozenset())

    def _hour_metrics(self) -> tuple[str, ...]:
        return (*DISTINCT, "keyEvents", self.config.purchases_metric, self.config.revenue_metric)

    def check(self) -> str:
        response = self._probe(Budget())
        quota = response.property_quota.tokens_per_day
        return (
            f"GA4 {self.property} answered: time zone {response.metadata.time_zone}, "
            f"currency {response.metadata.currency_code}, {quota.remaining:,} tokens left today"
        )

    def close(self) -> None:
        self._client = None

    # --- verification ---------------------------------------------------------------------------

    def learn_timezone(self, *, budget: Budget) -> ZoneInfo:
        if self._tz is None:
            self.prepare({}, now=datetime.now(UTC), budget=budget)
        return self.timezone()

    def daily_totals(
        self, first: date, last: date, *, budget: Budget
    ) -> dict[date, dict[str, Decimal]]:
        """GA's own report of the days by `date` alone (no hour, no channel): sessions, key
        events (conversions), purchases (orders) and revenue, with the configured metrics.

        Every session has one default channel group, so the stored channels' figures add up to
        the day's. Users are not compared: a user who came through two channels in a day is in
        both channels' figures dpo keeps, and once in GA's total. GA leaves out a day with no
        data (`keepEmptyRows`); it counts as zero.
        """
        from dpo.localdays import days

        metrics = (
            "sessions",
            "keyEvents",
            self.config.purchases_metric,
            self.config.revenue_metric,
        )
        names = ("sessions", "conversions", "orders", "revenue")
        totals = {day: dict.fromkeys(names, Decimal(0)) for day in days(first, last)}
        rows: list[Any] = []
        while True:
            response = self._date_report(first, last, metrics, offset=len(rows), budget=budget)
            self._check_zone(response)
            rows.extend(response.rows)
            if not response.rows or len(rows) >= response.row_count:
                break
        for row in rows:
            day = datetime.strptime(row.dimension_values[0].value, "%Y%m%d").date()
            if day in totals:
                values = [Decimal(v.value or 0) for v in row.metric_values]
                totals[day] = dict(zip(names, values, strict=True))
        return totals

    def _date_report(
        self, first: date, last: date, metrics: tuple[str, ...], *, offset: int, budget: Budget
    ) -> RunReportResponse:
        """One page of the report of first…last by `date` alone, within the property's quota."""
        from google.analytics.data_v1beta.types import (
            DateRange,
            Dimension,
            Metric,
            RunReportRequest,
        )

        request = RunReportRequest(
            property=self.property,
            date_ranges=[DateRange(start_date=first.isoformat(), end_date=last.isoformat())],
            dimensions=[Dimension(name="date")],
            metrics=[Metric(name=m) for m in metrics],
            limit=self.config.page_size,
            offset=offset,
            return_property_quota=True,
        )
        return self._run(request, budget=budget, what=f"the daily report of {first}…{last}")

    # --- reports --------------------------------------------------------------------------------

    def _probe(self, budget: Budget) -> RunReportResponse:
        """The cheapest report there is (one row of today), for its metadata and quota."""
        today = datetime.now(UTC).date()
        return self._report(today, "date", ("sessions",), offset=0, budget=budget, limit=1)

    def _read(self, day: date, period: str, metrics: tuple[str, ...], budget: Budget) -> _Report:
        """Every page of the report of `day` by `period` (date or dateHour) and segment.

        Offset pages of a report that changes while it is read can repeat or skip rows (GA
        pages a fresh query each time): a read is complete only when it has `rowCount` rows,
        no row twice, and the same `rowCount` on every page; else it is read once more from
        the start, then left for the next run (exit 75), never written short or doubled.
        """
        for attempt in range(2):
            report = self._read_pages(day, period, metrics, budget)
            if report is not None:
                return report
            if attempt == 0:
                log.info("%s: GA's report of %s changed while it was paged", self.spec.label, day)
        raise TryLaterError(
            f"GA's {period} report of {day} kept changing while it was read page by page "
            "(rows repeated or missing); nothing was written for that day",
            hint="the next run reads it again",
        )

    def _read_pages(
        self, day: date, period: str, metrics: tuple[str, ...], budget: Budget
    ) -> _Report | None:
        report = _Report()
        keys: set[tuple[str, ...]] = set()
        counts: set[int] = set()
        while True:
            response = self._report(day, period, metrics, offset=len(report.rows), budget=budget)
            self._check_zone(response)
            report.currency = response.metadata.currency_code
            report.quality |= _quality(response.metadata)
            counts.add(response.row_count)
            for row in response.rows:
                key = tuple(v.value for v in row.dimension_values)
                if key in keys:
                    return None
                keys.add(key)
            report.rows.extend(response.rows)
            if len(counts) > 1:
                return None
            if len(report.rows) >= response.row_count:
                return report if len(report.rows) == response.row_count else None
            if not response.rows:  # an empty page before rowCount: the report shrank
                return None

    def _report(
        self,
        day: date,
        period: str,
        metrics: tuple[str, ...],
        *,
        offset: int,
        budget: Budget,
        limit: int | None = None,
    ) -> RunReportResponse:
        from google.analytics.data_v1beta.types import (
            DateRange,
            Dimension,
            Metric,
            RunReportRequest,
        )

        dimensions = [period, CHANNEL]
        if self.config.campaign_dimension:
            dimensions.append(self.config.campaign_dimension)
        request = RunReportRequest(
            property=self.property,
            date_ranges=[DateRange(start_date=day.isoformat(), end_date=day.isoformat())],
            dimensions=[Dimension(name=d) for d in dimensions],
            metrics=[Metric(name=m) for m in metrics],
            limit=limit or self.config.page_size,
            offset=offset,
            return_property_quota=True,
        )
        return self._run(request, budget=budget, what=f"the report of {day}")

    def _run(self, request: Any, *, budget: Budget, what: str) -> RunReportResponse:
        """Run one report request within the property's quota, retried as faults allow; keep
        the tokens it says are left."""
        self._check_quota()
        client = self._connect()
        retrier = Retrier(
            label=self.spec.label, classify=classify, budget=budget, settings=self.config
        )
        response: RunReportResponse = retrier.call(
            lambda: client.run_report(
                request=request, timeout=budget.timeout(self.config.timeout_seconds)
            ),
            what=what,
        )
        quota = response.property_quota
        self._quota_left = min(
            quota.tokens_per_hour.remaining,
            quota.tokens_per_day.remaining,
            quota.tokens_per_project_per_hour.remaining,
        )
        return response

    def _check_quota(self) -> None:
        """Stop before the property's quota runs out, rather than be refused halfway."""
        if self._quota_left is not None and self._quota_left < self.config.quota_reserve_tokens:
            raise TryLaterError(
                f"GA quota nearly spent ({self._quota_left:,} tokens left, "
                f"{self.config.quota_reserve_tokens:,} kept in reserve); the next run carries on"
            )

    def _check_zone(self, response: RunReportResponse) -> None:
        reported = response.metadata.time_zone
        if reported and self._tz is not None and reported != self._tz.key:
            raise DpoError(
                f"the GA property's time zone is {reported}, but dpo reads it as {self._tz.key}",
                hint=f"set it with --setting timezone={reported} (or remove the setting)",
            )

    def _hour_fact(self, row: Any, currency: str) -> FactRow:
        dims, values = _cells(row, 2, 5)
        where = f"for channel {short(dims[1], 60)} in the hour {short(dims[0], 20)}"
        fact = FactRow(
            Grain.hour, _utc_hour(dims[0], self.timezone()), **self._segment(dims, currency)
        )
        fact.metrics.update(
            _figures(("sessions", "users", "conversions", "orders", "revenue"), values, where)
        )
        return fact

    def _day_fact(self, row: Any, window: Window, currency: str) -> FactRow:
        dims, values = _cells(row, 2, 2)
        if dims[0] != f"{window.day:%Y%m%d}":
            raise UpstreamDataError(
                f"GA answered the report of {window.day} with the date {short(dims[0])}"
            )
        where = f"for channel {short(dims[1], 60)} on {window.day}"
        fact = FactRow(Grain.day, window.start, **self._segment(dims, currency))
        fact.metrics.update(_figures(("sessions", "users"), values, where))
        return fact

    def _segment(self, dims: list[str], currency: str) -> dict[str, Any]:
        campaign = dims[2] if len(dims) > 2 else ""
        return {
            "channel": dims[1],
            "campaign": campaign,
            "campaign_name": campaign or None,
            "currency": currency or None,
        }

    def _connect(self) -> BetaAnalyticsDataClient:
        if self._client is None:
            from google.analytics.data_v1beta import BetaAnalyticsDataClient

            options = {"api_endpoint": self.spec.endpoint} if self.spec.endpoint else None
            self._client = BetaAnalyticsDataClient(
                credentials=self._credentials(), transport="rest", client_options=options
            )
        return self._client

    def _credentials(self) -> Any:
        from google.oauth2 import service_account

        hint = "download a JSON key of a service account with Viewer access to the property"
        if not self.spec.secret:
            return _default_credentials()
        try:
            info = json.loads(self.spec.secret)
            return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[SCOPE]
            )
        except (ValueError, KeyError, TypeError):
            raise ConfigError("the secret is not a service-account JSON key", hint=hint) from None


def _default_credentials() -> Any:
    """Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth
    application-default login`, or the metadata server of the machine it runs on)."""
    import google.auth
    from google.auth import exceptions as auth_exc
    from google.auth.credentials import with_scopes_if_required

    try:
        # Scoped afterwards: with scopes, google-auth would also look up the Cloud project of
        # federated credentials (a Resource Manager call), which dpo does not need.
        credentials, _project = google.auth.default()
        credentials = with_scopes_if_required(credentials, [SCOPE])  # type: ignore[no-untyped-call]
    except auth_exc.DefaultCredentialsError:
        raise ConfigError(
            "no service-account key, and no Application Default Credentials found",
            hint="give the source a service-account JSON key (--secret-file or --secret-env), "
            "or set up ADC: `gcloud auth application-default login --scopes="
            f"{SCOPE},https://www.googleapis.com/auth/cloud-platform` or "
            "GOOGLE_APPLICATION_CREDENTIALS",
        ) from None
    return credentials


def _quality(metadata: ResponseMetaData) -> set[DataQuality]:
    """The data-quality flags of a report's metadata."""
    flags = set()
    if metadata.subject_to_thresholding:
        flags.add(DataQuality.thresholded)
    if metadata.data_loss_from_other_row:
        flags.add(DataQuality.other_row)
    if metadata.sampling_metadatas:
        flags.add(DataQuality.sampled)
    return flags


def classify(exc: BaseException) -> Fault | None:
    """How to treat a failure of a GA Data API call."""
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc
    from google.protobuf.json_format import ParseError

    if isinstance(exc, gexc.GoogleAPICallError):
        return _api_fault(exc)
    if isinstance(exc, ParseError | json.JSONDecodeError):
        return Fault("GA answered with a body that is not the JSON expected", is_transient=True)
    if isinstance(exc, requests.Timeout):
        return Fault("GA did not answer in time", is_transient=True)
    if isinstance(exc, requests.ConnectionError | auth_exc.TransportError):
        return Fault("cannot connect to the GA Data API", is_transient=True)
    if isinstance(exc, auth_exc.RefreshError):
        return Fault("the service-account key was refused", is_transient=False)
    return None


def _api_fault(exc: Any) -> Fault:
    status = int(exc.code or 0)
    response = getattr(exc, "response", None)
    envelope = _envelope(response)
    said = f"HTTP {status}" + (f" {envelope[0]}" if envelope[0] else "")
    exhausted = _exhausted_for(envelope[1])
    if exhausted is not None:  # tokens return within the hour or day: no retry can succeed
        return Fault(f"GA quota exhausted ({said}: {short(envelope[1])})", True, exhausted)
    if status == 429 or status >= 500:
        headers = getattr(response, "headers", None)
        return Fault(f"GA answered {said}", True, retry_after(headers))
    if envelope[1]:
        said += f": {short(envelope[1])}"
    if status == 401:
        return Fault(
            f"GA refused the credentials ({said})",
            False,
            hint="check the service-account key (is it deleted or disabled?)",
        )
    if status == 403:
        return Fault(
            f"GA refused access to the property ({said})",
            False,
            hint="add the service account's e-mail as Viewer in GA Admin → Property access "
            "management, and enable the Google Analytics Data API in its Cloud project",
        )
    return Fault(
        f"GA refused the report ({said})",
        False,
        hint="check the property id (--account) and the campaign_dimension setting",
    )


def _exhausted_for(message: str) -> float | None:
    """Seconds until an exhausted token quota returns, from GA's message (None: not one).

    GA says "Exhausted property tokens per hour." (or "… per day.", "… for a project per
    hour."); concurrent-request quotas ("Exhausted concurrent requests quota.") pass in
    seconds and are retried as usual.
    """
    if "tokens" not in message or not message.startswith("Exhausted"):
        return None
    now = datetime.now(UTC)
    if "per day" in message:  # GA's days end at midnight Pacific time
        return 24 * 3600.0
    top = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return max(60.0, (top - now).total_seconds())


def _envelope(response: Any) -> tuple[str, str]:
    """(status, message) of a Google error envelope, if the body is one."""
    try:
        error = response.json()["error"]
        return str(error.get("status", "")), str(error.get("message", ""))
    except (AttributeError, ValueError, KeyError, TypeError):
        return "", ""


def _utc_hour(date_hour: str, tz: ZoneInfo) -> datetime:
    """`YYYYMMDDHH` in the property's zone → the UTC start of that hour."""
    local = datetime.strptime(date_hour, "%Y%m%d%H")
    return local.replace(tzinfo=tz).astimezone(UTC)


def _cells(row: Any, dimensions: int, metrics: int) -> tuple[list[str], list[str]]:
    """A report row's dimension and metric values, or UpstreamDataError when it has fewer."""
    dims = [v.value for v in row.dimension_values]
    values = [v.value for v in row.metric_values]
    if len(dims) < dimensions or len(values) < metrics:
        raise UpstreamDataError(
            f"GA sent a report row with {len(dims)} dimensions and {len(values)} metrics, "
            f"not the {dimensions} and {metrics} asked for"
        )
    return dims, values


def _figures(names: tuple[str, ...], values: list[str], where: str) -> dict[str, int | Decimal]:
    """GA's metric values (text) as numbers, checked; money and key events to the micro."""
    out: dict[str, int | Decimal] = {}
    for name, value in zip(names, values, strict=False):
        number = checked_number(name, value or 0, upstream="GA", where=where)
        out[name] = number if isinstance(number, int) else number.quantize(_MICRO)
    return out


def _merge(rows: dict[tuple[datetime, str, str], FactRow], row: FactRow) -> None:
    """Add `row`, summing into a row of the same key (GA's folded DST hour)."""
    key = (row.period_start, row.channel, row.campaign)
    if key not in rows:
        rows[key] = row
        return
    old = rows[key].metrics
    for metric in old:
        a, b = old[metric], row.metrics[metric]
        old[metric] = None if a is None or b is None else a + b


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None
