"""The Meta Marketing API calls of the Meta connector, through facebook-business.

- `FacebookSession.GRAPH` is the source's endpoint when one is set (proxies, sandboxes, tests);
  the API version is pinned (`api_version`), never the SDK's moving default. The secret is the
  access token, or `ACCESS_TOKEN:APP_SECRET`: then every call carries `appsecret_proof` (the
  token's HMAC-SHA256 keyed by the app secret), as apps that require it demand.
- Insights are read at campaign level with a filter on every campaign effective status: without
  it Meta leaves deleted and archived campaigns out of account insights.
- Every call is retried on transient faults (HTTP 5xx, Meta's `is_transient`, rate-limit codes
  1, 2, 4, 17, 32, 613 and 80000-80014, HTML bodies, connection errors), waiting what Meta's
  usage headers say when they say it (`estimated_time_to_regain_access`, the ad account's
  `reset_time_duration`); when a usage header reports the app or account close to its limit
  (`usage_pause_percent`), the next call waits first instead of being throttled.
- An insights request reads every page of its cursor. An async report run is polled until
  "Job Completed"; a failed or skipped run is started once more, then the request falls back to
  a plain paged request with small pages; a run still unfinished after `async_timeout_seconds`
  stops the sync (exit 75) and the next run asks again. "Please reduce the amount of data"
  (code 100/1487534, or 1) raises TooMuchDataError, never retried: the connector splits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from dpo.connectors import upstream
from dpo.connectors.base import Budget, SourceSpec
from dpo.connectors.upstream import Fault, Retrier, retry_after, short
from dpo.errors import (
    BudgetSpentError,
    ConfigError,
    TryLaterError,
    UpstreamRefusedError,
    describe,
    register_secret,
)

if TYPE_CHECKING:
    from facebook_business.api import FacebookAdsApi

    from dpo.connectors.meta import MetaSettings

log = logging.getLogger(__name__)

RATE_LIMIT_CODES = frozenset({1, 2, 4, 17, 32, 613, *range(80000, 80015)})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
USAGE_HEADERS = (
    "x-business-use-case-usage",
    "x-ad-account-usage",
    "x-app-usage",
    "x-fb-ads-insights-throttle",
)
DONE, FAILED = "Job Completed", ("Job Failed", "Job Skipped")
FALLBACK_PAGE_SIZE = 50
# Campaign.EffectiveStatus: asking for all of them keeps deleted and archived campaigns.
CAMPAIGN_STATUSES = ("ACTIVE", "PAUSED", "IN_PROCESS", "WITH_ISSUES", "ARCHIVED", "DELETED")
STATUS_FILTER = {"field": "campaign.effective_status", "operator": "IN", "value": CAMPAIGN_STATUSES}
TOO_MUCH_DATA = (1, 100)  # the codes of "Please reduce the amount of data you're asking for"
TOO_MUCH_DATA_SUBCODE = 1487534
RETENTION_CODE = 3018  # a start date beyond the 37 months Meta keeps


class AsyncReportFailedError(Exception):
    """Meta gave up on an async report run ("Job Failed" or "Job Skipped")."""


class MalformedAnswerError(Exception):
    """Meta answered 200 with a body the SDK could not read as the objects asked for."""


class TooMuchDataError(UpstreamRefusedError):
    """Meta refused an insights request as too large ("Please reduce the amount of data")."""


class MetaApi:
    """One ad account's calls: the account itself and its campaign insights."""

    def __init__(self, spec: SourceSpec, config: MetaSettings) -> None:
        self.spec = spec
        self.config = config
        self.account_id = "act_" + spec.account.removeprefix("act_")
        self._api: FacebookAdsApi | None = None
        self.pause_seconds = 0.0  # what the last usage headers asked us to wait

    # --- calls ----------------------------------------------------------------------------------

    def account(self, budget: Budget) -> dict[str, Any]:
        """The ad account's name, currency, time zone and status."""
        from facebook_business.adobjects.adaccount import AdAccount

        account = AdAccount(self.account_id, api=self._connect())
        fields = ["name", "currency", "timezone_name", "account_status"]
        got = self._retrier(budget).call(
            lambda: self._timed(budget, lambda: account.api_get(fields=fields, params={})),
            what="reading the ad account",
        )
        return dict(got.export_all_data())

    def insights(
        self,
        day: date,
        fields: Iterable[str],
        extra: Mapping[str, Any],
        *,
        budget: Budget,
        is_async: bool,
        campaigns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Campaign-level insights of one local day, every page, of campaigns of every status
        (or of `campaigns` only); TooMuchDataError when Meta finds them too large."""
        filtering: list[dict[str, Any]] = [STATUS_FILTER]
        if campaigns is not None:
            filtering.append({"field": "campaign.id", "operator": "IN", "value": list(campaigns)})
        params = {
            "level": "campaign",
            "time_range": {"since": day.isoformat(), "until": day.isoformat()},
            "limit": self.config.page_size,
            "filtering": filtering,
            **extra,
        }
        fields = list(fields)
        if is_async:
            for _attempt in range(2):
                try:
                    return self._async_insights(fields, params, budget, day)
                except AsyncReportFailedError:
                    log.info("%s: async report of %s failed", self.spec.label, day)
            params["limit"] = min(FALLBACK_PAGE_SIZE, self.config.page_size)
        return self._sync_insights(fields, params, budget, day)

    def account_days(
        self,
        first: date,
        last: date,
        fields: Iterable[str],
        extra: Mapping[str, Any],
        *,
        budget: Budget,
    ) -> list[dict[str, Any]]:
        """The ad account's own insights, one row per local day first…last (`level=account`,
        `time_increment=1`), every page; TooMuchDataError when Meta finds them too large.

        No status filter: the insights of an object count all its children, archived and
        deleted ones included (best-practices/storing_adobjects).
        """
        from facebook_business.adobjects.adaccount import AdAccount

        account = AdAccount(self.account_id, api=self._connect())
        params = {
            "level": "account",
            "time_range": {"since": first.isoformat(), "until": last.isoformat()},
            "time_increment": 1,
            "limit": self.config.page_size,
            **extra,
        }

        def read() -> list[dict[str, Any]]:
            return every_row(account.get_insights(fields=list(fields), params=dict(params)), budget)

        return self._retrier(budget).call(
            lambda: self._timed(budget, read), what=f"the account's insights of {first}…{last}"
        )

    def campaign_ids(self, day: date, *, budget: Budget) -> list[str]:
        """The campaigns with insights on `day`, of every status (one field: a small request)."""
        rows = self.insights(day, ["campaign_id"], {}, budget=budget, is_async=False)
        return sorted({str(row["campaign_id"]) for row in rows})

    def close(self) -> None:
        if self._api is not None:
            self._api._session.requests.close()
            self._api = None

    # --- insights, sync and async ---------------------------------------------------------------

    def _sync_insights(
        self, fields: list[str], params: dict[str, Any], budget: Budget, day: date
    ) -> list[dict[str, Any]]:
        from facebook_business.adobjects.adaccount import AdAccount

        account = AdAccount(self.account_id, api=self._connect())

        def read() -> list[dict[str, Any]]:
            return every_row(account.get_insights(fields=fields, params=dict(params)), budget)

        return self._retrier(budget).call(
            lambda: self._timed(budget, read), what=f"the insights of {day}"
        )

    def _async_insights(
        self, fields: list[str], params: dict[str, Any], budget: Budget, day: date
    ) -> list[dict[str, Any]]:
        from facebook_business.adobjects.adaccount import AdAccount

        account = AdAccount(self.account_id, api=self._connect())
        retrier = self._retrier(budget)
        job = retrier.call(
            lambda: self._timed(
                budget,
                lambda: account.get_insights(fields=fields, params=dict(params), is_async=True),
            ),
            what=f"starting the report of {day}",
        )
        self._await(job, budget, day)
        limit = {"limit": params["limit"]}
        return retrier.call(
            lambda: self._timed(budget, lambda: every_row(job.get_result(params=limit), budget)),
            what=f"reading the report of {day}",
        )

    def _await(self, job: Any, budget: Budget, day: date) -> None:
        """Poll an async report run until it completes; raise if it fails or gets stuck."""
        retrier = self._retrier(budget)
        waited, interval = 0.0, 1.0
        while True:
            retrier.call(
                lambda: self._timed(budget, lambda: job.api_get(params={})),
                what=f"polling the report of {day}",
            )
            status = job.get("async_status")
            if status == DONE:
                return
            if status in FAILED:
                raise AsyncReportFailedError(status)
            if waited + interval > self.config.async_timeout_seconds:
                raise TryLaterError(
                    f"Meta's report of {day} is still "
                    f"{status or 'pending'} after {waited:.0f}s; the next run asks again"
                )
            left = budget.remaining()
            if left is not None and interval >= left:
                raise BudgetSpentError("the time budget ran out waiting for a Meta report")
            upstream.sleep(interval)
            waited += interval
            interval = min(interval * 2, 30.0)

    # --- plumbing -------------------------------------------------------------------------------

    def _timed(self, budget: Budget, fn: Any) -> Any:
        """Run one call with the HTTP timeout bounded by the budget, after any usage pause;
        Meta's "too much data" refusal becomes TooMuchDataError (never retried as it is), and
        an answer the SDK cannot read (an HTML page or cut JSON with status 200, which it hands
        on as text) MalformedAnswerError, retried like any transient fault."""
        from facebook_business.exceptions import FacebookRequestError

        self._pause(budget)
        api = self._connect()
        api._session.timeout = budget.timeout(self.config.timeout_seconds)
        try:
            result = fn()
        except FacebookRequestError as exc:
            if _is_too_much_data(exc):
                raise TooMuchDataError(_request_fault(exc).message) from exc
            raise
        except (TypeError, KeyError, AttributeError, IndexError, ValueError) as exc:
            raise MalformedAnswerError(describe(exc)) from exc
        if isinstance(result, list) and not all(isinstance(row, dict) for row in result):
            raise MalformedAnswerError("rows that are not JSON objects")
        return result

    def _pause(self, budget: Budget) -> None:
        if self.pause_seconds <= 0:
            return
        wait, self.pause_seconds = self.pause_seconds, 0.0
        left = budget.remaining()
        if wait > self.config.max_retry_wait_seconds or (left is not None and wait >= left):
            raise TryLaterError(
                f"Meta's usage limits are nearly reached (wait {wait:.0f}s); "
                "the next run carries on"
            )
        log.info("%s: Meta usage is high; pausing %.0fs", self.spec.label, wait)
        upstream.sleep(wait)

    def note_usage(self, headers: Mapping[str, str]) -> None:
        """Read Meta's usage headers after a call; plan a pause when a limit is near."""
        percent, regain = usage(headers)
        if percent >= self.config.usage_pause_percent:
            self.pause_seconds = max(regain, 60.0)

    def _connect(self) -> FacebookAdsApi:
        if self._api is None:
            self._api = _tracking_api(self)
        return self._api

    def _retrier(self, budget: Budget) -> Retrier:
        return Retrier(
            label=self.spec.label, classify=classify, budget=budget, settings=self.config
        )


