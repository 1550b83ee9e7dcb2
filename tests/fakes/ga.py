"""A fake Google Analytics Data API v1beta: `POST /v1beta/properties/{id}:runReport`.

It checks the service account's self-signed JWT (RS256, against the test's public key), reads
the camelCase JSON body as the REST transport sends it (int64 as strings, defaults omitted),
and answers with dimension/metric headers, string values, `rowCount`, `metadata` (time zone,
currency) and `propertyQuota`, paged by limit/offset. Errors use Google's envelope.
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
    revenue: Decimal


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
        self.tokens_left = 40_000
        self.max_limit = 250_000

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
                    self.data[(f"{local_day:%Y%m%d}{hour:02d}", channel, campaign)] = GaRow(
                        sessions,
                        max(1, sessions - rng.randint(0, sessions // 4)),
                        key_events,
                        Decimal(f"{key_events * rng.uniform(20, 90):.2f}"),
                    )

    # --- protocol ---------------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        match = _PATH.match(request.path)
        if request.method != "POST" or not match:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self.account.verify(auth[7:]):
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

    def _report(self, body: dict[str, Any]) -> Response:
        dims = [d["name"] for d in body.get("dimensions", [])]
        metrics = [m["name"] for m in body.get("metrics", [])]
        for name in dims:
            if name not in ("dateHour", "sessionDefaultChannelGroup", "sessionCampaignName"):
                return google_error(
                    400, "INVALID_ARGUMENT", f"Field {name} is not a valid dimension."
                )
        (span,) = body["dateRanges"]
        first, last = span["startDate"].replace("-", ""), span["endDate"].replace("-", "")
        rows = self._rows(dims, metrics, first, last)
        limit = int(body.get("limit", "10000"))
        offset = int(body.get("offset", "0"))
        if limit > self.max_limit:
            return google_error(400, "INVALID_ARGUMENT", "limit must be at most 250000")
        self.tokens_left -= 1 + len(rows) // 1000
        result: dict[str, Any] = {
            "dimensionHeaders": [{"name": d} for d in dims],
            "metricHeaders": [{"name": m, "type": _TYPES[m]} for m in metrics],
            "metadata": {"currencyCode": self.currency, "timeZone": self.tz.key},
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
                "tokensPerProjectPerHour": {"consumed": 10, "remaining": self.tokens_left},
            }
        return Response.json(result)

    def _rows(
        self, dims: list[str], metrics: list[str], first: str, last: str
    ) -> list[dict[str, Any]]:
        grouped: dict[tuple[str, ...], list[Decimal]] = {}
        for (date_hour, channel, campaign), row in self.data.items():
            if not first <= date_hour[:8] <= last:
                continue
            values = {
                "dateHour": date_hour,
                "sessionDefaultChannelGroup": channel,
                "sessionCampaignName": campaign or "(not set)",
            }
            key = tuple(values[d] for d in dims)
            metric: dict[str, int | Decimal] = {
                "sessions": row.sessions,
                "totalUsers": row.users,
                "keyEvents": row.key_events,
                "totalRevenue": row.revenue,
            }
            sums = grouped.setdefault(key, [Decimal(0)] * len(metrics))
            for i, m in enumerate(metrics):
                sums[i] += Decimal(metric[m])
        return [
            {
                "dimensionValues": [{"value": v} for v in key],
                "metricValues": [{"value": str(v)} for v in grouped[key]],
            }
            for key in sorted(grouped)
        ]

    # --- what a test expects ------------------------------------------------------------------

    def day_totals(self) -> dict[date, dict[str, Decimal]]:
        """Sessions, key events and revenue per local day, straight from the data."""
        out: dict[date, dict[str, Decimal]] = {}
        for (date_hour, _channel, _campaign), row in self.data.items():
            day = datetime.strptime(date_hour[:8], "%Y%m%d").date()
            totals = out.setdefault(
                day, {"sessions": Decimal(0), "conversions": Decimal(0), "revenue": Decimal(0)}
            )
            totals["sessions"] += row.sessions
            totals["conversions"] += row.key_events
            totals["revenue"] += row.revenue
        return out


_TYPES = {
    "sessions": "TYPE_INTEGER",
    "totalUsers": "TYPE_INTEGER",
    "keyEvents": "TYPE_FLOAT",
    "totalRevenue": "TYPE_CURRENCY",
}


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
