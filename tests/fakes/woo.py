"""A fake WooCommerce store: the REST API v3 as WooCommerce 9 answers it, over plain HTTP
(`running`) or TLS (`running_tls`, with `self_signed_certificate`).

`GET /wp-json/wc/v3/orders`: paging with `per_page` (1-100, else 400 rest_invalid_param) and
`page`, `X-WP-Total`, `X-WP-TotalPages` and `Link` headers (`strip_total_headers` drops the
first two, as some proxies and CDNs do), `orderby`/`order`, the exclusive `after`/`before`
(creation) and `modified_after` filters in GMT with `dates_are_gmt=true` (in the store's time
zone otherwise), `status` (default `any`: every status but `trash` and `auto-draft`), `_fields`.
Orders can be trashed (status `trash`, listed only when asked for) or deleted (gone, from every
listing). `GET /wp-json/wc/v3/data/currencies/current`: the store's currency, for a key whose
user may manage WooCommerce.

Authentication as `WC_REST_Authentication` does it: HTTP Basic or `consumer_key`/
`consumer_secret` query parameters only when WordPress sees HTTPS (`https`, or an
`X-Forwarded-Proto: https` that `trusts_forwarded_proto` honours); otherwise OAuth 1.0a
one-legged signatures (HMAC-SHA1/HMAC-SHA256), checked with WooCommerce's own base string, a
15-minute timestamp window and single-use nonces. Refusals carry WooCommerce's 401 envelopes.
`strips_authorization` plays a host whose PHP never sees the Authorization header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from tests.fakes.http import FakeUpstream, Request, Response

KEY, SECRET = (
    "ck_0123456789abcdef0123456789abcdef01234567",
    "cs_fedcba9876543210fedcba9876543210fedcba98",
)
STATUSES = ("processing", "completed", "on-hold", "pending", "cancelled", "refunded", "failed")
API = "/wp-json/wc/v3"
# WP_Query's and OrdersTableQuery's `any` leaves out the statuses registered with
# exclude_from_search (wp-includes/post.php registers trash and auto-draft so; woocommerce/
# woocommerce plugins/woocommerce/src/Internal/DataStores/Orders/OrdersTableQuery.php,
# sanitize_status()). checkout-draft is listed: src/Blocks/Domain/Services/DraftOrders.php
# registers it with exclude_from_search false.
HIDDEN_FROM_ANY = frozenset({"trash", "auto-draft"})
OAUTH_WINDOW = 15 * 60  # seconds; check_oauth_timestamp_and_nonce() in the same file

# A web application firewall's block page (Cloudflare's error 1020, "Access denied":
# https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-1xxx-errors/error-1020/).
FIREWALL_PAGE = (
    b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
    b"<body><h1>Sorry, you have been blocked</h1><p>Error 1020: Access denied.</p>"
    b"<p>Cloudflare Ray ID: 8c0ffee000000001</p></body></html>"
)


def firewall_block(status: int = 403) -> Response:
    """A firewall's HTML block page with `status`, as a host in front of WordPress sends it."""
    return Response(status, FIREWALL_PAGE, {"Content-Type": "text/html; charset=UTF-8"})


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files; trust it with REQUESTS_CA_BUNDLE."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "store.crt", directory / "store.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _error(code: str, message: str, status: int) -> Response:
    """WordPress's REST error envelope (WP_REST_Server::error_to_response)."""
    return Response.json({"code": code, "message": message, "data": {"status": status}}, status)


def _rawurlencode(value: str) -> str:
    """wc_rest_urlencode_rfc3986() of one string: PHP's rawurlencode, '~' kept.

    woocommerce/woocommerce plugins/woocommerce/includes/wc-rest-functions.php.
    """
    return quote(value, safe="").replace("%7E", "~")