def _tracking_api(owner: MetaApi) -> FacebookAdsApi:
    """A FacebookAdsApi on its own session that reports every response's usage headers."""
    from facebook_business.api import FacebookAdsApi
    from facebook_business.exceptions import FacebookRequestError
    from facebook_business.session import FacebookSession

    token, app_secret = _credentials(owner.spec.secret)

    class TrackingApi(FacebookAdsApi):  # type: ignore[misc]
        def call(self, *args: Any, **kwargs: Any) -> Any:
            try:
                response = super().call(*args, **kwargs)
            except FacebookRequestError as exc:
                owner.note_usage(exc.http_headers() or {})
                raise
            owner.note_usage(response.headers() or {})
            return response

    session = FacebookSession(access_token=token, app_secret=app_secret)
    if app_secret:
        register_secret(session.appsecret_proof)
    if owner.spec.endpoint:
        session.GRAPH = owner.spec.endpoint
    session.requests.headers["User-Agent"] = "dpo (Meta connector)"
    return TrackingApi(session, api_version=owner.config.api_version)


def _credentials(secret: str | None) -> tuple[str, str | None]:
    """(access token, app secret or None) from `ACCESS_TOKEN` or `ACCESS_TOKEN:APP_SECRET`."""
    token, sep, app_secret = (secret or "").strip().partition(":")
    if not token or (sep and not app_secret):
        raise ConfigError(
            "no access token" if not token else "an empty app secret after the access token",
            hint="give a system-user token with ads_read as ACCESS_TOKEN, or as "
            "ACCESS_TOKEN:APP_SECRET when its app requires an app secret proof "
            "(--secret-env or --secret-file)",
        )
    register_secret(token)
    if app_secret:
        register_secret(app_secret)
    return token, app_secret or None


