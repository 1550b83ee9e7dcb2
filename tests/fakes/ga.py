"""A fake Google Analytics Data API v1beta: `POST /v1beta/properties/{id}:runReport`.

It checks the service account's self-signed JWT (RS256, against the test's public key) or an
access token it issued at `POST /token` (Application Default Credentials by workload identity
federation: the file's `token_url` exchanges the workload's own token). It reads the camelCase
JSON body as the REST transport sends it (int64 as strings, defaults omitted), and answers with
dimension/metric headers, string values, `rowCount`, `metadata` (time zone, currency,
thresholding, the "(other)" row) and `propertyQuota`, paged by limit/offset. Errors use
Google's envelope.

What it does as GA4 does (https://developers.google.com/analytics/devguides/reporting/data/v1):
- `sessions` and `totalUsers` are distinct counts: a session with events in two hours counts in
  both (api-schema: "sessions: the number of sessions that began"; GA counts unique session ids
  with HyperLogLog++, https://developers.google.com/analytics/blog/2022/hll), so a day's figure
  (dimension `date`) is smaller than the sum of its hours.
- A row whose metrics are all 0 is left out unless `keepEmptyRows` is asked for (api-schema,
  RunReportRequest.keepEmptyRows): a date (or hour, or channel) without data has no row.
- `keyEvents` counts every key event (sign-ups, leads …); `ecommercePurchases` counts purchase
  events; `purchaseRevenue` is purchase revenue, `totalRevenue` adds ad and subscription revenue
  (api-schema, Metrics).
- Thresholding (https://support.google.com/analytics/answer/9383630): with Google signals on,
  rows of few users are withheld and the response says `subjectToThresholding`.
- The reporting time zone (`metadata.timeZone`) is the property's current one; changing it
  "only affects data going forward, and is not applied retroactively" (Admin API,
  Property.timeZone, https://developers.google.com/analytics/devguides/config/admin/v1/rest/v1beta/properties):
  the fake keeps its data by `dateHour` label, so a processed day keeps its hours when `tz`
  changes, and every answer states the zone set now.
- Quota (https://developers.google.com/analytics/devguides/reporting/data/v1/quotas): tokens per
  property per day and hour, and per project per property per hour; an exhausted quota is HTTP
  429 RESOURCE_EXHAUSTED "Exhausted property tokens … per hour."
"""

from __future__ import annotations

import base64
import json
import random
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.http import FakeUpstream, Request, Response

CHANNELS = ("Organic Search", "Paid Social", "Direct", "Email", "Referral")
_PATH = re.compile(r"^/v1beta/properties/(\d+):runReport$")


@dataclass
class GaRow:
    sessions: int
    users: int
    key_events: int
    revenue: Decimal  # purchaseRevenue
    purchases: int = 0  # ecommercePurchases
    ad_revenue: Decimal = Decimal(0)  # in totalRevenue, not in purchaseRevenue


def google_error(code: int, status: str, message: str) -> Response:
    return Response.json({"error": {"code": code, "message": message, "status": status}}, code)


