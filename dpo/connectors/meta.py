"""Meta Ads: campaign spend, impressions and clicks per hour and per day; purchases per day.

Through the official SDK (facebook-business) at a pinned, configurable API version, with a
(system-user) access token as the source's secret (`ACCESS_TOKEN`, or `ACCESS_TOKEN:APP_SECRET`
to sign every call with an app secret proof). Per window — a day in the ad account's time zone,
which is read from the account with its currency:

- hourly spend / impressions / clicks per campaign, with the breakdown
  `hourly_stats_aggregated_by_advertiser_time_zone`, one day per request (a longer range would
  sum the hours of different days). On the autumn DST change Meta folds the repeated local hour
  into one bucket; it is stored at the first of the two UTC hours. Meta estimates breakdown
  values, so the hours give the day's shape, not its total.
- per campaign and day (grain `day`): Meta's own spend, impressions and clicks of the day, and
  the purchases and purchase value from `actions` / `action_values` (the configured
  `purchase_action_type`, default `omni_purchase`), which Meta does not give with hourly
  breakdowns, as `attributed_conversions` / `attributed_revenue`: the configured
  `attribution_windows` (default 7d_click, 1d_view) summed, never Meta's `value` (the ad sets'
  default attribution).

Every request asks for campaigns of every effective status, so a campaign deleted or archived
later keeps its past days. Every run re-fetches today and yesterday; the first run of each day
in the account's time zone re-fetches the last `restatement_days` (default 28), as conversions
are attributed late. Meta keeps insights for 37 months: older days are not planned
(`available_from`). Requests for days before yesterday (restatement, backfill) run as async
report runs when `async_reports` is `auto`; see `dpo.connectors.meta_api` for the calls. When
Meta finds a day's insights too large, they are asked again per half of the campaigns, halving
until each part fits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from dpo.connectors.base import (
    Budget,
    Connector,
    FactRow,
    Role,
    RunPlan,
    SourceSpec,
    Window,
    once_a_day,
)
from dpo.connectors.meta_api import MetaApi, TooMuchDataError
from dpo.connectors.settings import NameList, UpstreamSettings
from dpo.connectors.upstream import (
    check_source_settings,
    checked_number,
    short,
    source_settings,
)
from dpo.errors import DpoError, UpstreamDataError
from dpo.vocab import Grain

log = logging.getLogger(__name__)

HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
HOURLY_FIELDS = ("campaign_id", "campaign_name", "impressions", "clicks", "spend")
DAILY_FIELDS = (
    "campaign_id",
    "campaign_name",
    "spend",
    "impressions",
    "clicks",
    "actions",
    "action_values",
)
RETENTION_MONTHS = 37  # how far back Meta keeps insights


class MetaSettings(UpstreamSettings):
    """`[meta]`: Meta Marketing API (ads insights)."""

    api_version: str = Field(default="v26.0", pattern=r"^v[0-9]+\.[0-9]+$")
    restatement_days: int = Field(default=28, ge=0, le=400)
    attribution_windows: NameList = Field(default_factory=lambda: ["7d_click", "1d_view"])
    purchase_action_type: str = "omni_purchase"
    channel: str = "Paid Social"
    async_reports: Literal["auto", "always", "never"] = "auto"
    async_timeout_seconds: float = Field(default=600.0, gt=0)
    page_size: int = Field(default=500, ge=1, le=5_000)
    usage_pause_percent: float = Field(default=90.0, gt=0, le=100)


class MetaConnector(Connector):
    """A Meta ad account; the source's account is its id (`act_123…` or the digits)."""

    kind = "meta"
    summary = "Meta Ads (Marketing API insights): spend, impressions, clicks, attributed purchases"
    account_help = "the ad account id, e.g. act_1234567"
    role = Role.ads
    needs_secret = True
    settings_model = MetaSettings
    metrics = frozenset(
        {"impressions", "clicks", "spend", "attributed_conversions", "attributed_revenue"}
    )
    default_lookback_days = 1  # today and yesterday; restatement is once a day

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self.config = source_settings(MetaSettings, spec)
        self.api = MetaApi(spec, self.config)
        self._tz: ZoneInfo | None = None
        self._currency: str | None = None

    @classmethod
    def canonical_account(cls, account: str) -> str:
        """`act_` and the digits: `999` and `act_999` are one ad account."""
        digits = account.strip().removeprefix("act_")
        return f"act_{digits}" if digits.isdigit() else account.strip()

    @classmethod
    def normalize_settings(
        cls, account: str, settings: Mapping[str, Any], *, today: date
    ) -> dict[str, Any]:
        if not account.removeprefix("act_").isdigit():
            raise ValueError(
                "a meta source's account is the ad account id, such as act_1234567; "
                f"got {account!r}"
            )
        return check_source_settings(MetaSettings, settings)

    # --- the engine's hooks -------------------------------------------------------------------

    def prepare(self, state: Mapping[str, Any], *, now: datetime, budget: Budget) -> RunPlan:
        self._learn_account(budget)
        today = now.astimezone(self.timezone()).date()
        restate, new_state = once_a_day(
            state, key="restated_on", today=today, days=self.config.restatement_days
        )
        return RunPlan(changed_days=restate, state=new_state)

    def timezone(self) -> ZoneInfo:
        return self._tz or ZoneInfo(self.spec.org_timezone)

    def available_from(self, now: datetime) -> date:
        """The oldest local day Meta still has insights for: 37 months before tomorrow (a day's
        margin, as Meta's own date may be ahead of the account's)."""
        today = now.astimezone(self.timezone()).date()
        return _months_before(today + timedelta(days=1), RETENTION_MONTHS)

    def fetch_window(self, window: Window, *, now: datetime, budget: Budget) -> Iterator[FactRow]:
        if self._tz is None:
            self._learn_account(budget)
        hourly, daily = self._read_window(window.day, budget, self._is_async(window.day, now))
        yield from self._hourly_facts(hourly, window)
        yield from self._daily_facts(daily, window)

    def _read_window(
        self, day: date, budget: Budget, is_async: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The day's hourly and daily rows. A row that comes twice (a campaign's hour, or its
        day) means the report shifted while it was paged: it is read again once, then left
        for the next run, never added up or written short."""
        attribution = {"action_attribution_windows": self.config.attribution_windows}
        for attempt in range(2):
            hourly = self._insights(
                day, HOURLY_FIELDS, {"breakdowns": [HOURLY]}, budget=budget, is_async=is_async
            )
            daily = self._insights(day, DAILY_FIELDS, attribution, budget=budget, is_async=is_async)
            twice = _twice(hourly, ("campaign_id", HOURLY)) or _twice(daily, ("campaign_id",))
            if twice is None:
                return hourly, daily
            if attempt == 0:
                log.info(
                    "%s: Meta sent %s twice on %s; reading it again", self.spec.label, twice, day
                )
        raise UpstreamDataError(
            f"Meta sent the insights row of {twice} on {day} twice, in two reads (its pages "
            "shifted while they were read); nothing was written for that day",
            hint="the next run reads it again",
        )

    def check(self) -> str:
        info = self.api.account(Budget())
        return (
            f"Meta ad account {info.get('name', self.api.account_id)} answered: "
            f"time zone {info.get('timezone_name')}, currency {info.get('currency')}"
        )

    def close(self) -> None:
        self.api.close()

    # --- verification ---------------------------------------------------------------------------

    def learn_timezone(self, *, budget: Budget) -> ZoneInfo:
        if self._tz is None:
            self._learn_account(budget)
        return self.timezone()

    def daily_totals(
        self, first: date, last: date, *, budget: Budget
    ) -> dict[date, dict[str, Decimal]]:
        """Meta's own figures of the whole ad account per day (`level=account`,
        `time_increment=1`, no breakdown): spend, impressions, clicks, and the configured
        purchases and purchase value in the configured attribution windows, as the connector's
        campaign days add up. A day without delivery has no row; it counts as zero."""
        from dpo.localdays import days

        wanted, windows = self.config.purchase_action_type, self.config.attribution_windows
        names = ("spend", "impressions", "clicks", "attributed_conversions", "attributed_revenue")
        totals = {day: dict.fromkeys(names, Decimal(0)) for day in days(first, last)}
        for row in self._account_days(first, last, budget):
            day = date.fromisoformat(str(row.get("date_start")))
            if day in totals:
                totals[day] = {
                    "spend": _decimal(row.get("spend")),
                    "impressions": _decimal(row.get("impressions")),
                    "clicks": _decimal(row.get("clicks")),
                    "attributed_conversions": _attributed(row.get("actions"), wanted, windows)
                    or Decimal(0),
                    "attributed_revenue": _attributed(row.get("action_values"), wanted, windows)
                    or Decimal(0),
                }
        return totals

    def _account_days(self, first: date, last: date, budget: Budget) -> list[dict[str, Any]]:
        """The account's daily rows of first…last; when Meta finds them too large, asked again
        per half of the days, halving until each part fits."""
        fields = ("spend", "impressions", "clicks", "actions", "action_values")
        extra = {"action_attribution_windows": self.config.attribution_windows}
        try:
            return self.api.account_days(first, last, fields, extra, budget=budget)
        except TooMuchDataError:
            if first == last:
                raise
        middle = first + (last - first) // 2
        return self._account_days(first, middle, budget) + self._account_days(
            middle + timedelta(days=1), last, budget
        )

    # --- facts ----------------------------------------------------------------------------------

    def _learn_account(self, budget: Budget) -> None:
        info = self.api.account(budget)
        try:
            self._tz = ZoneInfo(str(info["timezone_name"]))
            self._currency = str(info["currency"]).upper()
        except (KeyError, ZoneInfoNotFoundError, ValueError):
            raise DpoError("Meta did not give the ad account's time zone and currency") from None

    def _insights(
        self,
        day: date,
        fields: Sequence[str],
        extra: Mapping[str, Any],
        *,
        budget: Budget,
        is_async: bool,
        campaigns: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The insights of `day` (of `campaigns` only, if given); when Meta finds them too large,
        asked again per half of the campaigns, halving until each part fits."""
        try:
            return self.api.insights(
                day, fields, extra, budget=budget, is_async=is_async, campaigns=campaigns
            )
        except TooMuchDataError:
            if campaigns is not None and len(campaigns) == 1:
                raise TooMuchDataError(
                    f"Meta finds the insights of campaign {campaigns[0]} on {day} too large "
                    "to send even alone",
                    hint="Meta's data-per-call limit; dpo cannot split it further",
                ) from None
        ids = campaigns if campaigns is not None else self.api.campaign_ids(day, budget=budget)
        log.info("%s: the insights of %s are too large; asking per part", self.spec.label, day)
        mid = len(ids) // 2
        return [
            row
            for part in (ids[:mid], ids[mid:])
            if part
            for row in self._insights(
                day, fields, extra, budget=budget, is_async=is_async, campaigns=part
            )
        ]

    def _is_async(self, day: date, now: datetime) -> bool:
        if self.config.async_reports != "auto":
            return self.config.async_reports == "always"
        return day < now.astimezone(self.timezone()).date() - timedelta(days=1)

    def _hourly_facts(self, rows: list[dict[str, Any]], window: Window) -> Iterator[FactRow]:
        merged: dict[tuple[datetime, str], FactRow] = {}
        for row in rows:
            hour = _utc_hour(window.day, str(_field(row, HOURLY, window.day)), self.timezone())
            fact = self._fact(Grain.hour, hour, row, window.day)
            key = (hour, fact.campaign)
            if key in merged:  # a nonexistent spring hour mapped onto the next: add them up
                _add(merged[key], fact)
            else:
                merged[key] = fact
        yield from merged.values()

    def _daily_facts(self, rows: list[dict[str, Any]], window: Window) -> Iterator[FactRow]:
        wanted, windows = self.config.purchase_action_type, self.config.attribution_windows
        for row in rows:
            fact = self._fact(Grain.day, window.start, row, window.day)
            where = f"for campaign {fact.campaign} on {window.day}"
            for name, field in (
                ("attributed_conversions", "actions"),
                ("attributed_revenue", "action_values"),
            ):
                value = _attributed(row.get(field), wanted, windows)
                fact.metrics[name] = (
                    None
                    if value is None
                    else checked_number(name, value, upstream="Meta", where=where)
                )
            yield fact

    def _fact(self, grain: Grain, start: datetime, row: Mapping[str, Any], day: date) -> FactRow:
        """A row's campaign, impressions, clicks and spend (absent ones are 0: Meta leaves out
        what has nothing to report), each checked."""
        campaign = str(_field(row, "campaign_id", day))
        where = f"for campaign {campaign} on {day}"
        figures = {
            name: checked_number(name, row.get(name) or 0, upstream="Meta", where=where)
            for name in ("impressions", "clicks", "spend")
        }
        name = row.get("campaign_name")
        return FactRow(
            grain,
            start,
            channel=self.config.channel,
            campaign=campaign,
            campaign_name=None if name is None else str(name),
            currency=self._currency,
            **figures,
        )