def usage(headers: Mapping[str, str]) -> tuple[float, float]:
    """(highest usage percent, seconds until access is regained) from Meta's usage headers."""
    percent, regain = 0.0, 0.0
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in USAGE_HEADERS:
        try:
            value = json.loads(lowered.get(name) or "null")
        except ValueError:
            continue
        for entry in _usage_entries(value):
            for key, number in entry.items():
                if not isinstance(number, int | float):
                    continue
                if key == "estimated_time_to_regain_access":
                    regain = max(regain, float(number) * 60)  # minutes
                elif key == "reset_time_duration":  # x-ad-account-usage, seconds
                    regain = max(regain, float(number))
                elif key in ("call_count", "total_time", "total_cputime") or key.endswith("_pct"):
                    percent = max(percent, float(number))
    return percent, regain


def _usage_entries(value: Any) -> Iterable[dict[str, Any]]:
    """The flat usage dicts of any of the headers' shapes (dict, or dict of lists of dicts)."""
    if isinstance(value, dict):
        if any(isinstance(v, list) for v in value.values()):
            for items in value.values():
                yield from (i for i in items if isinstance(i, dict))
        else:
            yield value


MAX_PAGES = 10_000  # a listing longer than this is a paging loop, not data


def every_row(cursor: Any, budget: Budget) -> list[dict[str, Any]]:
    """Every row of every page of an SDK cursor (its first page already loaded).

    The SDK's iterator stops at the first empty page, but a page may be empty and still carry
    a `next` link; only a page without one is the last
    (https://developers.facebook.com/docs/graph-api/results/). So the pages are walked here,
    until the cursor has read a page without `next` (its `_finished_iteration`).
    """
    rows: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        rows.extend(dict(cursor[i].export_all_data()) for i in range(len(cursor)))
        if cursor._finished_iteration:
            return rows
        budget.check()
        cursor.load_next_page()
    raise MalformedAnswerError(f"more than {MAX_PAGES} pages: Meta's paging links loop")


