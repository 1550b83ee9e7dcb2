"""Goals: a KPI target per day/week/month/quarter/year or a custom date range."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from sqlmodel import Session, SQLModel, col, func, select

from dpo.errors import ConflictError, InvalidInputError, NotFoundError
from dpo.kpis import get_kpi
from dpo.resources.orgs import get_org
from dpo.storage import events
from dpo.storage.models import Goal, Organization, utcnow
from dpo.validation import check_text, day_problem, is_id, parse
from dpo.vocab import Comparison, EventKind, Period

MAX_TARGET = Decimal(10) ** 14  # the goal.target column holds NUMERIC(20, 6)
MAX_GOALS = 100  # per organization: each is forecast on every progress request
TARGET_PLACES = Decimal("0.000001")


def _check_target(value: Any) -> Decimal:
    try:
        target = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"target must be a number, not {value!r}") from None
    if not target.is_finite():
        raise ValueError(f"target must be a finite number, not {value!r}")
    if target < 0:
        raise ValueError(f"target must not be negative (got {value})")
    if target >= MAX_TARGET:
        raise ValueError(f"target must be less than {MAX_TARGET:,} (got {value})")
    # The column keeps 6 decimals; so does the goal (1e-260 is 0, not a 260-digit name).
    return target.quantize(TARGET_PLACES).normalize()


def _percent_target(data: Any) -> Any:
    """A target written as a percentage (`5%`) as the fraction KPIs hold (0.05); only a
    percentage KPI (CTR, conversion rate, refund rate) takes one."""
    if not isinstance(data, Mapping):
        return data
    raw = data.get("target")
    if not isinstance(raw, str) or not raw.strip().endswith("%"):
        return data
    kpi = data.get("kpi")
    if isinstance(kpi, str) and _unit_of(kpi) not in (None, "percent"):
        raise ValueError(f"{kpi} is not a percentage: give its target without %")
    number = _check_target(raw.strip().removesuffix("%"))
    return {**data, "target": str(number / 100)}


def check_unit(kpi: str, target: Decimal) -> None:
    """A percentage KPI's target is a fraction: 0.05 or 5% for five percent, never 5 (500 %)."""
    if _unit_of(kpi) == "percent" and target > 1:
        raise ValueError(
            f"{kpi} is a percentage: give {target:f}% or {target / 100:f} "
            f"(a target of {target:f} would be {target * 100:f}%)"
        )


def _unit_of(kpi: str) -> str | None:
    try:
        return get_kpi(kpi).unit
    except InvalidInputError:
        return None  # the kpi field says why


def _check_kpi(value: str) -> str:
    try:
        return get_kpi(value).name
    except InvalidInputError as exc:
        raise ValueError(exc.message) from None


