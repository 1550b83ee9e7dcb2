"""Incidents: findings that happened together are one alert, worded with its numbers.

A checkout failure moves orders, revenue and conversions, hourly and daily, for the total;
a runaway campaign moves its spend, impressions and CPM, and its channel's and the total's
spend. Findings that overlap in time, in related scopes (the total relates to everything, a
channel to its campaigns), form one incident, told by its most telling finding: a data gap
first, then hourly before daily, money before counts before ratios, the most specific scope.

An insight is told from one record, its lead finding: its span is the insight's period (the
title's times, "over N hours", `period_start`/`period_end`), and its expected and actual values
are summed over that span. *Money at stake* is defined once (`at_stake`): the shortfall (or
excess) of a money KPI against expected over that span; orders count at the average order
value and cost ratios at the spend they applied to, while traffic and conversion counts are
not money by themselves. A tracking outage — sessions or conversions missing or moving while
no revenue or spend moves with them — is a data-quality finding with no money at stake.

Severity weighs how unusual the incident is against how much money it moves, relative to the
organization's typical day; confidence grows with the history behind the judgement and
shrinks with the noise of the series.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dpo.insights.findings import Finding
from dpo.insights.series import Scope
from dpo.insights.store import InsightDraft
from dpo.kpis import KPIS
from dpo.vocab import Grain, InsightKind, Severity

KPI_ORDER = (
    "revenue",
    "orders",
    "spend",
    "sessions",
    "conversions",
    "attributed_revenue",
    "attributed_conversions",
    "clicks",
    "impressions",
    "roas",
    "cpa",
    "cpc",
    "cpm",
    "ctr",
    "conversion_rate",
    "aov",
)
MONEY_KPIS = {k.name for k in KPIS.values() if k.is_additive and k.unit == "money"}
TRACKING_KPIS = {"sessions", "conversions"}  # what analytics measures: no money by themselves
CRITICAL_SHARE = 0.10  # of a typical day's money
WARNING_SHARE = 0.01
NEGLIGIBLE_SHARE = 0.002  # below this an anomaly is not worth an alert


@dataclass(frozen=True)
class Money:
    """What an organization's typical day is worth, and what one unit of each KPI is worth."""

    currency: str
    tz: ZoneInfo
    day: float
    per_unit: dict[str, float]

    def impact(self, finding: Finding) -> float:
        """What a finding is worth, for how loud its alert is: the money it moves, or what
        its units are usually worth (hidden, for missing data). Not what the alert shows as
        money at stake (`at_stake`)."""
        gap = abs(finding.actual - finding.expected)
        if finding.kpi in MONEY_KPIS:
            return gap
        if KPIS[finding.kpi].is_additive:
            return gap * self.per_unit.get(finding.kpi, 0.0)
        return abs(finding.change or 0.0) * finding.money


@dataclass
class Incident:
    """Findings that are one story."""

    findings: list[Finding]

    @property
    def lead(self) -> Finding:
        """The finding that tells the story."""
        return min(self.findings, key=_telling)

    @property
    def timed(self) -> list[Finding]:
        """The findings that tell the time best: the hourly ones, if any."""
        hourly = [f for f in self.findings if f.grain is Grain.hour]
        return hourly or self.findings

    @property
    def start(self) -> datetime:
        """When it began (hourly findings, if any)."""
        return min(f.start for f in self.timed)

    @property
    def end(self) -> datetime:
        """When it ended (exclusive)."""
        return max(f.end for f in self.timed)

    @property
    def is_tracking(self) -> bool:
        """Analytics moved (or went missing) while no revenue or spend moved with it."""
        lead = self.lead
        moved_money = any(f.kpi in MONEY_KPIS and not f.is_missing for f in self.findings)
        return lead.kpi in TRACKING_KPIS and not moved_money


def at_stake(lead: Finding, money: Money) -> float:
    """Money at stake, as every view of an insight shows it: for a money KPI, |expected -
    actual| over the lead's span; orders at the average order value; a cost ratio's change
    times the spend it applied to. Nothing for missing data (nothing is known to be lost) and
    for counts that are not money (sessions, conversions, clicks, impressions)."""
    if lead.is_missing:
        return 0.0
    gap = abs(lead.expected - lead.actual)
    if lead.kpi in MONEY_KPIS:
        return gap
    if lead.kpi == "orders":
        return gap * money.per_unit.get("orders", 0.0)
    if not KPIS[lead.kpi].is_additive:
        return abs(lead.change or 0.0) * lead.money
    return 0.0