class ServiceAccount:
    """An RSA key pair and the service-account JSON a user would download."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.email = "dpo-reader@acme-analytics.iam.gserviceaccount.com"

    def info(self) -> dict[str, str]:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "acme-analytics",
            "private_key_id": "0123456789abcdef",
            "private_key": pem,
            "client_email": self.email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
        }

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.info()))
        return path

    def verify(self, token: str) -> bool:
        try:
            head, body, sig = token.split(".")
            signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
            self.key.public_key().verify(
                signature, f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except Exception:
            return False
        return bool(claims.get("iss") == self.email)


class FakeGa(FakeUpstream):
    def __init__(
        self,
        account: ServiceAccount,
        *,
        property_id: str = "123456789",
        tz: str = "America/New_York",
    ) -> None:
        super().__init__()
        self.account = account
        self.property_id = property_id
        self.tz = ZoneInfo(tz)
        self.currency = "USD"
        self.data: dict[tuple[str, str, str], GaRow] = {}  # (dateHour, channel, campaign)
        self.tokens_left = 40_000  # tokensPerHour of the property
        self.project_tokens_left = 14_000  # tokensPerProjectPerHour
        self.max_limit = 250_000
        self.thresholded_days: set[str] = set()  # YYYYMMDD: rows under 10 users are withheld
        self.other_row_days: set[str] = set()  # YYYYMMDD: rows folded into "(other)"
        self.user_tokens: set[str] = set()  # access tokens issued at POST /token

    # --- data -------------------------------------------------------------------------------

    def generate(self, first: date, days: int, *, seed: int = 3, campaigns: bool = False) -> None:
        """Traffic for each local hour that exists in the property's zone (DST-aware)."""
        rng = random.Random(seed)
        for day in range(days):
            local_day = first + timedelta(days=day)
            for hour in _local_hours(local_day, self.tz):
                for channel in CHANNELS:
                    if rng.random() < 0.15:
                        continue  # GA has no row where nothing happened
                    campaign = rng.choice(("spring_sale", "(not set)")) if campaigns else ""
                    sessions = rng.randint(1, 90)
                    key_events = rng.randint(0, sessions // 10)
                    purchases = rng.randint(0, key_events)
                    self.data[(f"{local_day:%Y%m%d}{hour:02d}", channel, campaign)] = GaRow(
                        sessions,
                        max(1, sessions - rng.randint(0, sessions // 4)),
                        key_events,
                        Decimal(f"{purchases * rng.uniform(20, 90):.2f}"),
                        purchases,
                        Decimal(f"{rng.uniform(0, 3):.2f}"),
                    )

    # --- protocol ---------------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/token":
            return self._token(request)
        match = _PATH.match(request.path)
        if request.method != "POST" or not match:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token not in self.user_tokens and not self.account.verify(token):
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        if match.group(1) != self.property_id:
            return google_error(
                403,
                "PERMISSION_DENIED",
                "User does not have sufficient permissions for this property.",
            )
        body = json.loads(request.body)
        return self._report(body)

    def _token(self, request: Request) -> Response:
        """Google's Security Token Service, as a workload-identity-federation ADC file names it
        (`token_url`): an OIDC token of the workload exchanged for an access token
        (https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token)."""
        form = request.form()
        exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
        if form.get("grant_type") != exchange or form.get("subject_token") != WORKLOAD_TOKEN:
            return Response.json(
                {"error": "invalid_grant", "error_description": "The subject token is invalid."},
                400,
            )
        token = f"ya29.fake-federated-token-{len(self.user_tokens)}"
        self.user_tokens.add(token)
        return Response.json(
            {
                "access_token": token,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": 3599,
            }
        )

    def _report(self, body: dict[str, Any]) -> Response:
        dims = [d["name"] for d in body.get("dimensions", [])]
        metrics = [m["name"] for m in body.get("metrics", [])]
        for name in dims:
            if name not in (
                "date",
                "dateHour",
                "sessionDefaultChannelGroup",
                "sessionCampaignName",
            ):
                return google_error(
                    400, "INVALID_ARGUMENT", f"Field {name} is not a valid dimension."
                )
        for name in metrics:
            if name not in _TYPES:
                return google_error(400, "INVALID_ARGUMENT", f"Field {name} is not a valid metric.")
        if self.project_tokens_left <= 0:
            return google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Exhausted property tokens for a project per hour. These quota tokens will "
                "return in under an hour. To learn more, see "
                "https://developers.google.com/analytics/devguides/reporting/data/v1/quotas",
            )
        (span,) = body["dateRanges"]
        first, last = span["startDate"].replace("-", ""), span["endDate"].replace("-", "")
        thresholded = any(first <= d <= last for d in self.thresholded_days)
        rows = self._rows(dims, metrics, first, last, thresholded=thresholded)
        limit = int(body.get("limit", "10000"))
        offset = int(body.get("offset", "0"))
        if limit > self.max_limit:
            return google_error(400, "INVALID_ARGUMENT", "limit must be at most 250000")
        cost = 1 + len(rows) // 1000
        self.tokens_left -= cost
        self.project_tokens_left -= cost
        metadata: dict[str, Any] = {"currencyCode": self.currency, "timeZone": self.tz.key}
        if thresholded:
            metadata["subjectToThresholding"] = True
        if any(first <= d <= last for d in self.other_row_days):
            metadata["dataLossFromOtherRow"] = True
        result: dict[str, Any] = {
            "dimensionHeaders": [{"name": d} for d in dims],
            "metricHeaders": [{"name": m, "type": _TYPES[m]} for m in metrics],
            "metadata": metadata,
            "kind": "analyticsData#runReport",
        }
        page = rows[offset : offset + limit]
        if page:
            result["rows"] = page
            result["rowCount"] = len(rows)
        if body.get("returnPropertyQuota"):
            result["propertyQuota"] = {
                "tokensPerDay": {"consumed": 10, "remaining": self.tokens_left * 5},
                "tokensPerHour": {"consumed": 10, "remaining": self.tokens_left},
                "concurrentRequests": {"consumed": 0, "remaining": 10},
                "serverErrorsPerProjectPerHour": {"consumed": 0, "remaining": 10},
                "potentiallyThresholdedRequestsPerHour": {"consumed": 0, "remaining": 120},
                "tokensPerProjectPerHour": {
                    "consumed": 10,
                    "remaining": self.project_tokens_left,
                },
            }
        return Response.json(result)

    def _rows(
        self, dims: list[str], metrics: list[str], first: str, last: str, *, thresholded: bool
    ) -> list[dict[str, Any]]:
        grouped: dict[tuple[str, ...], list[GaRow]] = {}
        for (date_hour, channel, campaign), row in self.data.items():
            if not first <= date_hour[:8] <= last:
                continue
            values = {
                "date": date_hour[:8],
                "dateHour": date_hour,
                "sessionDefaultChannelGroup": channel,
                "sessionCampaignName": campaign or "(not set)",
            }
            grouped.setdefault(tuple(values[d] for d in dims), []).append(row)
        out = []
        for key in sorted(grouped):
            figures = _figures(grouped[key])
            if thresholded and figures["totalUsers"] < 10:
                continue  # withheld for privacy
            out.append(
                {
                    "dimensionValues": [{"value": v} for v in key],
                    "metricValues": [{"value": str(figures[m])} for m in metrics],
                }
            )
        return out

    # --- what a test expects ------------------------------------------------------------------

    def day_totals(self) -> dict[date, dict[str, Decimal]]:
        """What GA's own daily report says per local day: its distinct sessions (summed over
        channels and campaigns, which split sessions without overlap), purchases, purchase
        revenue and key events."""
        out: dict[date, dict[str, Decimal]] = {}
        segments: dict[tuple[str, str, str], list[GaRow]] = {}
        for (date_hour, channel, campaign), row in self.data.items():
            segments.setdefault((date_hour[:8], channel, campaign), []).append(row)
        for (day_text, _channel, _campaign), rows in segments.items():
            day = datetime.strptime(day_text, "%Y%m%d").date()
            totals = out.setdefault(
                day,
                {
                    "sessions": Decimal(0),
                    "orders": Decimal(0),
                    "conversions": Decimal(0),
                    "revenue": Decimal(0),
                },
            )
            figures = _figures(rows)
            totals["sessions"] += figures["sessions"]
            totals["orders"] += figures["ecommercePurchases"]
            totals["conversions"] += figures["keyEvents"]
            totals["revenue"] += figures["purchaseRevenue"]
        return out


def _figures(rows: list[GaRow]) -> dict[str, Any]:
    """The metrics of a group of hourly rows, as GA computes them for the group.

    Counts of events and amounts add up; sessions and users are distinct counts: a group of
    several hours holds fewer than the sum of its hours (sessions that span hours, returning
    users), one hour as it is.
    """
    sessions = sum(r.sessions for r in rows)
    users = sum(r.users for r in rows)
    if len(rows) > 1:
        sessions -= sessions // 8
        users = max(*(r.users for r in rows), users - users // 3)
    revenue = sum((r.revenue for r in rows), Decimal(0))
    return {
        "sessions": sessions,
        "totalUsers": users,
        "keyEvents": sum(r.key_events for r in rows),
        "ecommercePurchases": sum(r.purchases for r in rows),
        "transactions": sum(r.purchases for r in rows),
        "purchaseRevenue": revenue,
        "totalRevenue": revenue + sum((r.ad_revenue for r in rows), Decimal(0)),
    }


_TYPES = {
    "sessions": "TYPE_INTEGER",
    "totalUsers": "TYPE_INTEGER",
    "keyEvents": "TYPE_FLOAT",
    "ecommercePurchases": "TYPE_INTEGER",
    "transactions": "TYPE_INTEGER",
    "purchaseRevenue": "TYPE_CURRENCY",
    "totalRevenue": "TYPE_CURRENCY",
}
WORKLOAD_TOKEN = "eyJhbGciOiJSUzI1NiJ9.fake-workload-oidc-token.sig"  # what the workload holds


def _local_hours(day: date, tz: ZoneInfo) -> list[int]:
    """The local hour numbers a day has in `tz` (a folded autumn hour appears once)."""
    from datetime import UTC, time

    start = datetime.combine(day, time(), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    hours = []
    moment = start
    while moment < end:
        hour = moment.astimezone(tz).hour
        if hour not in hours:
            hours.append(hour)
        moment += timedelta(hours=1)
    return hours
