"""Meta Ads: campaign spend, impressions and clicks per hour; purchases per day.

Through the official SDK (facebook-business) at a pinned, configurable API version, with a
(system-user) access token as the source's secret. Per window — a day in the ad account's
time zone, which is read from the account with its currency:

- hourly spend / impressions / clicks per campaign, with the breakdown
  `hourly_stats_aggregated_by_advertiser_time_zone`, one day per request (a longer range would
  sum the hours of different days). On the autumn DST change Meta folds the repeated local hour
  into one bucket; it is stored at the first of the two UTC hours.
- daily purchases and purchase value per campaign from `actions` / `action_values` (the
  configured `purchase_action_type`, default `omni_purchase`), which Meta does not give with
  hourly breakdowns: grain `day`, as `attributed_conversions` / `attributed_revenue`, with the
  attribution windows configured explicitly (`attribution_windows`, default 7d_click, 1d_view).

Every run re-fetches today and yesterday; the first run of each day in the account's time zone
re-fetches the last `restatement_days` (default 28), as conversions are attributed late.
Requests for days before yesterday (restatement, backfill) run as async report runs when
`async_reports` is `auto`; see `dpo.connectors.meta_api` for the calls themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
from dpo.connectors.meta_api import MetaApi
from dpo.connectors.settings import NameList, UpstreamSettings
from dpo.connectors.upstream import check_source_settings, short, source_settings
from dpo.errors import DpoError
from dpo.vocab import Grain

HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
HOURLY_FIELDS = ("campaign_id", "campaign_name", "impressions", "clicks", "spend")
DAILY_FIELDS = ("campaign_id", "campaign_name", "actions", "action_values")


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

    def fetch_window(self, window: Window, *, now: datetime, budget: Budget) -> Iterator[FactRow]:
        if self._tz is None:
            self._learn_account(budget)
        is_async = self._is_async(window.day, now)
        hourly = self.api.insights(
            window.day, HOURLY_FIELDS, {"breakdowns": [HOURLY]}, budget=budget, is_async=is_async
        )
        daily = self.api.insights(
            window.day,
            DAILY_FIELDS,
            {"action_attribution_windows": self.config.attribution_windows},
            budget=budget,
            is_async=is_async,
        )
        yield from self._hourly_facts(hourly, window)
        yield from self._daily_facts(daily, window)

    def check(self) -> str:
        info = self.api.account(Budget())
        return (
            f"Meta ad account {info.get('name', self.api.account_id)} answered: "
            f"time zone {info.get('timezone_name')}, currency {info.get('currency')}"
        )

    def close(self) -> None:
        self.api.close()

    # --- facts ----------------------------------------------------------------------------------

    def _learn_account(self, budget: Budget) -> None:
        info = self.api.account(budget)
        try:
            self._tz = ZoneInfo(str(info["timezone_name"]))
            self._currency = str(info["currency"]).upper()
        except (KeyError, ZoneInfoNotFoundError, ValueError):
            raise DpoError("Meta did not give the ad account's time zone and currency") from None

    def _is_async(self, day: date, now: datetime) -> bool:
        if self.config.async_reports != "auto":
            return self.config.async_reports == "always"
        return day < now.astimezone(self.timezone()).date() - timedelta(days=1)

    def _hourly_facts(self, rows: list[dict[str, Any]], window: Window) -> Iterator[FactRow]:
        merged: dict[tuple[datetime, str], FactRow] = {}
        for row in rows:
            hour = _utc_hour(window.day, str(row[HOURLY]), self.timezone())
            fact = FactRow(
                Grain.hour,
                hour,
                channel=self.config.channel,
                campaign=str(row["campaign_id"]),
                campaign_name=row.get("campaign_name"),
                currency=self._currency,
                impressions=int(row.get("impressions") or 0),
                clicks=int(row.get("clicks") or 0),
                spend=_decimal(row.get("spend")),
            )
            key = (hour, fact.campaign)
            if key in merged:  # a nonexistent spring hour mapped onto the next: add them up
                _add(merged[key], fact)
            else:
                merged[key] = fact
        yield from merged.values()

    def _daily_facts(self, rows: list[dict[str, Any]], window: Window) -> Iterator[FactRow]:
        wanted = self.config.purchase_action_type
        for row in rows:
            yield FactRow(
                Grain.day,
                window.start,
                channel=self.config.channel,
                campaign=str(row["campaign_id"]),
                campaign_name=row.get("campaign_name"),
                currency=self._currency,
                attributed_conversions=_action(row.get("actions"), wanted),
                attributed_revenue=_action(row.get("action_values"), wanted),
            )


def _utc_hour(day: date, bucket: str, tz: ZoneInfo) -> datetime:
    """`"06:00:00 - 06:59:59"` on local `day` → the UTC start of that hour."""
    try:
        hour = int(bucket.split(":", 1)[0])
    except ValueError:
        raise DpoError(f"Meta sent an hour bucket dpo cannot read: {short(bucket)}") from None
    return datetime.combine(day, time(hour), tz).astimezone(UTC)


def _action(actions: Any, action_type: str) -> Decimal:
    """The value of one action type in an `actions` / `action_values` list (0 if absent)."""
    for action in actions or ():
        if action.get("action_type") == action_type:
            return _decimal(action.get("value"))
    return Decimal(0)


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except InvalidOperation:
        raise DpoError(f"Meta sent a number dpo cannot read: {short(value)}") from None


def _add(into: FactRow, row: FactRow) -> None:
    for name, zero in (("impressions", 0), ("clicks", 0), ("spend", Decimal(0))):
        into.metrics[name] = (into.metrics.get(name) or zero) + (row.metrics.get(name) or zero)
