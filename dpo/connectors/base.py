"""The connector interface: one small class per upstream, behind which the sync engine works.

A connector turns one *window* (a day in the upstream's time zone) into fact rows, fetching
every page before it returns, and raises `UpstreamRefusedError` (fatal) or `TryLaterError`
(transient) for upstream failures. It never touches the database: the sync engine replaces
the window's facts with what the connector yields, in one transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from time import monotonic
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from dpo.connectors.settings import ConnectorSettings
from dpo.errors import BudgetSpentError, InvalidInputError
from dpo.metrics import BY_NAME as METRIC_NAMES
from dpo.vocab import DataQuality, Grain


@dataclass(frozen=True)
class Window:
    """One local day of an upstream, as a UTC half-open range [start, end)."""

    day: date
    start: datetime
    end: datetime

    @classmethod
    def for_day(cls, day: date, tz: ZoneInfo) -> Window:
        """The window of local `day` in `tz` (23 or 25 hours long on DST change days)."""
        start = datetime.combine(day, time(), tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
        return cls(day, start, end)

    def contains(self, moment: datetime) -> bool:
        """True when `moment` falls inside the window."""
        return self.start <= moment < self.end


@dataclass(frozen=True)
class Budget:
    """The time a run has left, as a `time.monotonic()` deadline (None: unlimited).

    Connectors bound their HTTP timeouts and retry waits with `timeout()` and call `check()`
    before starting more work, so a slow upstream cannot hold a run past its budget.
    """

    deadline: float | None = None

    def remaining(self) -> float | None:
        """Seconds left, or None when unlimited."""
        return None if self.deadline is None else max(0.0, self.deadline - monotonic())

    def timeout(self, default: float) -> float:
        """`default`, shortened to what is left of the budget."""
        left = self.remaining()
        return default if left is None else max(0.001, min(default, left))

    def check(self) -> None:
        """Raise BudgetSpentError when the budget has run out."""
        if self.deadline is not None and monotonic() >= self.deadline:
            raise BudgetSpentError("the time budget ran out; the next run carries on")


MetricValue = int | Decimal | None
DailyTotals = Mapping[date, Mapping[str, Decimal]]
"""What an upstream reports per local day, by metric (`Connector.daily_totals`)."""


class NotVerifiableError(InvalidInputError):
    """A connector whose upstream has no daily report to compare the stored facts with."""


class FactRow:  # noqa: PLW1641 - mutable, so unhashable (as the dataclass it replaced)
    """One fact as a connector reports it: its period and segment, and its metrics by name.

    Metrics are those of `dpo.metrics`, given as keywords (`FactRow(Grain.hour, start,
    spend=Decimal("1.20"))`); a metric left out, or None, is one the upstream does not report
    (never zero). `row.spend` reads one; `row.metrics` holds them all.
    """

    __slots__ = (
        "campaign",
        "campaign_name",
        "channel",
        "currency",
        "grain",
        "metrics",
        "period_start",
    )

    def __init__(
        self,
        grain: Grain,
        period_start: datetime,
        *,
        channel: str = "",
        campaign: str = "",
        campaign_name: str | None = None,
        currency: str | None = None,
        **metrics: MetricValue,
    ) -> None:
        unknown = metrics.keys() - METRIC_NAMES
        if unknown:
            raise TypeError(f"unknown metric {', '.join(sorted(unknown))}: see dpo.metrics")
        self.grain = grain
        self.period_start = period_start
        self.channel = channel
        self.campaign = campaign
        self.campaign_name = campaign_name
        self.currency = currency
        self.metrics: dict[str, MetricValue] = metrics

    def __getattr__(self, name: str) -> MetricValue:
        if name in METRIC_NAMES:
            return self.metrics.get(name)
        raise AttributeError(f"FactRow has no attribute {name!r}")

    def _key(self) -> tuple[Any, ...]:
        reported = {k: v for k, v in self.metrics.items() if v is not None}
        return (self.grain, self.period_start, self.channel, self.campaign, self.campaign_name,
                self.currency, reported)  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FactRow) and self._key() == other._key()

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k}={v!r}" for k, v in self.metrics.items() if v is not None)
        return (
            f"FactRow({self.grain.value}, {self.period_start.isoformat()}, "
            f"channel={self.channel!r}, campaign={self.campaign!r}, {metrics})"
        )


@dataclass(frozen=True)
class RunPlan:
    """What a connector asks of one run, decided before its windows are planned.

    `changed_days` are local days to fetch again beyond the usual lookback: days the upstream
    says changed since the last run, or a restatement window fetched once a day. They are
    fetched after the recent days, when they lie inside the synced range. `state` is the
    connector's own bookkeeping, saved when the run ends without an error; changed days that a
    time budget left undone are carried over to the next run by the engine.
    """

    changed_days: frozenset[date] = frozenset()
    state: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SourceSpec:
    """What a connector knows of its source: a snapshot, detached from the database."""

    id: int
    org_id: int
    org_slug: str
    kind: str
    account: str
    name: str
    org_timezone: str
    org_currency: str
    endpoint: str | None = None
    secret: str | None = field(default=None, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # the kind's config section

    @property
    def label(self) -> str:
        """How the source is named in messages: org/name."""
        return f"{self.org_slug}/{self.name}"


class Role(StrEnum):
    """What a source is to its organization; decides who owns revenue (`dpo.rollup`)."""

    store = "store"  # its orders are the organization's revenue
    analytics = "analytics"  # owns revenue when the organization has no store
    ads = "ads"  # spends; what it attributes is a claim, never revenue


DECLARED = ("kind", "summary", "account_help", "role", "settings_model", "metrics")
"""What every connector class declares about its kind (checked when the class is made)."""


class Connector(ABC):
    """Base class of every connector; a subclass declares everything about its kind.

    Register it with one line in `dpo/connectors/__init__.py`: the CLI's and the API's kinds,
    the `[kind]` config section and the revenue owner rule all follow from these attributes.
    """

    kind: ClassVar[str]  # the slug: CLI argument, registry key, config section, source.kind
    summary: ClassVar[str]  # one line for help texts: what the upstream is
    account_help: ClassVar[str]  # what `dpo sources add --account` takes for this kind
    role: ClassVar[Role]
    settings_model: ClassVar[type[ConnectorSettings]]  # its `[kind]` section and --setting keys
    metrics: ClassVar[frozenset[str]]  # the names in dpo.metrics its rows may report
    default_lookback_days: ClassVar[int] = 3
    needs_secret: ClassVar[bool] = False  # True: no source of this kind works without one

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        missing = [name for name in DECLARED if not getattr(cls, name, None)]
        if missing:
            raise TypeError(f"connector {cls.__name__} does not declare {', '.join(missing)}")
        unknown = sorted(cls.metrics - METRIC_NAMES.keys())
        if unknown:
            raise TypeError(f"connector {cls.__name__} reports unknown metrics {unknown}")
        if not isinstance(cls.role, Role) or not issubclass(cls.settings_model, ConnectorSettings):
            raise TypeError(f"connector {cls.__name__}: role must be a Role, settings_model a "
                            "ConnectorSettings")  # fmt: skip

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec

    @classmethod
    def role_for(cls, account: str) -> Role:
        """The role of a source of this kind with `account` (the kind's role)."""
        return cls.role

    @classmethod
    def canonical_account(cls, account: str) -> str:
        """The one spelling of an upstream account id, so that one account cannot be added
        twice (and counted twice) under two spellings."""
        return account.strip()

    @classmethod
    def normalize_settings(
        cls, account: str, settings: Mapping[str, Any], *, today: date
    ) -> dict[str, Any]:
        """Check a new source's account and settings; fill defaults. Raise ValueError if bad."""
        return dict(settings)

    def prepare(self, state: Mapping[str, Any], *, now: datetime, budget: Budget) -> RunPlan:
        """Look at the connector's saved `state` (and the upstream) before a run; see RunPlan.

        Called once per run before `timezone()`, so a connector may learn its upstream's time
        zone here.
        """
        return RunPlan()

    def timezone(self) -> ZoneInfo:
        """The upstream's time zone, in which windows are days (default: the org's)."""
        return ZoneInfo(str(self.spec.settings.get("timezone") or self.spec.org_timezone))

    @abstractmethod
    def fetch_window(self, window: Window, *, now: datetime, budget: Budget) -> Iterator[FactRow]:
        """Every fact of `window` known upstream at `now` (all pages), as rows.

        Raise BudgetSpentError (via `budget.check()`) rather than outlive the run's budget.
        """

    def available_from(self, now: datetime) -> date | None:
        """The oldest local day the upstream still serves (None: no limit). The engine plans no
        window before it and raises a remembered history start to it."""
        return None

    def first_day(self, now: datetime, *, budget: Budget) -> date | None:
        """The oldest local day the upstream holds anything for, when it can tell cheaply (None:
        it cannot). Asked only when a run is told to backfill (`--since`) before the days
        synced: no window is planned before it, and the history start is raised to it."""
        return None

    def data_quality(self, window: Window) -> frozenset[DataQuality]:
        """What the upstream said about the completeness of `window`, once it was fetched
        (rows withheld, grouped or sampled); stored with the window's facts."""
        return frozenset()

    def check(self) -> str:
        """Make one cheap authenticated call; return what it found (raise if refused)."""
        return "ok"

    def learn_timezone(self, *, budget: Budget) -> ZoneInfo:
        """`timezone()`, after asking the upstream where the connector learns its zone there
        (as `prepare` does): for work that runs without `prepare`, such as verification."""
        return self.timezone()

    def daily_totals(self, first: date, last: date, *, budget: Budget) -> DailyTotals:
        """What the upstream itself reports for each local day first…last, by metric, from its
        cheapest daily report: what `dpo sources verify` compares the stored facts with.

        Every day of the range is in the answer, each with every metric compared (0 where the
        upstream reports nothing that day); money is in the upstream's own currency. The
        figures mean what the connector's facts of the day add up to (the same orders, the
        same attribution, the same day boundaries). Raise NotVerifiableError (the default)
        when the upstream has no such report.
        """
        raise NotVerifiableError(
            f"{self.kind} sources cannot be verified: the connector has no upstream report to "
            "compare the stored days with"
        )

    def close(self) -> None:  # noqa: B027 - most connectors hold nothing to release
        """Release connections."""


def once_a_day(
    state: Mapping[str, Any], *, key: str, today: date, days: int
) -> tuple[frozenset[date], dict[str, Any]]:
    """The `days` local days before `today`, on the first run of each day; none on the others.

    Returns those days and the state to save (recording `today` under `key`).
    """
    if state.get(key) == today.isoformat():
        return frozenset(), dict(state)
    window = frozenset(today - timedelta(days=n) for n in range(1, days + 1))
    return window, {**state, key: today.isoformat()}
