"""Request and response shapes that exist only in the API (the rest come from the library)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from dpo.insights.store import InsightPublic
from dpo.resources.goals import GoalCreate, GoalPublic
from dpo.validation import day_problem

Number = int | float


def to_number(value: Decimal) -> Number:
    """A Decimal as a JSON number, as `dpo … --json` prints it."""
    return int(value) if value == value.to_integral_value() else float(value)


JsonDecimal = Annotated[Decimal, PlainSerializer(to_number, return_type=Number, when_used="json")]


class Problem(BaseModel):
    """Every error: `{"detail": "…"}` (a list of problems for invalid requests)."""

    detail: str | list[dict[str, Any]]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str


# --- goals ---------------------------------------------------------------------------------


class GoalCreateRequest(GoalCreate):
    """A new goal and the organization it belongs to."""

    org: str = Field(max_length=64)


class GoalOut(GoalPublic):
    target: JsonDecimal


# --- dashboard and channels ----------------------------------------------------------------


class DateRangeOut(BaseModel):
    start: date
    end: date


class CompareOut(DateRangeOut):
    mode: str


class KpiTile(BaseModel):
    """One KPI of the period: its value, the compared period's, the change and a daily trend."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    value: Number | None
    previous: Number | None
    change: Number | None
    trend: list[Number | None]


class Chart(BaseModel):
    """A chart in Chart.js terms: `data.labels` and `data.datasets[].data`, plus options."""

    type: str
    data: dict[str, Any]
    options: dict[str, Any]


class DashboardOut(BaseModel):
    org: str
    name: str
    currency: str
    timezone: str
    period: DateRangeOut
    compare: CompareOut
    kpis: list[KpiTile]
    charts: list[Chart]
    channels: list[dict[str, Any]]
    top_campaigns: list[dict[str, Any]]
    bottom_campaigns: list[dict[str, Any]]
    insights: list[InsightPublic]
    warnings: list[str]


class ChannelCompareOut(CompareOut):
    totals: dict[str, Number | None]
    change: dict[str, Number | None]


class ChannelOut(BaseModel):
    org: str
    channel: str
    currency: str
    timezone: str
    period: DateRangeOut
    compare: ChannelCompareOut
    totals: dict[str, Number | None]
    days: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]


# --- jobs: aggregate and sync --------------------------------------------------------------


def _check_day(value: date | None) -> date | None:
    if value is not None and (problem := day_problem(value)):
        raise ValueError(problem)
    return value


class AggregateRequestBody(BaseModel):
    """Bring an organization's rollups up to date (what cron's `dpo aggregate` does)."""

    model_config = ConfigDict(extra="forbid")

    org: str = Field(max_length=64)
    rollup: Literal["hourly", "daily"] = "daily"
    full: bool = False
    since: date | None = None

    _since = field_validator("since")(_check_day)


class JobOut(BaseModel):
    """How a job ended (or that it was skipped because another run holds its lock)."""

    job: str
    label: str
    status: str
    job_run_id: int | None
    message: str
    rows_written: int
    ranges: int
    seconds: float
    warnings: list[str]


class SyncRequestBody(BaseModel):
    """Sync an organization's sources of one kind: recent days, or a range with since/until."""

    model_config = ConfigDict(extra="forbid")

    org: str = Field(max_length=64)
    since: date | None = None
    until: date | None = None

    _days = field_validator("since", "until")(_check_day)


class SyncRun(BaseModel):
    job_run_id: int
    source: str
    status: str
    message: str


class SyncStarted(BaseModel):
    """The runs started (`running`) or refused because one is already running (`skipped`)."""

    org: str
    kind: str
    runs: list[SyncRun]
