"""A demo connector that can be told to fail on a given day, for testing the sync engine."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from dpo.connectors.base import Budget, FactRow, RunPlan, Window, once_a_day
from dpo.connectors.demo import DemoConnector
from dpo.errors import TryLaterError, UpstreamRefusedError
from dpo.vocab import Grain

SCRIPT_KEYS = ("fail_day", "fail_with", "message")


class ScriptedConnector(DemoConnector):
    """Demo data, except on `fail_day`, where it fails as `fail_with` says."""

    @classmethod
    def normalize_settings(
        cls, account: str, settings: Mapping[str, Any], *, today: date
    ) -> dict[str, Any]:
        script = {k: settings[k] for k in SCRIPT_KEYS if k in settings}
        rest = {k: v for k, v in settings.items() if k not in SCRIPT_KEYS}
        return {**super().normalize_settings(account, rest, today=today), **script}

    def fetch_window(self, window: Window, *, now: datetime, budget: Budget) -> Iterator[FactRow]:
        fail_day = self.spec.settings.get("fail_day")
        if fail_day and window.day.isoformat() == fail_day:
            how = self.spec.settings.get("fail_with", "later")
            message = str(self.spec.settings.get("message", "upstream trouble"))
            if how == "later":
                raise TryLaterError(message)
            if how == "refused":
                raise UpstreamRefusedError(message)
            if how == "outside":
                yield from super().fetch_window(window, now=now, budget=budget)
                yield FactRow(Grain.hour, window.end, channel="Direct", sessions=1)
                return
            raise RuntimeError(message)
        yield from super().fetch_window(window, now=now, budget=budget)


class PlanningConnector(ScriptedConnector):
    """Demo data with a run plan: days named in the `changed` setting, the 5 days before today
    on the first run of each local day, and a count of finished runs in its state."""

    @classmethod
    def normalize_settings(
        cls, account: str, settings: Mapping[str, Any], *, today: date
    ) -> dict[str, Any]:
        rest = {k: v for k, v in settings.items() if k != "changed"}
        out = super().normalize_settings(account, rest, today=today)
        return {**out, "changed": settings.get("changed", "")}

    def prepare(self, state: Mapping[str, Any], *, now: datetime, budget: Budget) -> RunPlan:
        changed = str(self.spec.settings.get("changed", ""))
        today = now.astimezone(self.timezone()).date()
        daily, new_state = once_a_day(state, key="widened_on", today=today, days=5)
        named = frozenset(date.fromisoformat(d) for d in changed.split(",") if d)
        return RunPlan(
            changed_days=daily | named,
            state={**new_state, "runs": int(state.get("runs", 0)) + 1},
        )
