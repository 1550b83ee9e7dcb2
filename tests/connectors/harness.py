"""One harness per upstream, so one contract suite can drive ga, meta and woo alike.

A harness owns a fake server with data for 2026-03-05 … 2026-03-10 in the upstream's time zone
(America/New_York or America/Los_Angeles, where 8 March 2026 is the 23-hour spring-forward
day), adds the source through the CLI, and says — straight from the fake's data, without dpo —
what each local day should total.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import CliInvoker, Clock, Database
from tests.fakes.ga import FakeGa, ServiceAccount, google_error
from tests.fakes.http import FakeUpstream, Request, Response
from tests.fakes.meta import TOKEN, FakeMeta
from tests.fakes.woo import FakeWoo

FIRST_DAY, DAYS = date(2026, 3, 5), 6
DST_DAY = date(2026, 3, 8)
Totals = dict[date, dict[str, Decimal]]


class Harness:
    kind: ClassVar[str]
    tz: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    fake: FakeUpstream
    secret: str  # what must never show up anywhere

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch

    @contextmanager
    def serving(self) -> Iterator[Harness]:
        with self.fake.running():
            yield self

    def add_source(self, cli: CliInvoker) -> None:
        cli.ok("orgs", "add", "acme", "--name", "Acme", "--timezone", self.tz, "--currency", "USD")
        cli.ok("sources", "add", "acme", self.kind, *self.source_args())

    def source_args(self) -> list[str]:
        raise NotImplementedError

    def break_credentials(self) -> None:
        raise NotImplementedError

    def expected(self) -> Totals:
        raise NotImplementedError

    def restate(self, clock: Clock) -> date:
        """Change the upstream's data of an earlier day; return that day."""
        raise NotImplementedError

    def is_later_page(self, request: Request) -> bool:
        """True for a request of a page after the first."""
        raise NotImplementedError

    def later_pages(self) -> int:
        """How many requests asked for a page after the first."""
        return sum(1 for r in self.fake.requests if self.is_later_page(r))

    def rate_limit(self) -> tuple[Response, float]:
        """An answer that says "slow down", and the wait it asks for."""
        return Response.json({"error": "slow down"}, 429, **{"Retry-After": "7"}), 7.0

    def server_error(self) -> Response:
        return Response.json({"error": {"code": 503, "message": "Backend Error"}}, 503)

    def stored(self, db: Database) -> Totals:
        """The stored facts per local day of the upstream's zone, as a daily report adds them:
        a metric's day facts where the upstream gave any that day, else its hours."""
        zone = ZoneInfo(self.tz)
        by_grain: dict[tuple[date, str], dict[str, Decimal]] = {}
        columns = ", ".join(self.metrics)
        for grain, period_start, *values in db.rows(
            f"SELECT grain, period_start, {columns} FROM fact"
        ):
            moment = utc(period_start)
            totals = by_grain.setdefault((moment.astimezone(zone).date(), grain), {})
            for metric, value in zip(self.metrics, values, strict=True):
                if value is not None:
                    totals[metric] = totals.get(metric, Decimal(0)) + Decimal(str(value))
        out: Totals = {}
        for day in {d for d, _ in by_grain}:
            hours, days = by_grain.get((day, "hour"), {}), by_grain.get((day, "day"), {})
            out[day] = {m: days[m] if m in days else hours.get(m, Decimal(0)) for m in self.metrics}
        return {day: _round(t) for day, t in out.items()}

    def expected_days(self, first: date, last: date) -> Totals:
        return {d: _round(t) for d, t in self.expected().items() if first <= d <= last}


# --- GA ------------------------------------------------------------------------------------------


class GaHarness(Harness):
    kind = "ga"
    tz = "America/New_York"
    metrics = ("sessions", "orders", "conversions", "revenue")

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(tmp_path, monkeypatch)
        self.account = ServiceAccount()
        self.fake = self.ga = FakeGa(self.account, tz=self.tz)
        self.ga.generate(FIRST_DAY, DAYS)
        self.key_file = self.account.write(tmp_path / "ga-key.json")
        self.secret = self.account.info()["private_key"].splitlines()[1]

    def source_args(self) -> list[str]:
        return [
            "--account",
            self.ga.property_id,
            "--endpoint",
            self.fake.url,
            "--secret-file",
            str(self.key_file),
            "--setting",
            "page_size=40",
        ]

    def break_credentials(self) -> None:
        ServiceAccount().write(self.key_file)  # a key GA does not know

    def expected(self) -> Totals:
        return self.ga.day_totals()

    def restate(self, clock: Clock) -> date:
        day = date(2026, 3, 7)
        for (date_hour, _c, _k), row in self.ga.data.items():
            if date_hour.startswith("20260307"):
                row.sessions += 3
                row.revenue += Decimal("10.50")
        return day

    def is_later_page(self, request: Request) -> bool:
        return int(str(_json(request).get("offset", 0))) > 0

    def rate_limit(self) -> tuple[Response, float]:
        # Concurrent requests pass in seconds; exhausted tokens (per hour) stop the run instead.
        message = "Exhausted concurrent requests quota."
        response = google_error(429, "RESOURCE_EXHAUSTED", message)
        response.headers["Retry-After"] = "7"
        return response, 7.0

    def server_error(self) -> Response:
        return google_error(503, "UNAVAILABLE", "The service is currently unavailable.")


