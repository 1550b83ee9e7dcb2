"""What the real connectors share: typed settings per source, and budget-bounded retries.

Every upstream call goes through `Retrier.call`, which retries transient faults (429, 5xx,
timeouts, connection errors, non-JSON bodies, rate-limit codes) with tenacity — exponential
backoff with jitter, or the upstream's own Retry-After when it is longer — and never waits past
the run's time budget: when the next wait would end after it, the run stops with
`TryLaterError` and the next run carries on. Permanent faults raise `UpstreamRefusedError`
at once. Waits go through the module-level `sleep`, which tests replace.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from dpo import metrics
from dpo.connectors.base import Budget, SourceSpec
from dpo.connectors.settings import UpstreamSettings
from dpo.errors import DpoError, TryLaterError, UpstreamDataError, UpstreamRefusedError, scrub
from dpo.validation import first_problem

log = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S", bound=UpstreamSettings)

sleep: Callable[[float], None] = time.sleep  # replaced by tests: no test really waits


def _sleep(seconds: float) -> None:
    sleep(seconds)  # looked up at call time, so a test's replacement is used


@dataclass(frozen=True)
class Fault:
    """An upstream failure judged: retry it (transient) or not, and what to tell the user."""

    message: str
    is_transient: bool
    retry_after: float | None = None  # seconds the upstream asked us to wait
    hint: str | None = None


Classifier = Callable[[BaseException], Fault | None]  # None: not an upstream fault


class Retrier:
    """Runs upstream calls with retries bounded by attempts, a longest wait and the budget."""

    def __init__(
        self,
        *,
        label: str,
        classify: Classifier,
        budget: Budget,
        settings: UpstreamSettings,
        base_wait: float = 1.0,
    ) -> None:
        self.label = label
        self.classify = classify
        self.budget = budget
        self.max_attempts = settings.max_attempts
        self.max_wait = settings.max_retry_wait_seconds
        self.base_wait = base_wait

    def call(self, fn: Callable[[], T], *, what: str) -> T:
        """`fn()`, retried on transient faults; DpoError (4 or 75) when it cannot succeed."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(self._is_transient),
            sleep=_sleep,
            reraise=True,
        )
        try:
            result: T = retrying(self._attempt, fn)
            return result
        except DpoError:
            raise
        except Exception as exc:
            fault = self.classify(exc)
            if fault is None:
                raise
            raise self._error(fault, what=what, gave_up=fault.is_transient) from None

    def _attempt(self, fn: Callable[[], T]) -> T:
        self.budget.check()
        return fn()

    def _is_transient(self, exc: BaseException) -> bool:
        fault = self.classify(exc)
        return fault is not None and fault.is_transient

    def _wait(self, state: RetryCallState) -> float:
        """The next wait: backoff with jitter, or Retry-After; never past the budget."""
        exc = state.outcome.exception() if state.outcome else None
        fault = self.classify(exc) if exc else None
        assert fault is not None
        backoff = self.base_wait * 2.0 ** (state.attempt_number - 1)
        delay = max(fault.retry_after or 0.0, backoff * (0.5 + random.random() / 2))
        left = self.budget.remaining()
        if delay > self.max_wait:
            limit = f"max_retry_wait_seconds ({self.max_wait:.0f}s)"
        elif left is not None and delay >= left:
            limit = "the run's time budget"
        else:
            log.info("%s: %s; retrying in %.1fs", self.label, scrub(fault.message), delay)
            return delay
        raise TryLaterError(
            f"{fault.message}; the next try would be in {delay:.0f}s, beyond {limit}",
            hint="the next run carries on",
        )

    def _error(self, fault: Fault, *, what: str, gave_up: bool) -> DpoError:
        if gave_up:
            return TryLaterError(
                f"{what} failed {self.max_attempts} times, last: {fault.message}",
                hint=fault.hint or "the next run tries again",
            )
        return UpstreamRefusedError(fault.message, hint=fault.hint)


def source_settings(model: type[S], spec: SourceSpec) -> S:
    """The kind's settings (config file, DPO_* environment) overridden by the source's own."""
    try:
        return model.model_validate({**spec.defaults, **spec.settings})
    except ValidationError as exc:
        raise DpoError(f"invalid setting {first_problem(exc)}") from None


def check_source_settings(model: type[S], settings: Mapping[str, Any]) -> dict[str, Any]:
    """A new source's own settings, validated and normalized; ValueError when wrong."""
    known = set(model.model_fields) - {"lookback_days"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown setting {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        checked = model.model_validate(dict(settings))
    except ValidationError as exc:
        raise ValueError(f"invalid setting {first_problem(exc)}") from None
    return {key: getattr(checked, key) for key in settings}


def checked_number(name: str, value: object, *, upstream: str, where: str) -> int | Decimal:
    """An upstream's value of metric `name` as its column holds it, or UpstreamDataError naming
    the upstream, the metric, the value and `where` (e.g. `for campaign 222 on 2026-03-07`)."""
    try:
        return metrics.BY_NAME[name].coerce(value)
    except ValueError as exc:
        shown = short(value) if isinstance(value, str) else str(value)
        why = "" if str(exc) == "not a number" else f" ({exc})"
        raise UpstreamDataError(
            f"{upstream} sent {name} {shown!r} {where}{why}",
            hint="nothing was written for that day; the next run fetches it again",
        ) from None


def short(text: object, limit: int = 200) -> str:
    """An upstream's own error text, on one line, scrubbed and cut short."""
    line = " ".join(str(text).split())
    line = scrub(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), if any."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