class FakeWoo(FakeUpstream):
    def __init__(self, *, store_tz: str = "Europe/Berlin", currency: str = "EUR") -> None:
        super().__init__()
        self.tz = ZoneInfo(store_tz)
        self.currency = currency
        self.orders: dict[int, dict[str, Any]] = {}
        self.clock = datetime(2026, 3, 1, tzinfo=UTC)  # what date_modified_gmt says on changes
        self.key, self.secret = KEY, SECRET
        self.vanish_after_first_page = 0  # orders deleted while a client pages (times)
        # WordPress's is_ssl() (wp-includes/load.php): true when PHP sees HTTPS, here or behind
        # a TLS-terminating proxy whose X-Forwarded-Proto wp-config.php trusts
        # (https://developer.wordpress.org/advanced-administration/security/https/).
        self.https = False
        self.trusts_forwarded_proto = False
        self.strip_total_headers = False  # a proxy or CDN dropping X-WP-Total/X-WP-TotalPages
        # A host whose PHP never sees the Authorization header (CGI/FastCGI setups), as the
        # docblock of get_authorization_header() in class-wc-rest-authentication.php says.
        self.strips_authorization = False
        self.manages_woocommerce = True  # the key's user has the manage_woocommerce capability
        self.used_nonces: dict[int, str] = {}  # the key's `nonces` column: timestamp -> nonce
        self.next_id = 1001

    @contextmanager
    def running_tls(self, cert_file: Path, key_file: Path) -> Iterator[FakeUpstream]:
        """Serve on https://127.0.0.1 until the block ends: TLS ends here, in front of
        WordPress, which sees HTTPS only when `https` (or a trusted X-Forwarded-Proto) says so
        — a TLS-terminating proxy it does not know about otherwise."""
        with self.running(tls=(cert_file, key_file)) as served:
            yield served

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
        oid = max(self.next_id, max(self.orders, default=1000) + 1)
        self.next_id = oid + 1  # AUTO_INCREMENT ids (wc_orders): never reused after a deletion
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
            if status == "refunded":  # fully refunded: woocommerce/woocommerce
                refunds = (total,)  # includes/wc-order-functions.php, wc_create_refund()
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

    def trash(self, oid: int) -> None:
        """Move an order to the trash, as `DELETE /orders/<id>` without `force` does.

        The status becomes `trash` and the modification date moves (woocommerce/woocommerce
        plugins/woocommerce/src/Internal/DataStores/Orders/OrdersTableDataStore.php,
        trash_order()); `any` listings leave it out, so `modified_after` never reports it.
        """
        self.touch(oid, status="trash")

    def delete(self, oid: int) -> None:
        """Delete an order for good (`DELETE /orders/<id>?force=true`, its `force` argument in
        includes/rest-api/Controllers/Version2/class-wc-rest-orders-v2-controller.php): no
        listing shows it, whatever the status asked for."""
        del self.orders[oid]

    # --- the protocol -----------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if request.method == "GET" and path == API + "/orders":
            return self._orders(request)
        if request.method == "GET" and path == API + "/data/currencies/current":
            return self._current_currency(request)
        return _error(
            "rest_no_route", "No route was found matching the URL and request method.", 404
        )

    def _orders(self, request: Request) -> Response:
        user, refusal = self._authenticate(request)
        if refusal:
            return refusal
        if not user:  # WC_REST_Orders_V2_Controller::get_items_permissions_check()
            return _error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)
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
        if self.strip_total_headers:
            # Some proxies and CDNs drop unknown X- headers; WordPress documents both headers at
            # https://developer.wordpress.org/rest-api/using-the-rest-api/pagination/
            headers.clear()
        if page < pages:
            headers["Link"] = f'<{self.url}{request.path}?page={page + 1}>; rel="next"'
        # `_fields` (comma-separated) keeps only those top-level properties of each order
        # (https://developer.wordpress.org/rest-api/using-the-rest-api/global-parameters/).
        fields = request.arg("_fields")
        if fields:
            keep = fields.split(",")
            chunk = [{k: v for k, v in o.items() if k in keep} for o in chunk]
        return Response.json(chunk, 200, **headers)

    def _current_currency(self, request: Request) -> Response:
        """WC_REST_Data_Currencies_Controller::get_current_item(): the woocommerce_currency
        option, for users with manage_woocommerce (wc_rest_check_manager_permissions('settings'),
        woocommerce/woocommerce plugins/woocommerce/includes/rest-api/Controllers/Version3/
        class-wc-rest-data-controller.php)."""
        user, refusal = self._authenticate(request)
        if refusal:
            return refusal
        if not user or not self.manages_woocommerce:
            status = 403 if user else 401  # rest_authorization_required_code()
            return _error(
                "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.", status
            )
        symbols = {"USD": "&#36;", "EUR": "&euro;", "GBP": "&pound;"}
        return Response.json(
            {"code": self.currency, "name": self.currency, "symbol": symbols.get(self.currency)}
        )

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

    # --- authentication: woocommerce/woocommerce plugins/woocommerce/includes/
    # --- class-wc-rest-authentication.php ---------------------------------------------------

    def is_ssl(self, request: Request) -> bool:
        forwarded = request.headers.get("x-forwarded-proto", "")
        return self.https or (self.trusts_forwarded_proto and "https" in forwarded)

    def home_url(self, request: Request) -> str:
        """get_home_url(null, '', is_ssl() ? 'https' : 'http'): the home option's host."""
        scheme = "https" if self.is_ssl(request) else "http"
        return urlunsplit(urlsplit(self.url)._replace(scheme=scheme))

    def _authenticate(self, request: Request) -> tuple[bool, Response | None]:
        """authenticate(): Basic (or query keys) when is_ssl(), then OAuth 1.0a; returns whether
        a user was found, and the authentication error WordPress answers with, if any."""
        error: Response | None = None
        if self.strips_authorization:
            request.headers.pop("authorization", None)
        if self.is_ssl(request):  # perform_basic_authentication()
            key, secret = request.arg("consumer_key"), request.arg("consumer_secret")
            if not (key and secret):
                key = secret = None
                auth = request.headers.get("authorization", "")
                if auth.startswith("Basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    key, secret = user or None, password or None
            if key and secret and key == self.key:
                if hmac.compare_digest(secret, self.secret):
                    return True, None
                error = _error(
                    "woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401
                )
        found, oauth_error = self._oauth(request)  # perform_oauth_authentication()
        return found, oauth_error or error

    def _oauth(self, request: Request) -> tuple[bool, Response | None]:
        params = self._php_get(request)
        header = request.headers.get("authorization", "").strip()
        if header.startswith("OAuth "):  # parse_header()
            pattern = r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))'
            for name, _, quoted, bare in re.findall(pattern, header):
                params[name] = unquote_plus(quoted or bare)
        required = (
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        )
        missing = [name for name in required if not params.get(name)]
        if len(missing) == len(required):  # not even trying OAuth
            return False, None
        if missing:
            s = "s" if len(missing) > 1 else ""
            message = f"Missing OAuth parameter{s} {', '.join(missing)}"
            return False, _error("woocommerce_rest_authentication_missing_parameter", message, 401)
        if params["oauth_consumer_key"] != self.key:
            return False, _error(
                "woocommerce_rest_authentication_error", "Consumer key is invalid.", 401
            )
        refusal = self._check_signature(request, params)
        if refusal is None:
            refusal = self._check_timestamp_and_nonce(
                str(params["oauth_timestamp"]), str(params["oauth_nonce"])
            )
        return refusal is None, refusal

    @staticmethod
    def _php_get(request: Request) -> dict[str, Any]:
        """`$_GET` as PHP builds it: a repeated name keeps its last value, `name[]` a list
        (https://www.php.net/manual/en/language.variables.external.php)."""
        params: dict[str, Any] = {}
        for name, values in request.query.items():
            if name.endswith("[]"):
                params[name[:-2]] = list(values)
            else:
                params[name] = values[-1]
        return params

    def _check_signature(self, request: Request, params: dict[str, Any]) -> Response | None:
        """check_oauth_signature(): WooCommerce's base string, not quite RFC 5849's.

        The base URI is the store's home URL (not the Host the client used) in the scheme
        is_ssl() gives; parameters are sorted by raw name (strcmp) before encoding, a
        repeated name counts once (PHP keeps the last), and `name[]` lists are signed as
        `name[0]`, `name[1]`… Each `name=value` is encoded once more and joined with `%26`.
        """
        base_uri = _rawurlencode(self.home_url(request) + "/" + request.path.lstrip("/"))
        given = unquote(str(params.pop("oauth_signature")).replace(" ", "+"))  # rawurldecode()
        pairs: list[str] = []
        for name in sorted(params):
            value = params[name]
            key = _rawurlencode(name)
            if isinstance(value, list):  # join_with_equals_sign() on an array
                for index, item in enumerate(value):
                    pairs.append(_rawurlencode(f"{key}%5B{index}%5D={_rawurlencode(item)}"))
            else:
                pairs.append(_rawurlencode(f"{key}={_rawurlencode(str(value))}"))
        string_to_sign = f"{request.method.upper()}&{base_uri}&{'%26'.join(pairs)}"
        method = params.get("oauth_signature_method")
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return _error(
                "woocommerce_rest_authentication_error",
                "Invalid signature - signature method is invalid.",
                401,
            )
        digest = hashlib.sha1 if method == "HMAC-SHA1" else hashlib.sha256
        mac = hmac.new(f"{self.secret}&".encode(), string_to_sign.encode(), digest).digest()
        if not hmac.compare_digest(base64.b64encode(mac).decode(), given):
            return _error(
                "woocommerce_rest_authentication_error",
                "Invalid signature - provided signature does not match.",
                401,
            )
        return None

    def _check_timestamp_and_nonce(self, timestamp: str, nonce: str) -> Response | None:
        """check_oauth_timestamp_and_nonce(): within 15 minutes, and a nonce used once."""
        now = time.time()
        try:
            stamp = int(timestamp)
        except ValueError:
            stamp = 0
        if stamp < now - OAUTH_WINDOW or stamp > now + OAUTH_WINDOW:
            return _error("woocommerce_rest_authentication_error", "Invalid timestamp.", 401)
        if nonce in self.used_nonces.values():
            return _error(
                "woocommerce_rest_authentication_error",
                "Invalid nonce - nonce has already been used.",
                401,
            )
        self.used_nonces[stamp] = nonce  # one per timestamp, as the key's `nonces` column
        self.used_nonces = {t: n for t, n in self.used_nonces.items() if t >= now - OAUTH_WINDOW}
        return None

    # --- listings ---------------------------------------------------------------------------

    def _matching(self, request: Request) -> list[dict[str, Any]]:
        gmt = request.arg("dates_are_gmt") == "true"
        suffix = "_gmt" if gmt else ""

        def bound(name: str) -> str | None:
            value = request.arg(name)
            return value[:19] if value else None

        after, before, modified_after = bound("after"), bound("before"), bound("modified_after")
        statuses = set(request.query.get("status[]", []) + request.query.get("status", []))
        statuses = {s for part in statuses for s in part.split(",") if s} or {"any"}
        out = []
        for order in self.orders.values():
            created, modified = order["date_created" + suffix], order["date_modified" + suffix]
            if after and not created > after:
                continue
            if before and not created < before:
                continue
            if modified_after and not modified > modified_after:
                continue
            if "any" in statuses:
                if order["status"] in HIDDEN_FROM_ANY:
                    continue
            elif order["status"] not in statuses:
                continue
            out.append(order)
        key = {"id": "id", "date": "date_created_gmt", "modified": "date_modified_gmt"}[
            request.arg("orderby", "date") or "date"
        ]
        out.sort(key=lambda o: (o[key], o["id"]), reverse=request.arg("order", "desc") == "desc")
        return out