# --- Meta ----------------------------------------------------------------------------------------


class MetaHarness(Harness):
    kind = "meta"
    tz = "America/Los_Angeles"
    metrics = ("spend", "impressions", "clicks", "attributed_conversions", "attributed_revenue")

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(tmp_path, monkeypatch)
        self.fake = self.meta = FakeMeta(tz=self.tz)
        self.meta.generate(FIRST_DAY, DAYS)
        self.secret = TOKEN
        monkeypatch.setenv("ACME_META_TOKEN", TOKEN)

    def source_args(self) -> list[str]:
        return [
            "--account",
            self.meta.account,
            "--endpoint",
            self.fake.url,
            "--secret-env",
            "ACME_META_TOKEN",
            "--setting",
            "page_size=20",
            "--setting",
            "restatement_days=7",
        ]

    def break_credentials(self) -> None:
        self.monkeypatch.setenv("ACME_META_TOKEN", "EAAG-an-expired-token-0000")

    def expected(self) -> Totals:
        return self.meta.day_totals()

    def restate(self, clock: Clock) -> date:
        day = date(2026, 3, 6)
        for (d, _c), purchases in self.meta.daily.items():
            if d == day:
                purchases.purchases += 2
                purchases.value += Decimal("99.90")
        return day

    def is_later_page(self, request: Request) -> bool:
        return "after" in request.query

    def rate_limit(self) -> tuple[Response, float]:
        return self.meta.rate_limited(regain_minutes=1), 60.0

    def server_error(self) -> Response:
        body = {
            "error": {
                "message": "An unexpected error has occurred. Please retry your request later.",
                "type": "OAuthException",
                "code": 2,
                "is_transient": True,
            }
        }
        return Response.json(body, 500)


# --- Woo -----------------------------------------------------------------------------------------


class WooHarness(Harness):
    kind = "woo"
    tz = "America/New_York"
    metrics = ("orders", "revenue", "refunds")
    counted = ("processing", "completed", "on-hold", "refunded")

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(tmp_path, monkeypatch)
        self.fake = self.woo = FakeWoo(store_tz=self.tz, currency="USD")
        start = datetime(2026, 3, 5, tzinfo=ZoneInfo(self.tz)).astimezone(UTC)
        self.woo.generate(start, DAYS, per_day=110)
        self.secret = self.woo.secret
        monkeypatch.setenv("ACME_WOO_KEY", f"{self.woo.key}:{self.woo.secret}")

    def source_args(self) -> list[str]:
        return [
            "--account",
            self.fake.url,
            "--secret-env",
            "ACME_WOO_KEY",
            "--setting",
            "page_size=25",
        ]

    def break_credentials(self) -> None:
        self.monkeypatch.setenv("ACME_WOO_KEY", f"{self.woo.key}:cs_wrong_secret_0000")

    def expected(self) -> Totals:
        zone = ZoneInfo(self.tz)
        out: Totals = {}
        for order in self.woo.orders.values():
            created = datetime.fromisoformat(order["date_created_gmt"]).replace(tzinfo=UTC)
            totals = out.setdefault(
                created.astimezone(zone).date(),
                {"orders": Decimal(0), "revenue": Decimal(0), "refunds": Decimal(0)},
            )
            if order["status"] in self.counted:
                totals["orders"] += 1
                totals["revenue"] += Decimal(order["total"])
                totals["refunds"] -= sum(
                    (Decimal(r["total"]) for r in order["refunds"]), Decimal(0)
                )
        return out

    def restate(self, clock: Clock) -> date:
        day = date(2026, 3, 6)
        zone = ZoneInfo(self.tz)
        self.woo.clock = clock.moment - timedelta(minutes=5)
        of_day = [
            o
            for o in self.woo.orders.values()
            if datetime.fromisoformat(o["date_created_gmt"])
            .replace(tzinfo=UTC)
            .astimezone(zone)
            .date()
            == day
            and o["status"] in self.counted
        ]
        self.woo.touch(of_day[0]["id"], status="cancelled")
        self.woo.touch(of_day[1]["id"], refunds=(of_day[1]["total"],), status="completed")
        return day

    def is_later_page(self, request: Request) -> bool:
        return request.arg("page", "1") != "1"


HARNESSES: dict[str, type[Harness]] = {"ga": GaHarness, "meta": MetaHarness, "woo": WooHarness}


def _json(request: Request) -> dict[str, object]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _round(totals: dict[str, Decimal]) -> dict[str, Decimal]:
    return {k: v.quantize(Decimal("0.01")) for k, v in totals.items()}