def classify(exc: BaseException) -> Fault | None:
    """How to treat a failure of a Meta API call."""
    import requests
    from facebook_business.exceptions import FacebookBadObjectError, FacebookRequestError

    if isinstance(exc, FacebookRequestError):
        return _request_fault(exc)
    if isinstance(exc, FacebookBadObjectError | json.JSONDecodeError | MalformedAnswerError):
        return Fault("Meta answered with a body that is not the JSON expected", is_transient=True)
    if isinstance(exc, requests.Timeout):
        return Fault("Meta did not answer in time", is_transient=True)
    if isinstance(exc, requests.ConnectionError):
        return Fault("cannot connect to the Meta Graph API", is_transient=True)
    return None


def _request_fault(exc: Any) -> Fault:
    code = int(exc.api_error_code() or 0)
    subcode = exc.api_error_subcode()
    status = int(exc.http_status() or 0)
    said = f"HTTP {status}, code {code}" + (f"/{subcode}" if subcode else "")
    if exc.api_error_message():
        said += f": {short(exc.api_error_message())}"
    headers = exc.http_headers() or {}
    if _is_too_much_data(exc):  # before the rate limits: its code may be 1
        return Fault(f"Meta finds the request too large ({said})", False)
    if (
        code in RATE_LIMIT_CODES
        or exc.api_transient_error()
        or status >= 500
        or status == 429
        or (not code and status < 400)
    ):
        wait = max(usage(headers)[1], retry_after(headers) or 0.0) or None
        return Fault(f"Meta answered {said}", True, wait)
    what, hint = _refusal(code, exc.api_error_message() or "")
    return Fault(f"{what} ({said})", False, hint=hint)


def _refusal(code: int, message: str) -> tuple[str, str | None]:
    """What a refusal with Meta's error `code` means, and what to do about it."""
    if code == 190:
        return "Meta refused the access token", (
            "create a new (system-user) token with ads_read and update the source's secret"
        )
    if code == 2635:
        return "Meta no longer serves this API version", (
            "set a current version with --setting api_version=vNN.0 or [meta] api_version"
        )
    if code == RETENTION_CODE:
        return "Meta keeps insights for 37 months only", (
            "days older than 37 months cannot be synced; check the machine's clock"
        )
    if code == 100 and "appsecret_proof" in message:
        return "Meta refused the app secret proof", (
            "the app requires an app secret proof: give the source's secret as "
            "ACCESS_TOKEN:APP_SECRET, with the secret of the token's app (App settings → Basic)"
        )
    if code in PERMISSION_CODES:
        return "Meta refused access to the ad account", (
            "give the token's user access to the ad account, with the ads_read permission"
        )
    return "Meta refused the request", None


def _is_too_much_data(exc: Any) -> bool:
    """Meta's "Please reduce the amount of data you're asking for": code 100 with subcode
    1487534, or code 1 or 100 with only the message."""
    if int(exc.api_error_code() or 0) not in TOO_MUCH_DATA:
        return False
    message = (exc.api_error_message() or "").lower()
    return exc.api_error_subcode() == TOO_MUCH_DATA_SUBCODE or "reduce the amount of" in message
