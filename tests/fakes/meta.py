"""A fake Meta Graph API for ads insights, as facebook-business talks to it.

`GET /vNN.0/act_X/` (the account), `GET /vNN.0/act_X/insights` (paged with
`paging.cursors.after` + `next`), `POST /vNN.0/act_X/insights` (form-encoded: an async report
run → `report_run_id`), `GET /vNN.0/<run>/` (its status, "Job Running" a few polls, then
"Job Completed"), `GET /vNN.0/<run>/insights`. JSON-encoded params (`time_range`,
`breakdowns`, `action_attribution_windows`, `filtering`), the access token (and
`appsecret_proof`) in the query string, Graph error envelopes (190 bad token, 2635 deprecated
version, 3018 beyond the 37-month retention, 100/1487534 too much data, rate limits with usage
headers, a missing or wrong app secret proof).

What the real API does and the fake copies, each where it is documented:

- campaigns DELETED or ARCHIVED are left out of account insights unless a `filtering` on
  their effective status asks for them;
- the account's own insights (`level=account`) count every campaign, deleted and archived ones
  too, and `time_increment=1` splits them by day (see `_account_rows`);
- an action's `value` is its default attribution (the ad set's setting, absent at campaign
  level when ad sets differ); each requested attribution window has its own key;
- hourly breakdown figures are estimates: the hours of a day do not add up to the day's figure;
- a page of a cursor-paged edge may be empty yet carry a `next` link (visibility and privacy
  filtering), and only a missing `next` marks the last page
  (https://developers.facebook.com/docs/graph-api/results/, "Cursor-based Pagination"):
  `empty_pages` serves one before each listed page start; `repeat_rows` makes a page start with
  the row that ended the one before (a report that shifted while it was paged).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.http import FakeUpstream, Request, Response

TOKEN = "EAAGm0PX4ZCpsBAMetaFakeTokenForTests0123456789"
APP_SECRET = "5f0c2b7e9a4d4e1f8c3b6a2d9e7f1c04"  # an app secret is 32 hex digits
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
TODAY = date(2026, 3, 10)  # the tests' clock (tests/conftest.py `clock`)
RETENTION_MONTHS = 37
TOO_MUCH_DATA = "Please reduce the amount of data you're asking for, then retry your request"

# An ad or ad set inherits a campaign's DELETED, ARCHIVED or PAUSED status
# (developers.facebook.com/docs/marketing-api/best-practices/storing_adobjects: "all the
# objects below it automatically inherit that status").
CHILD_STATUS = {"PAUSED": "CAMPAIGN_PAUSED"}
FILTER_FIELDS = ("campaign.effective_status", "adset.effective_status", "ad.effective_status")

# Each window's purchases as a share of the 7-day-click figure (`Day.purchases`), so that a test
# changing that figure changes every window alike.
WINDOW_SHARES: dict[str, tuple[int, int]] = {  # window: (numerator, denominator)
    "1d_click": (2, 3),
    "7d_click": (1, 1),
    "28d_click": (5, 4),
    "1d_view": (1, 3),
    "7d_view": (1, 2),
    "28d_view": (3, 4),
}
METRICS = ("spend", "impressions", "clicks", "attributed_conversions", "attributed_revenue")
PURCHASE_TYPES = ("offsite_conversion.fb_pixel_purchase", "purchase", "omni_purchase")


@dataclass
class Campaign:
    id: str
    name: str
    status: str = "ACTIVE"  # its effective_status
    # The attribution setting of its ad sets, which an action's `value` follows; None: its ad
    # sets differ, and Meta leaves `value` out at campaign level.
    attribution: tuple[str, ...] | None = ("7d_click", "1d_view")


@dataclass
class Hour:
    impressions: int
    clicks: int
    spend: Decimal


@dataclass
class Day:
    purchases: int  # attributed within 7 days of a click; the other windows follow from it
    value: Decimal
    # The day's own figures minus the sum of its hours (hourly figures are estimated).
    spend_delta: Decimal = Decimal(0)
    impressions_delta: int = 0
    clicks_delta: int = 0

    def window(self, name: str) -> tuple[int, Decimal]:
        """(purchases, value) of one attribution window."""
        num, den = WINDOW_SHARES[name]
        count = self.purchases * num // den
        if not self.purchases:
            return count, Decimal(0)
        return count, (self.value * count / self.purchases).quantize(Decimal("0.01"))


@dataclass
class Run:
    rows: list[dict[str, Any]]
    polls_left: int
    final: str = "Job Completed"


class GraphError(Exception):
    """An error answer, raised from deep inside a request's handling."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


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
    today: date = TODAY  # Meta's current date, for the 37-month retention
    max_rows: int | None = None  # more rows than this in one request: "reduce the amount of data"
    too_much_data_code: int = 100  # 100 with subcode 1487534, or 1 with the message only
    require_proof: bool = False  # the app's "Require app secret" setting
    account_usage_percent: float = 1.0  # x-ad-account-usage
    reset_seconds: int = 0  # x-ad-account-usage reset_time_duration
    empty_pages: set[int] = field(default_factory=set)  # row offsets: an empty page first, once
    repeat_rows: int = 0  # that many later pages repeat the row before them

    def __post_init__(self) -> None:
        super().__init__()

    # --- data -------------------------------------------------------------------------------

    def generate(self, first: date, days: int, *, campaigns: int = 3, seed: int = 5) -> None:
        rng = random.Random(seed)
        settings: list[tuple[str, ...] | None] = [("7d_click",), ("1d_click", "1d_view"), None]
        self.campaigns = [
            Campaign(f"2385000000000{i:02d}", f"Campaign {i}", attribution=settings[i % 3])
            for i in range(campaigns)
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
                    purchases,
                    Decimal(f"{purchases * rng.uniform(30, 80):.2f}"),
                    spend_delta=Decimal(f"{rng.choice((-1, 1)) * rng.uniform(0.05, 2.5):.2f}"),
                    impressions_delta=rng.choice((-1, 1)) * rng.randint(1, 40),
                    clicks_delta=rng.choice((-1, 1)) * rng.randint(1, 3),
                )

    def campaign(self, campaign_id: str) -> Campaign:
        return next(c for c in self.campaigns if c.id == campaign_id)

    def day_figures(self, day: date, campaign_id: str) -> dict[str, Decimal]:
        """Spend, impressions and clicks of one campaign's day, as Meta reports the day."""
        hours = [h for (d, _h, c), h in self.hourly.items() if d == day and c == campaign_id]
        extra = self.daily.get((day, campaign_id)) or Day(0, Decimal(0))
        return {
            "spend": sum((h.spend for h in hours), Decimal(0)) + extra.spend_delta,
            "impressions": Decimal(
                max(0, sum(h.impressions for h in hours) + extra.impressions_delta)
            ),
            "clicks": Decimal(max(0, sum(h.clicks for h in hours) + extra.clicks_delta)),
        }

    def day_totals(
        self, windows: tuple[str, ...] = ("7d_click", "1d_view")
    ) -> dict[date, dict[str, Decimal]]:
        """Per day, what the account's campaigns total: Meta's daily spend, impressions and
        clicks, and the purchases and value of `windows` summed."""
        out: dict[date, dict[str, Decimal]] = {}
        pairs = {(d, c) for (d, _h, c) in self.hourly} | set(self.daily)
        for day, c in pairs:
            t = out.setdefault(day, dict.fromkeys(METRICS, Decimal(0)))
            for name, value in self.day_figures(day, c).items():
                t[name] += value
            figures = self.daily.get((day, c))
            if figures is None:
                continue
            for w in windows:
                count, value = figures.window(w)
                t["attributed_conversions"] += count
                t["attributed_revenue"] += value
        return out

    def hour_totals(self) -> dict[date, dict[str, Decimal]]:
        """Per day, the sum of the (estimated) hourly figures."""
        out: dict[date, dict[str, Decimal]] = {}
        for (day, _hour, _c), h in self.hourly.items():
            t = out.setdefault(
                day, {"spend": Decimal(0), "impressions": Decimal(0), "clicks": Decimal(0)}
            )
            t["spend"] += h.spend
            t["impressions"] += h.impressions
            t["clicks"] += h.clicks
        return out

    # --- protocol ---------------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        try:
            return self._route(request)
        except GraphError as error:
            return error.response

    def _route(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per route
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
        self._check_proof(params)
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
            # The data-per-call limits apply to async report runs too (insights best practices).
            rows = self._insights(params)
            run_id = str(6000000000000 + len(self.runs))
            final = "Job Completed"
            if self.next_runs_fail > 0:
                self.next_runs_fail -= 1
                final = "Job Failed"
            self.runs[run_id] = Run(
                rows, 10**9 if self.runs_stuck else self.polls_before_done, final
            )
            return self._ok({"report_run_id": run_id})
        return _graph_error(400, 100, "OAuthException", "Unsupported request")

    def _check_proof(self, params: dict[str, str]) -> None:
        """`appsecret_proof` = hex HMAC-SHA256 of the access token keyed by the app secret
        (developers.facebook.com/docs/graph-api/security#appsecret_proof); a wrong one is
        refused, a missing one only when the app requires it. Both answers are code 100
        GraphMethodException (facebook-python-business-sdk#528, thephpleague/oauth2-facebook#17)."""
        proof = params.get("appsecret_proof")
        expected = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
        if proof is not None and not hmac.compare_digest(proof, expected):
            raise GraphError(
                _graph_error(
                    400,
                    100,
                    "GraphMethodException",
                    "Invalid appsecret_proof provided in the API argument",
                )
            )
        if proof is None and self.require_proof:
            raise GraphError(
                _graph_error(
                    400,
                    100,
                    "GraphMethodException",
                    "API calls from the server require an appsecret_proof argument",
                )
            )

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
        self._check_retention(since)
        breakdowns = json.loads(params.get("breakdowns", "[]"))
        raw = params.get("fields", "")
        fields = json.loads(raw) if raw.startswith("[") else raw.split(",")  # POST sends JSON
        windows = json.loads(params.get("action_attribution_windows", "[]"))
        filters = json.loads(params.get("filtering", "[]"))
        if params.get("level") == "account" and not breakdowns:
            increment = params.get("time_increment", "all_days")
            account_rows = self._account_rows(since, until, fields, windows, filters, increment)
            self._check_size(account_rows)
            return account_rows
        rows: list[dict[str, Any]] = []
        for c in self.campaigns:
            if not self._passes(c, filters):
                continue
            if HOURLY in breakdowns:
                rows.extend(self._hour_rows(c, since, until, fields))
            else:
                row = self._day_row(c, since, until, fields, windows)
                if row:
                    rows.append(row)
        self._check_size(rows)
        return rows

    def _check_retention(self, since: date) -> None:
        """Insights go back 37 months from the current date; an older start is error 3018
        (developers.facebook.com/docs/marketing-api/reference/ad-account/insights, "Overview";
        the answer as in daroczig/fbRads#137)."""
        if since < _months_before(self.today, RETENTION_MONTHS):
            raise GraphError(
                _graph_error(
                    400,
                    3018,
                    "OAuthException",
                    "(#3018) The start date of the time range cannot be beyond 37 months from "
                    "the current date",
                )
            )

    def _check_size(self, rows: list[dict[str, Any]]) -> None:
        """Too many rows for one call: error 100, subcode 1487534 (developers.facebook.com/docs/
        marketing-api/insights/best-practices, "Data Per Call Limits"); some answers carry code 1
        and the message only (airbytehq/airbyte#38025)."""
        if self.max_rows is None or len(rows) <= self.max_rows:
            return
        subcode = 1487534 if self.too_much_data_code == 100 else None
        kind = "OAuthException"
        raise GraphError(
            _graph_error(400, self.too_much_data_code, kind, TOO_MUCH_DATA, subcode=subcode)
        )

    def _passes(self, c: Campaign, filters: list[dict[str, Any]]) -> bool:
        """Whether account insights include the campaign: deleted and archived ones only when
        a filter on effective status names them (storing_adobjects: "You can query insights
        for DELETED objects using the ad.effective_status filter"; airbytehq/airbyte#39439).
        An unknown filter field is refused (facebook-php-business-sdk#379: "Filtering field
        delivery_info is invalid")."""
        status_asked = False
        for f in filters:
            name, operator, value = f.get("field"), f.get("operator"), f.get("value")
            if name not in (*FILTER_FIELDS, "campaign.id"):
                raise GraphError(
                    _graph_error(
                        400, 100, "OAuthException", f"(#100) Filtering field {name} is invalid."
                    )
                )
            if operator != "IN" or not isinstance(value, list):
                raise GraphError(
                    _graph_error(
                        400, 100, "OAuthException", f"the fake supports IN only, not {operator}"
                    )
                )
            if name == "campaign.id":  # fewer objects per call (insights best practices)
                if c.id not in [str(v) for v in value]:
                    return False
                continue
            status_asked = True
            status = c.status if name.startswith("campaign.") else CHILD_STATUS.get(c.status)
            if (status or c.status) not in value:
                return False
        return status_asked or c.status not in ("DELETED", "ARCHIVED")

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
        days = sorted(
            {d for (d, cid) in self.daily if cid == c.id and since <= d <= until}
            | {d for (d, _h, cid) in self.hourly if cid == c.id and since <= d <= until}
        )
        if not days:
            return None
        row: dict[str, Any] = {
            "campaign_id": c.id,
            "campaign_name": c.name,
            "date_start": since.isoformat(),
            "date_stop": until.isoformat(),
        }
        # The day's own figures; its hourly breakdown is estimated and adds up to something a
        # little different ("Insights breakdown values are estimated",
        # developers.facebook.com/docs/marketing-api/insights/breakdowns).
        totals = {"spend": Decimal(0), "impressions": Decimal(0), "clicks": Decimal(0)}
        for d in days:
            for name, value in self.day_figures(d, c.id).items():
                totals[name] += value
        if "spend" in fields:
            row["spend"] = f"{totals['spend']:.2f}"
        if "impressions" in fields:
            row["impressions"] = str(int(totals["impressions"]))
        if "clicks" in fields:
            row["clicks"] = str(int(totals["clicks"]))
        figures = [self.daily[(d, c.id)] for d in days if (d, c.id) in self.daily]
        if "actions" in fields:
            clicks = Decimal(sum(f.purchases for f in figures) * 3 + 7)
            counts = _action_figures(figures, windows, c.attribution, index=0)
            actions = [_stat("link_click", {"value": clicks})]
            row["actions"] = [a for a in actions + [_stat(t, counts) for t in PURCHASE_TYPES] if a]
        if "action_values" in fields:
            values = _action_figures(figures, windows, c.attribution, index=1)
            row["action_values"] = [a for a in (_stat(t, values) for t in PURCHASE_TYPES) if a]
        # A field with nothing to report is left out of the row (facebook-java-business-sdk#245).
        return {k: v for k, v in row.items() if v != []}

    def _account_rows(
        self,
        since: date,
        until: date,
        fields: list[str],
        windows: list[str],
        filters: list[dict[str, Any]],
        increment: str,
    ) -> list[dict[str, Any]]:
        """The ad account's own insights (`level=account`): its campaigns summed, deleted and
        archived ones included without any filter ("If you read stats for an ad object, we
        include the stats of all children objects, no matter if the child is active, archived,
        or deleted", developers.facebook.com/docs/marketing-api/best-practices/
        storing_adobjects). `time_increment=1` gives one row per day of the range, `all_days`
        (the default) one for the whole range (developers.facebook.com/docs/marketing-api/
        reference/ad-account/insights, Parameters); a day with nothing to report has no row."""
        campaigns = [c for c in self.campaigns if not filters or self._passes(c, filters)]
        if increment == "all_days":
            spans = [(since, until)]
        elif increment == "1":
            count = (until - since).days + 1
            spans = [(since + timedelta(days=n),) * 2 for n in range(count)]
        else:
            raise GraphError(
                _graph_error(
                    400, 100, "OAuthException", f"the fake has no time_increment {increment}"
                )
            )
        rows = []
        for first, last in spans:
            parts = [
                (c, row)
                for c in campaigns
                if (row := self._day_row(c, first, last, fields, windows))
            ]
            if parts:
                rows.append(_account_row(parts, first, last, fields))
        return rows

    def _page(
        self,
        rows: list[dict[str, Any]],
        params: dict[str, str],
        request: Request | None,
        run_id: str | None = None,
    ) -> Response:
        limit = int(params.get("limit", "25"))
        start = int(base64.b64decode(params["after"]).decode()) if params.get("after") else 0
        cursor = base64.b64encode(str(start).encode()).decode()
        if start in self.empty_pages and start < len(rows):
            self.empty_pages.discard(start)
            paging = {"cursors": {"before": cursor, "after": cursor}, "next": f"{self.url}/next"}
            return self._ok({"data": [], "paging": paging})
        chunk = rows[start : start + limit]
        if start and self.repeat_rows > 0 and chunk:
            self.repeat_rows -= 1
            chunk = [rows[start - 1], *chunk[:-1]]
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
            # The ad account's own score and the seconds until it is back to 0
            # (developers.facebook.com/docs/marketing-api/overview/rate-limiting,
            # "X-Ad-Account-Usage": acc_id_util_pct, reset_time_duration, ads_api_access_tier).
            "x-ad-account-usage": json.dumps(
                {
                    "acc_id_util_pct": self.account_usage_percent,
                    "reset_time_duration": self.reset_seconds,
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

    def account_throttled(self, reset_seconds: int) -> Response:
        """Error 17, subcode 2446079 ("User request limit reached": the ad account's limit), with
        x-ad-account-usage at 100 % saying in how many seconds the account's score resets
        (developers.facebook.com/docs/marketing-api/overview/rate-limiting)."""
        self.account_usage_percent, self.reset_seconds = 100, reset_seconds
        body = {
            "error": {
                "message": "(#17) User request limit reached",
                "type": "OAuthException",
                "code": 17,
                "error_subcode": 2446079,
                "is_transient": True,
                "fbtrace_id": "AbCdEf",
            }
        }
        response = Response.json(body, 400, **self.usage_headers())
        self.account_usage_percent, self.reset_seconds = 1.0, 0
        return response


def _action_figures(
    figures: list[Day], windows: list[str], attribution: tuple[str, ...] | None, *, index: int
) -> dict[str, Decimal]:
    """Purchases (index 0) or their value (index 1): `value` for the default attribution, the
    campaign's ad sets' setting, left out at campaign level when they differ (airbytehq/airbyte
    #68689: action values seen on ads and ad sets missing at campaign level; #29894), and one
    figure per requested window."""
    out: dict[str, Decimal] = {}
    if attribution is not None:
        out["value"] = sum(
            (Decimal(f.window(w)[index]) for f in figures for w in attribution), Decimal(0)
        )
    for w in windows:
        if w in WINDOW_SHARES:
            out[w] = sum((Decimal(f.window(w)[index]) for f in figures), Decimal(0))
    return out


def _account_row(
    parts: list[tuple[Campaign, dict[str, Any]]], first: date, last: date, fields: list[str]
) -> dict[str, Any]:
    """The account's row of first…last: its campaigns' rows summed. An action's `value` (the
    default attribution) stays only when every campaign's ad sets share one setting, as at
    campaign level (see `_action_figures`)."""
    row: dict[str, Any] = {"date_start": first.isoformat(), "date_stop": last.isoformat()}
    if "spend" in fields:
        row["spend"] = f"{sum((Decimal(r.get('spend', 0)) for _, r in parts), Decimal(0)):.2f}"
    for name in ("impressions", "clicks"):
        if name in fields:
            row[name] = str(sum(int(r.get(name, 0)) for _, r in parts))
    settings = {c.attribution for c, _ in parts}
    keep_value = len(settings) == 1 and None not in settings
    for name in ("actions", "action_values"):
        if name in fields:
            totals: dict[str, dict[str, Decimal]] = {}
            for _, r in parts:
                for entry in r.get(name, []):
                    figures = totals.setdefault(entry["action_type"], {})
                    for key, amount in entry.items():
                        if key != "action_type" and (keep_value or key != "value"):
                            figures[key] = figures.get(key, Decimal(0)) + Decimal(amount)
            stats = [s for t, f in totals.items() if (s := _stat(t, f))]
            if stats:  # a field with nothing to report is left out (see `_day_row`)
                row[name] = stats
    return row


def _stat(action_type: str, figures: dict[str, Decimal]) -> dict[str, str] | None:
    """One Ads Action Stats entry: `value` is the default attribution window's figure, and each
    requested window (`action_attribution_windows`, "not including the default window") has its
    own key (developers.facebook.com/docs/marketing-api/reference/ads-action-stats). An action
    type with nothing to report is left out (facebook-java-business-sdk#245)."""
    if not any(figures.values()):
        return None
    entry = {"action_type": action_type}
    for key, amount in figures.items():
        entry[key] = str(amount) if amount == amount.to_integral() else f"{amount:.2f}"
    return entry


def _graph_error(
    status: int, code: int, kind: str, message: str, *, subcode: int | None = None
) -> Response:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf"}
    if subcode:
        error["error_subcode"] = subcode
    return Response.json({"error": error}, status)


def _months_before(day: date, months: int) -> date:
    """The same day of the month `months` earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for last in (31, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError(day)


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
