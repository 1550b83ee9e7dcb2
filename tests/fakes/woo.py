"""A fake WooCommerce store: `GET /wp-json/wc/v3/orders` as WooCommerce 9 answers it.

Paging with `per_page` (1-100, else 400 rest_invalid_param) and `page`, `X-WP-Total`,
`X-WP-TotalPages` and `Link` headers, `orderby`/`order`, the exclusive `after`/`before`
(creation) and `modified_after` filters in GMT with `dates_are_gmt=true` (in the store's time
zone otherwise), `status`, `_fields`; HTTP Basic or query-string consumer key/secret, with
WooCommerce's 401 envelopes.
"""

from __future__ import annotations

import base64
import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.http import FakeUpstream, Request, Response

KEY, SECRET = (
    "ck_0123456789abcdef0123456789abcdef01234567",
    "cs_fedcba9876543210fedcba9876543210fedcba98",
)
STATUSES = ("processing", "completed", "on-hold", "pending", "cancelled", "refunded", "failed")


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


class FakeWoo(FakeUpstream):
    def __init__(self, *, store_tz: str = "Europe/Berlin", currency: str = "EUR") -> None:
        super().__init__()
        self.tz = ZoneInfo(store_tz)
        self.currency = currency
        self.orders: dict[int, dict[str, Any]] = {}
        self.clock = datetime(2026, 3, 1, tzinfo=UTC)  # what date_modified_gmt says on changes
        self.key, self.secret = KEY, SECRET
        self.vanish_after_first_page = 0  # orders deleted while a client pages (times)

    # --- the data ---------------------------------------------------------------------------

    def add_order(
        self,
        created: datetime,
        *,
        status: str = "processing",
        total: str = "50.00",
        currency: str | None = None,
        refunds: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        oid = max(self.orders, default=1000) + 1
        order = {
            "id": oid,
            "status": status,
            "currency": currency or self.currency,
            "date_created": _fmt(created.astimezone(self.tz)),
            "date_created_gmt": _fmt(created.astimezone(UTC)),
            "date_modified": _fmt(created.astimezone(self.tz)),
            "date_modified_gmt": _fmt(created.astimezone(UTC)),
            "total": total,
            "total_tax": str(
                (Decimal(total) * Decimal("0.19") / Decimal("1.19")).quantize(Decimal("0.01"))
            ),
            "shipping_total": "4.90",
            "discount_total": "0.00",
            "line_items": [{"id": oid * 10, "name": "Widget", "quantity": 1, "total": total}],
            "refunds": [
                {"id": oid * 100 + i, "reason": "", "total": f"-{amount}"}
                for i, amount in enumerate(refunds)
            ],
        }
        self.orders[oid] = order
        return order

    def generate(self, first: datetime, days: int, *, per_day: int, seed: int = 1) -> None:
        """`per_day` orders a day on average, spread over hours, in mixed statuses."""
        rng = random.Random(seed)
        for minute in range(0, days * 24 * 60, max(1, (24 * 60) // per_day)):
            created = first + timedelta(
                minutes=minute + rng.randint(0, 20), seconds=rng.randint(0, 59)
            )
            status = rng.choices(STATUSES, weights=(40, 35, 5, 5, 5, 5, 5))[0]
            total = f"{rng.uniform(5, 300):.2f}"
            refunds = (f"{Decimal(total) / 4:.2f}",) if rng.random() < 0.08 else ()
            self.add_order(created, status=status, total=total, refunds=refunds)

    def touch(self, oid: int, **changes: Any) -> None:
        """Change an order now (per `clock`): a new status, or refunds (amounts)."""
        order = self.orders[oid]
        if "refunds" in changes:
            amounts = changes.pop("refunds")
            order["refunds"] = [
                {"id": oid * 100 + i, "reason": "", "total": f"-{a}"} for i, a in enumerate(amounts)
            ]
        order.update(changes)
        order["date_modified_gmt"] = _fmt(self.clock)
        order["date_modified"] = _fmt(self.clock.astimezone(self.tz))

    # --- the protocol -----------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        if request.method != "GET" or request.path.rstrip("/") != "/wp-json/wc/v3/orders":
            return Response.json(
                {
                    "code": "rest_no_route",
                    "message": "No route was found matching the URL and request method.",
                    "data": {"status": 404},
                },
                404,
            )
        refusal = self._authenticate(request)
        if refusal:
            return refusal
        try:
            per_page = int(request.arg("per_page", "10") or 10)
            page = int(request.arg("page", "1") or 1)
        except ValueError:
            return self._invalid("per_page")
        if not 1 <= per_page <= 100:
            return self._invalid("per_page")
        found = self._matching(request)
        if page == 2 and self.vanish_after_first_page > 0:  # an order trashed mid-paging
            self.vanish_after_first_page -= 1
            found = found[1:]
        total = len(found)
        pages = max(1, math.ceil(total / per_page))
        chunk = found[(page - 1) * per_page : page * per_page]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        if page < pages:
            headers["Link"] = f'<{self.url}{request.path}?page={page + 1}>; rel="next"'
        fields = request.arg("_fields")
        if fields:
            keep = fields.split(",")
            chunk = [{k: v for k, v in o.items() if k in keep} for o in chunk]
        return Response.json(chunk, 200, **headers)

    def _invalid(self, name: str) -> Response:
        return Response.json(
            {
                "code": "rest_invalid_param",
                "message": f"Invalid parameter(s): {name}",
                "data": {
                    "status": 400,
                    "params": {name: "per_page must be between 1 (inclusive) and 100 (inclusive)"},
                },
            },
            400,
        )

    def _authenticate(self, request: Request) -> Response | None:
        key = request.arg("consumer_key")
        secret = request.arg("consumer_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if key != self.key:
            return Response.json(
                {
                    "code": "woocommerce_rest_cannot_view",
                    "message": "Sorry, you cannot list resources.",
                    "data": {"status": 401},
                },
                401,
            )
        if secret != self.secret:
            return Response.json(
                {
                    "code": "woocommerce_rest_authentication_error",
                    "message": "Invalid signature - provided signature does not match.",
                    "data": {"status": 401},
                },
                401,
            )
        return None

    def _matching(self, request: Request) -> list[dict[str, Any]]:
        gmt = request.arg("dates_are_gmt") == "true"
        suffix = "_gmt" if gmt else ""

        def bound(name: str) -> str | None:
            value = request.arg(name)
            return value[:19] if value else None

        after, before, modified_after = bound("after"), bound("before"), bound("modified_after")
        statuses = set(request.query.get("status[]", []) + request.query.get("status", []))
        out = []
        for order in self.orders.values():
            created, modified = order["date_created" + suffix], order["date_modified" + suffix]
            if after and not created > after:
                continue
            if before and not created < before:
                continue
            if modified_after and not modified > modified_after:
                continue
            if statuses and "any" not in statuses and order["status"] not in statuses:
                continue
            out.append(order)
        key = {"id": "id", "date": "date_created_gmt", "modified": "date_modified_gmt"}[
            request.arg("orderby", "date") or "date"
        ]
        out.sort(key=lambda o: (o[key], o["id"]), reverse=request.arg("order", "desc") == "desc")
        return out