class GoalFields(SQLModel):
    """What makes a goal; shared by create and update."""

    name: str | None = Field(default=None, max_length=200)
    kpi: str | None = None
    target: Decimal | None = None
    comparison: Comparison | None = None
    period: Period | None = None
    start_date: date | None = None
    end_date: date | None = None
    channel: str | None = Field(default=None, max_length=200)
    campaign: str | None = Field(default=None, max_length=200)

    _percent = model_validator(mode="before")(_percent_target)

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, v: Any) -> Decimal | None:
        return None if v is None else _check_target(v)

    @field_validator("kpi")
    @classmethod
    def _kpi(cls, v: str | None) -> str | None:
        return None if v is None else _check_kpi(v)

    @field_validator("name", "channel", "campaign")
    @classmethod
    def _text(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        what = str(info.field_name)
        if not v.strip():
            raise ValueError(f"must not be empty (leave it out for every {what})")
        return check_text(v, what=what)

    @field_validator("start_date", "end_date")
    @classmethod
    def _day(cls, v: date | None) -> date | None:
        if v is not None and (problem := day_problem(v)):
            raise ValueError(problem)
        return v


class GoalCreate(GoalFields):
    kpi: str
    target: Decimal

    @model_validator(mode="after")
    def _dates(self) -> GoalCreate:
        if self.period is None:
            self.period = Period.custom if self.start_date or self.end_date else Period.month
        if self.comparison is None:
            higher = get_kpi(self.kpi).higher_is_better
            self.comparison = Comparison.at_least if higher else Comparison.at_most
        check_dates(self.period, self.start_date, self.end_date)
        check_unit(self.kpi, self.target)
        return self


class GoalUpdate(GoalFields):
    pass


class GoalPublic(SQLModel):
    id: int
    org: str
    name: str
    kpi: str
    target: Decimal
    comparison: Comparison
    period: Period
    start_date: date | None
    end_date: date | None
    channel: str | None
    campaign: str | None
    created_at: datetime
    updated_at: datetime


def check_dates(period: Period, start: date | None, end: date | None) -> None:
    """A custom period needs both dates; no goal may end before it starts."""
    if period is Period.custom and (start is None or end is None):
        raise ValueError("a custom period needs both --start and --end")
    if start and end and end < start:
        raise ValueError(f"end {end} is before start {start}")


def add_goal(session: Session, org_slug: str, data: Mapping[str, Any]) -> GoalPublic:
    """Add a goal for an organization."""
    org = get_org(session, org_slug)
    create = parse(GoalCreate, data)
    assert org.id is not None and create.comparison and create.period
    held = session.exec(select(func.count()).where(Goal.org_id == org.id)).one()
    if held >= MAX_GOALS:
        raise ConflictError(
            f"{org.slug} has {held} goals, the most an organization may have",
            hint="remove one first (`dpo goals remove ID`)",
        )
    goal = Goal(
        org_id=org.id,
        name=create.name or _default_name(create),
        kpi=create.kpi,
        target=create.target,
        comparison=create.comparison.value,
        period=create.period.value,
        start_date=create.start_date,
        end_date=create.end_date,
        channel=create.channel,
        campaign=create.campaign,
    )
    session.add(goal)
    session.flush()
    _tell(session, goal, "created")
    return public(goal, org)


def _tell(session: Session, goal: Goal, action: str) -> None:
    """An event for open dashboards (`dpo.storage.events`), in the change's transaction."""
    detail = {"action": action, "goal": goal.id, "name": goal.name}
    events.record(session.connection(), goal.org_id, EventKind.goal, detail)


def _default_name(goal: GoalCreate | Goal) -> str:
    """`revenue at-least 50000 per month`: the name of a goal not given one."""
    assert goal.comparison and goal.period
    period = Period(goal.period)
    per = "" if period is Period.custom else f" per {period.value}"
    target = Decimal(goal.target).normalize()
    return f"{goal.kpi} {Comparison(goal.comparison).value} {target:f}{per}"


def get_goal(session: Session, goal_id: int) -> Goal:
    """The goal with id `goal_id`, or NotFoundError."""
    goal = session.get(Goal, goal_id) if is_id(goal_id) else None
    if goal is None:
        raise unknown_goal(goal_id)
    return goal


def unknown_goal(goal_id: int) -> NotFoundError:
    """The error for a goal that does not exist (or that the caller may not see)."""
    return NotFoundError(f"unknown goal {goal_id}", hint="`dpo goals list` shows the goals")


def update_goal(session: Session, goal_id: int, data: Mapping[str, Any]) -> GoalPublic:
    """Change some fields of a goal; the result must still be a valid goal."""
    goal = get_goal(session, goal_id)
    target = data.get("target")
    if isinstance(target, str) and target.strip().endswith("%") and data.get("kpi") is None:
        data = {**data, "kpi": goal.kpi}  # so a `5%` target is checked against the goal's KPI
    changes = parse(GoalUpdate, data).model_dump(exclude_unset=True, exclude_none=True)
    merged = {**goal.model_dump(), **changes}
    try:
        check_dates(Period(merged["period"]), merged["start_date"], merged["end_date"])
        check_unit(merged["kpi"], merged["target"])
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    generated = goal.name == _default_name(goal)
    goal.sqlmodel_update({k: getattr(v, "value", v) for k, v in changes.items()})
    if generated and "name" not in changes:  # a generated name follows what it describes
        goal.name = _default_name(goal)
    goal.updated_at = utcnow()
    session.add(goal)
    session.flush()
    _tell(session, goal, "updated")
    org = session.get(Organization, goal.org_id)
    assert org is not None
    return public(goal, org)


def remove_goal(session: Session, goal_id: int) -> None:
    """Delete a goal."""
    goal = get_goal(session, goal_id)
    _tell(session, goal, "removed")
    session.delete(goal)
    session.flush()


def list_goals(session: Session, *, org_slug: str | None = None) -> list[GoalPublic]:
    """Goals, optionally of one organization, by org then id."""
    query = select(Goal, Organization).join(Organization).order_by(Organization.slug, col(Goal.id))
    if org_slug is not None:
        query = query.where(Goal.org_id == get_org(session, org_slug).id)
    return [public(goal, org) for goal, org in session.exec(query)]


def public(goal: Goal, org: Organization) -> GoalPublic:
    """The shape shown to users and API clients."""
    return GoalPublic.model_validate({**goal.model_dump(), "org": org.slug})