def _field(row: Mapping[str, Any], name: str, day: date) -> Any:
    """A field every insights row has, or UpstreamDataError."""
    value = row.get(name)
    if value is None or value == "":
        raise UpstreamDataError(
            f"Meta sent an insights row without {name} on {day}: {short(row, 120)}",
            hint="nothing was written for that day; the next run fetches it again",
        )
    return value


def _twice(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> str | None:
    """The first key (as `campaign 222 at 06:00:00 - 06:59:59`) that two rows share, if any."""
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        key = tuple(str(row.get(k)) for k in keys)
        if key in seen:
            return f"campaign {short(key[0], 60)}" + (f" at {short(key[1], 40)}" if key[1:] else "")
        seen.add(key)
    return None


def _utc_hour(day: date, bucket: str, tz: ZoneInfo) -> datetime:
    """`"06:00:00 - 06:59:59"` on local `day` → the UTC start of that hour."""
    try:
        hour = int(bucket.split(":", 1)[0])
        local = datetime.combine(day, time(hour), tz)
    except (ValueError, OverflowError):
        raise UpstreamDataError(
            f"Meta sent an hour bucket dpo cannot read on {day}: {short(bucket)}"
        ) from None
    return local.astimezone(UTC)


def _attributed(actions: Any, action_type: str, windows: Sequence[str]) -> Decimal | None:
    """One action type's figures in the attribution `windows`, summed, from an `actions` /
    `action_values` list.

    0 when the list has no such action (Meta leaves out what has nothing to report); None (not
    reported) when the action has none of the windows' keys, as its `value` is Meta's default
    attribution, not the configured one. A window missing beside the others adds nothing.
    """
    for action in actions or ():
        if not isinstance(action, Mapping):
            raise UpstreamDataError(f"Meta sent an action dpo cannot read: {short(action)}")
        if action.get("action_type") == action_type:
            figures = [action[w] for w in windows if action.get(w) is not None]
            if not figures:
                return None
            return sum((_decimal(f) for f in figures), Decimal(0))
    return Decimal(0)


def _months_before(day: date, months: int) -> date:
    """The same day of the month `months` earlier; the next month's first day when that month
    is shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    try:
        return date(year, month + 1, day.day)
    except ValueError:
        return date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)


def _decimal(value: Any) -> Decimal:
    """A finite number Meta sent (as text), or UpstreamDataError."""
    try:
        number = Decimal(str(value or 0))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise UpstreamDataError(f"Meta sent a number dpo cannot read: {short(value)}")
    return number


def _add(into: FactRow, row: FactRow) -> None:
    for name, zero in (("impressions", 0), ("clicks", 0), ("spend", Decimal(0))):
        into.metrics[name] = (into.metrics.get(name) or zero) + (row.metrics.get(name) or zero)
