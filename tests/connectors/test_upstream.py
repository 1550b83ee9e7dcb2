"""The shared retry policy, and the reading of Meta's usage headers."""

from __future__ import annotations

import json
import time

import pytest

from dpo.connectors.base import Budget
from dpo.connectors.meta_api import usage
from dpo.connectors.settings import UpstreamSettings
from dpo.connectors.upstream import Fault, Retrier
from dpo.errors import BudgetSpentError, TryLaterError, UpstreamRefusedError


class Flaky(Exception):
    def __init__(self, *, transient: bool = True, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.fault = Fault("HTTP 503", transient, retry_after, hint="try the other door")


def classify(exc: BaseException) -> Fault | None:
    return exc.fault if isinstance(exc, Flaky) else None


def failing(times: int, **kwargs: object) -> object:
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise Flaky(**kwargs)  # type: ignore[arg-type]
        return "ok"

    return call


def retrier(budget: Budget | None = None, **settings: object) -> Retrier:
    return Retrier(
        label="acme/x",
        classify=classify,
        budget=budget or Budget(),
        settings=UpstreamSettings(**settings),
    )


def test_backoff_grows_with_jitter_and_retry_after_wins(waits: list[float]) -> None:
    assert retrier().call(failing(3), what="x") == "ok"  # type: ignore[arg-type]
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):
        assert 0.5 * 2**attempt <= wait <= 2**attempt  # base 1 s, doubled, jittered by half
    waits.clear()
    retrier().call(failing(1, retry_after=42.0), what="x")  # type: ignore[arg-type]
    assert waits == [42.0]


def test_giving_up_is_try_later_with_the_last_fault(waits: list[float]) -> None:
    with pytest.raises(TryLaterError) as caught:
        retrier(max_attempts=3).call(failing(10), what="reading pages")  # type: ignore[arg-type]
    assert caught.value.message == "reading pages failed 3 times, last: HTTP 503"
    assert len(waits) == 2


def test_a_permanent_fault_is_refused_at_once(waits: list[float]) -> None:
    with pytest.raises(UpstreamRefusedError) as caught:
        retrier().call(failing(1, transient=False), what="x")  # type: ignore[arg-type]
    assert (caught.value.message, caught.value.hint) == ("HTTP 503", "try the other door")
    assert waits == []


def test_no_wait_goes_past_the_budget_or_the_longest_wait(waits: list[float]) -> None:
    soon = Budget(time.monotonic() + 10)
    with pytest.raises(TryLaterError, match="beyond the run's time budget"):
        retrier(soon).call(failing(1, retry_after=30.0), what="x")  # type: ignore[arg-type]
    with pytest.raises(TryLaterError, match=r"beyond max_retry_wait_seconds \(60s\)"):
        retrier(max_retry_wait_seconds=60).call(failing(1, retry_after=61.0), what="x")  # type: ignore[arg-type]
    spent = Budget(time.monotonic() - 1)
    with pytest.raises(BudgetSpentError):
        retrier(spent).call(failing(0), what="x")  # type: ignore[arg-type]
    assert waits == []


def test_other_exceptions_pass_through_untouched(waits: list[float]) -> None:
    def boom() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        retrier().call(boom, what="x")
    assert waits == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, (0.0, 0.0)),
        ({"x-app-usage": json.dumps({"call_count": 28, "total_time": 91})}, (91.0, 0.0)),
        (
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {
                        "123": [
                            {
                                "type": "ads_insights",
                                "call_count": 100,
                                "estimated_time_to_regain_access": 7,
                            }
                        ]
                    }
                )
            },
            (100.0, 420.0),
        ),
        ({"x-fb-ads-insights-throttle": json.dumps({"app_id_util_pct": 95.5})}, (95.5, 0.0)),
        ({"x-app-usage": "not json"}, (0.0, 0.0)),
    ],
)
def test_meta_usage_headers(headers: dict[str, str], expected: tuple[float, float]) -> None:
    assert usage(headers) == expected