def _telling(f: Finding) -> tuple[Any, ...]:
    return (
        not f.is_missing,
        f.grain is not Grain.hour,
        KPI_ORDER.index(f.kpi) if f.kpi in KPI_ORDER else len(KPI_ORDER),
        -f.scope.depth,
        -f.peak,
    )


def group(findings: Sequence[Finding]) -> list[Incident]:
    """Findings joined into incidents: overlapping in time, in related scopes."""
    parent = list(range(len(findings)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    slack = timedelta(hours=1)
    for i, a in enumerate(findings):
        for j in range(i):
            b = findings[j]
            if a.start <= b.end + slack and b.start <= a.end + slack and _related(a.scope, b.scope):
                parent[root(i)] = root(j)
    groups: dict[int, list[Finding]] = {}
    for i, f in enumerate(findings):
        groups.setdefault(root(i), []).append(f)
    return sorted((Incident(g) for g in groups.values()), key=lambda inc: inc.start)


def _related(a: Scope, b: Scope) -> bool:
    if a.level == "total" or b.level == "total":
        return True
    if a.level == b.level:
        return a == b if a.level == "campaign" else a.channel == b.channel
    return a.channel == b.channel


def draft(incident: Incident, money: Money) -> InsightDraft | None:
    """The alert for an incident (None when too little money moves to bother anyone)."""
    lead = incident.lead
    worth = max(money.impact(f) for f in incident.findings)
    loud = worth / money.day if money.day > 0 else 0.0
    tracking = lead.is_missing or incident.is_tracking
    kind = InsightKind.data_quality if tracking else InsightKind.anomaly
    if kind is InsightKind.anomaly and loud < NEGLIGIBLE_SHARE:
        return None
    stake = 0.0 if tracking else at_stake(lead, money)
    return InsightDraft(
        kind=kind,
        title=_title(lead, money),
        severity=_severity(lead, loud, kind, peak=max(f.peak for f in incident.findings)),
        fingerprint=_fingerprint(kind, lead),
        description=_description(incident, lead, money, stake),
        confidence=_confidence(lead),
        kpi=lead.kpi,
        channel=lead.scope.channel or None,
        campaign=lead.scope.campaign or None,
        period_start=lead.start,
        period_end=lead.end,
        evidence=_evidence(incident, lead, money, stake),
    )


def _severity(lead: Finding, share: float, kind: InsightKind, *, peak: float) -> Severity:
    if kind is InsightKind.data_quality and lead.scope.level == "total" and lead.points >= 3:
        return Severity.critical if share >= CRITICAL_SHARE / 2 else Severity.warning
    if share >= CRITICAL_SHARE and peak >= 0.75:
        return Severity.critical
    return Severity.warning if share >= WARNING_SHARE else Severity.info


def _confidence(lead: Finding) -> float:
    history = min(1.0, lead.history_days / 28) ** 0.5
    return round(float(lead.peak * history / (1 + min(lead.noise, 2.0))), 2)


def _fingerprint(kind: InsightKind, lead: Finding) -> str:
    scope = f"{lead.scope.level}|{lead.scope.channel}|{lead.scope.campaign}"
    digest = hashlib.blake2b(scope.encode(), digest_size=6).hexdigest()
    return f"{kind.value}:{lead.kpi}:{lead.grain.value}:{lead.start:%Y%m%dT%H}:{digest}"


# --- words ------------------------------------------------------------------------------------


def _title(lead: Finding, money: Money) -> str:
    what = KPIS[lead.kpi].label
    where = "" if lead.scope.level == "total" else f" of {lead.scope.label}"
    when = _when(lead.grain, lead.start, lead.end, money.tz)
    if lead.is_missing:
        return f"No {what.lower()}{where} recorded {when}"
    return f"{what}{where} {_change_words(lead)} {when}"


def _change_words(f: Finding) -> str:
    change = f.change
    if change is None:
        return "unusual"
    if change >= 1:
        return f"{change + 1:.1f}x normal"
    percent = round(abs(change) * 100)
    return f"{percent}% {'above' if change > 0 else 'below'} normal"


def _when(grain: Grain, begin: datetime, finish: datetime, tz: ZoneInfo) -> str:
    start, end = begin.astimezone(tz), finish.astimezone(tz)
    if grain is Grain.day:
        last = end - timedelta(days=1)
        if last.date() == start.date():
            return f"on {start:%a %d %b}"
        return f"{start:%a %d %b} - {last:%a %d %b}"
    hours = round((finish - begin).total_seconds() / 3600)
    span = f"{start:%H:%M}-{end:%H:%M}" if hours < 24 else f"for {hours} hours"
    return f"on {start:%a %d %b}, {span}" if hours < 24 else f"from {start:%a %d %b %H:%M}, {span}"


def _description(incident: Incident, lead: Finding, money: Money, stake: float) -> str:
    what = KPIS[lead.kpi].label
    where = "" if lead.scope.level == "total" else f" for {lead.scope.label}"
    verb = "averaged" if not KPIS[lead.kpi].is_additive else "was"
    if verb == "was" and what.endswith("s"):
        verb = "were"  # orders, sessions, clicks
    text = (
        f"{what}{where} {verb} {_amount(lead.kpi, lead.actual, money)} where about "
        f"{_amount(lead.kpi, lead.expected, money)} was expected, over "
        f"{_duration(lead)} ({_zone(lead.start, money.tz)})."
    )
    others = [f for f in incident.findings if f is not lead]
    if others:
        listed = ", ".join(_brief(f) for f in sorted(others, key=_telling)[:5])
        text += f" Also unusual: {listed}."
    if incident.is_tracking and not lead.is_missing:
        text += " No revenue or spend moved with it: check the tracking before the business."
    if stake:
        share = stake / money.day if money.day > 0 else 0.0
        text += (
            f" Money at stake: about {money.currency} {stake:,.0f} ({share:.0%} of a typical day)."
        )
    elif incident.is_tracking or lead.is_missing:
        text += " No money at stake: the data is missing, not the money."
    if lead.ongoing:
        text += " Still going at the latest data."
    return text


def _duration(f: Finding) -> str:
    """The length of a finding's span, in its grain's units: the title's span in words."""
    step = 3600 if f.grain is Grain.hour else 86400
    count = round((f.end - f.start).total_seconds() / step)
    unit = "hour" if f.grain is Grain.hour else "day"
    return f"{count} {unit}{'s' if count != 1 else ''}"


def _zone(at: datetime, tz: ZoneInfo) -> str:
    """The zone the times are in, named, e.g. `Europe/Berlin time, CET`."""
    short = at.astimezone(tz).tzname()
    named = f"{tz.key} time"
    return named if not short or short == tz.key else f"{named}, {short}"


def _brief(f: Finding) -> str:
    where = "" if f.scope.level == "total" else f" ({f.scope.label})"
    change = f.change
    moved = (
        ": no data" if f.is_missing else (f" {change:+.0%}" if change is not None else " unusual")
    )
    label = KPIS[f.kpi].label
    return f"{label if label.isupper() else label.lower()}{where}{moved}"


def _amount(kpi: str, value: float, money: Money) -> str:
    definition = KPIS[kpi]
    if definition.unit == "money":
        return f"{money.currency} {value:,.2f}" if value < 100 else f"{money.currency} {value:,.0f}"
    if definition.unit == "percent":
        return f"{value:.2%}"
    if definition.unit == "ratio":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _evidence(incident: Incident, lead: Finding, money: Money, stake: float) -> dict[str, Any]:
    return {
        "grain": lead.grain.value,
        "timezone": money.tz.key,
        "expected": round(lead.expected, 4),
        "actual": round(lead.actual, 4),
        "change": None if lead.change is None else round(lead.change, 4),
        "score": round(lead.peak, 4),
        "points": lead.points,
        "missing_points": lead.missing,
        "ongoing": lead.ongoing,
        "impact": round(stake, 2),  # money at stake (`at_stake`), as the text says it
        "currency": money.currency,
        "related": [
            {
                "kpi": f.kpi,
                "scope": f.scope.label,
                "grain": f.grain.value,
                "change": None if f.change is None else round(f.change, 4),
                "missing": f.is_missing,
            }
            for f in sorted(incident.findings, key=_telling)
            if f is not lead
        ][:12],
    }
