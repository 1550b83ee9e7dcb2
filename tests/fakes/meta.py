"""A fake Meta Graph API for ads insights, as facebook-business talks to it.

`GET /vNN.0/act_X/` (the account), `GET /vNN.0/act_X/insights` (paged with
`paging.cursors.after` + `next`), `POST /vNN.0/act_X/insights` (form-encoded: an async report
run → `report_run_id`), `GET /vNN.0/<run>/` (its status, "Job Running" a few polls, then
"Job Completed"), `GET /vNN.0/<run>/insights`. JSON-encoded params (`time_range`,
`breakdowns`, `action_attribution_windows`), the access token in the query string, Graph
error envelopes (190 bad token, 2635 deprecated version, rate limits with usage headers).
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.http import FakeUpstream, Request, Response

TOKEN = "EAAGm0PX4ZCpsBAMetaFakeTokenForTests0123456789"
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"


@dataclass
class Campaign:
    id: str
    name: str


@dataclass
class Hour:
    impressions: int
    clicks: int
    spend: Decimal


@dataclass
class Day:
    purchases: int
    value: Decimal


@dataclass
class Run:
    rows: list[dict[str, Any]]
    polls_left: int
    final: str = "Job Completed"


@dataclass
class FakeMeta(FakeUpstream):
    account: str = "act_1234567890"
    tz: str = "America/Los_Angeles"
    currency: str = "USD"
    versions: tuple[str, ...] = ("v25.0", "v26.0")
    hourly: dict[tuple[date, int, str], Hour] = field(default_factory=dict)  # (day, hour, campaign)
    daily: dict[tuple[date, str], Day] = field(default_factory=dict)
    campaigns: list[Campaign] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict)
    polls_before_done: int = 2
    next_runs_fail: int = 0  # that many async runs end "Job Failed"
    runs_stuck: bool = False  # async runs never finish
    usage_percent: int = 5

    def __post_init__(self) -> None:
        super().__init__()

    # --- data -------------------------------------------------------------------------------

    def generate(self, first: date, days: int, *, campaigns: int = 3, seed: int = 5) -> None:
        rng = random.Random(seed)
        self.campaigns = [
            Campaign(f"2385000000000{i:02d}", f"Campaign {i}") for i in range(campaigns)
        ]
        zone = ZoneInfo(self.tz)
        for offset in range(days):
            day = first + timedelta(days=offset)
            for c in self.campaigns:
                for hour in _local_hours(day, zone):
                    impressions = rng.randint(100, 5000)
                    self.hourly[(day, hour, c.id)] = Hour(
                        impressions,
                        rng.randint(0, impressions // 50),
                        Decimal(f"{impressions * rng.uniform(0.004, 0.02):.2f}"),
                    )
                purchases = rng.randint(0, 12)
                self.daily[(day, c.id)] = Day(
                    purchases, Decimal(f"{purchases * rng.uniform(30, 80):.2f}")
                )

    def day_totals(self) -> dict[date, dict[str, Decimal]]:
        out: dict[date, dict[str, Decimal]] = {}
        zero = {
            "spend": Decimal(0),
            "impressions": Decimal(0),
            "clicks": Decimal(0),
            "attributed_conversions": Decimal(0),
            "attributed_revenue": Decimal(0),
        }
        for (day, _hour, _c), h in self.hourly.items():
            t = out.setdefault(day, dict(zero))
            t["spend"] += h.spend
            t["impressions"] += h.impressions
            t["clicks"] += h.clicks
        for (day, _c), d in self.daily.items():
            t = out.setdefault(day, dict(zero))
            t["attributed_conversions"] += d.purchases
            t["attributed_revenue"] += d.value
        return out

    # --- protocol ---------------------------------------------------------------------------

    def route(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per route
        parts = [p for p in request.path.split("/") if p]
        if not parts or not parts[0].startswith("v"):
            return _graph_error(400, 2500, "OAuthException", "Unknown path components")
        if parts[0] not in self.versions:
            return _graph_error(
                400,
                2635,
                "OAuthException",
                "(#2635) You are calling a deprecated version of the Ads API. "
                f"Please update to the latest version: {self.versions[-1]}.",
            )
        params = {k: v[0] for k, v in request.query.items()}
        if request.method == "POST":
            params.update(request.form())
        if params.get("access_token") != TOKEN:
            return _graph_error(
                400,
                190,
                "OAuthException",
                "Invalid OAuth access token - Cannot parse access token",
                subcode=None,
            )
        node, edge = parts[1], (parts[2] if len(parts) > 2 else "")
        if node in self.runs:
            return self._run(node, edge, params)
        if node != self.account:
            return _graph_error(
                400,
                100,
                "GraphMethodException",
                f"Unsupported get request. Object with ID '{node}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.",
                subcode=33,
            )
        if edge == "":
            return self._ok(
                {
                    "id": self.account,
                    "name": "Acme Ads",
                    "currency": self.currency,
                    "timezone_name": self.tz,
                    "account_status": 1,
                }
            )
        if edge == "insights" and request.method == "GET":
            return self._page(self._insights(params), params, request)
        if edge == "insights" and request.method == "POST":
            run_id = str(6000000000000 + len(self.runs))
            rows = self._insights(params)
            final = "Job Completed"
            if self.next_runs_fail > 0:
                self.next_runs_fail -= 1
                final = "Job Failed"
            self.runs[run_id] = Run(
                rows, 10**9 if self.runs_stuck else self.polls_before_done, final
            )
            return self._ok({"report_run_id": run_id})
        return _graph_error(400, 100, "OAuthException", "Unsupported request")

    def _run(self, run_id: str, edge: str, params: dict[str, str]) -> Response:
        run = self.runs[run_id]
        if edge == "insights":
            return self._page(run.rows, params, None, run_id=run_id)
        if run.polls_left > 0:
            run.polls_left -= 1
            status, percent = (
                "Job Running",
                100 if run.polls_left == 0 else 50,
            )  # 100 % may still be running
        else:
            status, percent = run.final, 100
        return self._ok(
            {
                "id": run_id,
                "account_id": self.account[4:],
                "async_status": status,
                "async_percent_completion": percent,
            }
        )

    def _insights(self, params: dict[str, str]) -> list[dict[str, Any]]:
        span = json.loads(params["time_range"])
        since, until = date.fromisoformat(span["since"]), date.fromisoformat(span["until"])
        breakdowns = json.loads(params.get("breakdowns", "[]"))
        raw = params.get("fields", "")
        fields = json.loads(raw) if raw.startswith("[") else raw.split(",")  # POST sends JSON
        windows = json.loads(params.get("action_attribution_windows", "[]"))
        rows: list[dict[str, Any]] = []
        for c in self.campaigns:
            if HOURLY in breakdowns:
                rows.extend(self._hour_rows(c, since, until, fields))
            else:
                row = self._day_row(c, since, until, fields, windows)
                if row:
                    rows.append(row)
        return rows

    def _hour_rows(
        self, c: Campaign, since: date, until: date, fields: list[str]
    ) -> list[dict[str, Any]]:
        buckets: dict[int, Hour] = {}
        for (day, hour, cid), h in sorted(self.hourly.items()):
            if cid == c.id and since <= day <= until:  # a longer range sums hours across days
                b = buckets.setdefault(hour, Hour(0, 0, Decimal(0)))
                b.impressions, b.clicks, b.spend = (
                    b.impressions + h.impressions,
                    b.clicks + h.clicks,
                    b.spend + h.spend,
                )
        out = []
        for hour, b in sorted(buckets.items()):
            row = {
                "campaign_id": c.id,
                "campaign_name": c.name,
                "impressions": str(b.impressions),
                "clicks": str(b.clicks),
                "spend": f"{b.spend:.2f}",
                "date_start": since.isoformat(),
                "date_stop": until.isoformat(),
                HOURLY: f"{hour:02d}:00:00 - {hour:02d}:59:59",
            }
            out.append(
                {
                    k: v
                    for k, v in row.items()
                    if k in fields or k in ("date_start", "date_stop", HOURLY)
                }
            )
        return out

    def _day_row(
        self, c: Campaign, since: date, until: date, fields: list[str], windows: list[str]
    ) -> dict[str, Any] | None:
        days = [d for (d, cid), _ in self.daily.items() if cid == c.id and since <= d <= until]
        if not days:
            return None
        purchases = sum(self.daily[(d, c.id)].purchases for d in days)
        value = sum((self.daily[(d, c.id)].value for d in days), Decimal(0))
        clicks = purchases * 3 + 7

        def action(kind: str, amount: Any) -> dict[str, Any]:
            entry = {"action_type": kind, "value": str(amount)}
            for w in windows:  # a per-window figure for each requested window
                entry[w] = str(amount)
            return entry

        row: dict[str, Any] = {
            "campaign_id": c.id,
            "campaign_name": c.name,
            "date_start": since.isoformat(),
            "date_stop": until.isoformat(),
        }
        if "actions" in fields:
            row["actions"] = [
                action("link_click", clicks),
                action("offsite_conversion.fb_pixel_purchase", purchases),
                action("purchase", purchases),
                action("omni_purchase", purchases),
            ]
        if "action_values" in fields:
            row["action_values"] = [
                action("offsite_conversion.fb_pixel_purchase", f"{value:.2f}"),
                action("purchase", f"{value:.2f}"),
                action("omni_purchase", f"{value:.2f}"),
            ]
        return row

    def _page(
        self,
        rows: list[dict[str, Any]],
        params: dict[str, str],
        request: Request | None,
        run_id: str | None = None,
    ) -> Response:
        limit = int(params.get("limit", "25"))
        start = int(base64.b64decode(params["after"]).decode()) if params.get("after") else 0
        chunk = rows[start : start + limit]
        body: dict[str, Any] = {"data": chunk}
        if chunk:
            body["paging"] = {
                "cursors": {
                    "before": base64.b64encode(str(start).encode()).decode(),
                    "after": base64.b64encode(str(start + len(chunk)).encode()).decode(),
                }
            }
            if start + limit < len(rows):
                body["paging"]["next"] = f"{self.url}/next-page?after=..."
        return self._ok(body)

    def _ok(self, body: dict[str, Any]) -> Response:
        return Response.json(body, 200, **self.usage_headers())

    def usage_headers(self, regain_minutes: int = 0) -> dict[str, str]:
        account_id = self.account[4:]
        return {
            "x-business-use-case-usage": json.dumps(
                {
                    account_id: [
                        {
                            "type": "ads_insights",
                            "call_count": self.usage_percent,
                            "total_cputime": 1,
                            "total_time": 1,
                            "estimated_time_to_regain_access": regain_minutes,
                        }
                    ]
                }
            ),
            "x-fb-ads-insights-throttle": json.dumps(
                {
                    "app_id_util_pct": self.usage_percent,
                    "acc_id_util_pct": 1,
                    "ads_api_access_tier": "standard_access",
                }
            ),
        }

    def rate_limited(self, regain_minutes: int = 1) -> Response:
        """Error 80000 (ads insights throttled), with the usage headers saying how long."""
        self.usage_percent = 100
        body = {
            "error": {
                "message": "(#80000) There have been too many calls from this ad-account. "
                "Wait a bit and try again.",
                "type": "OAuthException",
                "code": 80000,
                "error_subcode": 2446079,
                "is_transient": True,
                "fbtrace_id": "AbCdEf",
            }
        }
        return Response.json(body, 400, **self.usage_headers(regain_minutes))


def _graph_error(
    status: int, code: int, kind: str, message: str, *, subcode: int | None = None
) -> Response:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf"}
    if subcode:
        error["error_subcode"] = subcode
    return Response.json({"error": error}, status)


def _local_hours(day: date, tz: ZoneInfo) -> list[int]:
    """The hour buckets a local day has (the folded autumn hour appears once)."""
    from datetime import time

    start = datetime.combine(day, time(), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    hours: list[int] = []
    moment = start
    while moment < end:
        if moment.astimezone(tz).hour not in hours:
            hours.append(moment.astimezone(tz).hour)
        moment += timedelta(hours=1)
    return hours
