"""Recommendations a media buyer would act on, each with the numbers that justify it.

Rules over the last whole days (hours, for tracking), from the same series the detector reads:

- **Shift budget** from a campaign with meaningful spend (at least 5 % of ad spend) and low
  ROAS (under 70 % of the spend-weighted median) to one with high ROAS (over 130 % of it).
  ROAS here is the platform's average ROAS: the marginal return of more spend is lower, so the
  suggestion moves a fifth of the weak campaign's budget, as a test.
- **Rising CPA**: a campaign's (or the organization's) CPA over the last 7 days at least 30 %
  above the 21 days before, on enough conversions that chance does not explain it.
- **Spend without conversions**: a campaign that spent at least twice the usual CPA in 7 days
  without one attributed purchase.
- **Tracking broken**: the last 6 hours had no orders while sessions were normal and about
  four or more orders were due.
- **Attribution gap**: ad platforms claim more revenue than the store recorded (20 % more or
  above over 14 days): judge campaigns by MER, not by platform ROAS.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from dpo.insights.series import TOTAL_SCOPE, OrgSeries, Scope
from dpo.insights.store import InsightDraft
from dpo.storage.models import Organization
from dpo.vocab import InsightKind, Severity

Parts = dict[str, np.ndarray]
WINDOW = 14
MEANINGFUL_SPEND = 0.05
LOW_ROAS, HIGH_ROAS = 0.7, 1.3
SHIFT_SHARE = 0.2
CPA_RISE = 0.3
MIN_CONVERSIONS = 10


def recommendations(org: Organization, daily: OrgSeries, hourly: OrgSeries) -> list[InsightDraft]:
    """Every rule's drafts for one organization."""
    money = org.currency
    drafts: list[InsightDraft] = []
    drafts += budget_shifts(daily, money)
    drafts += rising_cpa(daily, money)
    drafts += spend_without_conversions(daily, money)
    drafts += broken_tracking(hourly)
    drafts += attribution_gap(daily, money)
    return drafts


def _sum(values: np.ndarray | None, days: int, *, skip: int = 0) -> float | None:
    """The sum of the `days` days before the last `skip` (None when nothing is reported)."""
    if values is None or len(values) < days + skip:
        return None
    window = values[len(values) - skip - days : len(values) - skip]
    return None if np.isnan(window).all() else float(np.nansum(window))


def _campaigns(daily: OrgSeries) -> Iterator[tuple[Scope, Parts]]:
    for scope, parts in daily.parts.items():
        if scope.level == "campaign":
            yield scope, parts


def budget_shifts(daily: OrgSeries, currency: str) -> list[InsightDraft]:
    """Move budget from low- to high-ROAS campaigns with meaningful spend."""
    rows = []
    for scope, parts in _campaigns(daily):
        spend, value = _sum(parts["spend"], WINDOW), _sum(parts["attributed_revenue"], WINDOW)
        if spend and value is not None:
            rows.append((scope, spend, value / spend))
    total = sum(spend for _, spend, _ in rows)
    rows = [r for r in rows if total and r[1] >= MEANINGFUL_SPEND * total]
    if len(rows) < 2:
        return []
    median = _weighted_median([roas for _, _, roas in rows], [spend for _, spend, _ in rows])
    low = [r for r in rows if r[2] < LOW_ROAS * median]
    high = [r for r in rows if r[2] > HIGH_ROAS * median]
    if not low or not high:
        return []
    (weak, weak_spend, weak_roas) = min(low, key=lambda r: r[2])
    (strong, _, strong_roas) = max(high, key=lambda r: r[2])
    move = SHIFT_SHARE * weak_spend / WINDOW
    gain = move * (strong_roas - weak_roas)
    return [
        InsightDraft(
            kind=InsightKind.recommendation,
            title=f"Move budget from {weak.label} (ROAS {weak_roas:.2f}) to {strong.label} "
            f"(ROAS {strong_roas:.2f})",
            severity=Severity.warning,
            fingerprint=f"rec:budget_shift:{weak.campaign}:{strong.campaign}"[:128],
            description=(
                f"Over the last {WINDOW} days {weak.label} returned {weak_roas:.2f} per unit of "
                f"spend on {currency} {weak_spend:,.0f}, {strong.label} {strong_roas:.2f} "
                f"(median of campaigns with meaningful spend: {median:.2f}). Moving a fifth of "
                f"{weak.label}'s budget, about {currency} {move:,.0f} a day, could bring about "
                f"{currency} {gain:,.0f} more attributed revenue a day if {strong.label} keeps "
                "its ROAS; returns fall as spend grows, so move it as a test and watch."
            ),
            confidence=0.6,
            channel=weak.channel or None,
            campaign=weak.campaign,
            kpi="roas",
            evidence={
                "from": {
                    "campaign": weak.label,
                    "spend": round(weak_spend, 2),
                    "roas": round(weak_roas, 4),
                },
                "to": {"campaign": strong.label, "roas": round(strong_roas, 4)},
                "median_roas": round(median, 4),
                "move_per_day": round(move, 2),
                "gain_per_day": round(gain, 2),
                "days": WINDOW,
            },
        )
    ]


def _weighted_median(values: list[float], weights: list[float]) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(np.array(weights)[order])
    return float(np.array(values)[order][int(np.searchsorted(cumulative, cumulative[-1] / 2))])


def rising_cpa(daily: OrgSeries, currency: str) -> list[InsightDraft]:
    """CPA up at least 30 % over 7 days against the 21 before, beyond chance."""
    drafts = []
    for scope, parts in [(TOTAL_SCOPE, daily.parts.get(TOTAL_SCOPE)), *_campaigns(daily)]:
        if parts is None:
            continue
        conv_name = "attributed_conversions" if scope.level == "campaign" else "orders"
        spend_now, spend_before = _sum(parts["spend"], 7), _sum(parts["spend"], 21, skip=7)
        conv_now, conv_before = _sum(parts[conv_name], 7), _sum(parts[conv_name], 21, skip=7)
        if not (spend_now and spend_before and conv_now and conv_before):
            continue
        if min(conv_now, conv_before) < MIN_CONVERSIONS:
            continue
        cpa_now, cpa_before = spend_now / conv_now, spend_before / conv_before
        due = spend_now / cpa_before  # conversions the old CPA would have bought
        if cpa_now < (1 + CPA_RISE) * cpa_before or (due - conv_now) / math.sqrt(due) < 2:
            continue
        where = "" if scope.level == "total" else f" of {scope.label}"
        drafts.append(
            InsightDraft(
                kind=InsightKind.recommendation,
                title=f"CPA{where} rose {cpa_now / cpa_before - 1:.0%} in the last 7 days",
                severity=Severity.warning,
                fingerprint=f"rec:rising_cpa:{scope.level}:{scope.campaign}"[:128],
                description=(
                    f"CPA{where} was {currency} {cpa_now:,.2f} over the last 7 days against "
                    f"{currency} {cpa_before:,.2f} over the 21 before: {conv_now:,.0f} "
                    f"conversions for {currency} {spend_now:,.0f}, where the earlier CPA would "
                    f"have bought about {due:,.0f}. Check audiences, creatives and bids, or "
                    "lower its budget until it recovers."
                ),
                confidence=0.7,
                kpi="cpa",
                channel=scope.channel or None,
                campaign=scope.campaign or None,
                evidence={
                    "cpa_recent": round(cpa_now, 4),
                    "cpa_before": round(cpa_before, 4),
                    "conversions_recent": conv_now,
                    "conversions_expected": round(due, 2),
                    "spend_recent": round(spend_now, 2),
                },
            )
        )
    return drafts


def spend_without_conversions(daily: OrgSeries, currency: str) -> list[InsightDraft]:
    """Campaigns that spent twice their usual CPA in 7 days without an attributed purchase."""
    drafts = []
    for scope, parts in _campaigns(daily):
        conversions = parts["attributed_conversions"]
        spend_now, conv_now = _sum(parts["spend"], 7), _sum(conversions, 7)
        spend_all, conv_all = _sum(parts["spend"], 56), _sum(conversions, 56)
        if not spend_now or conv_now is None or conv_now > 0 or not spend_all or not conv_all:
            continue
        usual_cpa = spend_all / conv_all
        if spend_now < 2 * usual_cpa:
            continue
        drafts.append(
            InsightDraft(
                kind=InsightKind.recommendation,
                title=(
                    f"{scope.label} spent {currency} {spend_now:,.0f} in 7 days without a purchase"
                ),
                severity=Severity.critical if spend_now >= 5 * usual_cpa else Severity.warning,
                fingerprint=f"rec:no_conversions:{scope.campaign}"[:128],
                description=(
                    f"{scope.label} spent {currency} {spend_now:,.0f} over the last 7 days and "
                    f"the platform attributes no purchase to it; at its usual CPA of {currency} "
                    f"{usual_cpa:,.2f} it would have had about {spend_now / usual_cpa:,.0f}. "
                    "Pause it, or check its pixel and conversion settings."
                ),
                confidence=0.8,
                kpi="spend",
                channel=scope.channel or None,
                campaign=scope.campaign,
                evidence={
                    "spend_recent": round(spend_now, 2),
                    "usual_cpa": round(usual_cpa, 4),
                    "purchases_expected": round(spend_now / usual_cpa, 2),
                },
            )
        )
    return drafts


def broken_tracking(hourly: OrgSeries, *, hours: int = 6) -> list[InsightDraft]:
    """No orders in the last hours while sessions are normal: checkout or tracking is broken."""
    parts = hourly.parts.get(TOTAL_SCOPE)
    if parts is None or len(parts["orders"]) < hours + 7 * 24:
        return []
    sessions, orders = parts["sessions"], parts["orders"]
    now_sessions, now_orders = _sum(sessions, hours), _sum(orders, hours)
    if now_sessions is None or now_orders is None or now_orders > 0:
        return []
    same_hours = [d * 24 for d in range(1, 8)]
    before_sessions = [_sum(sessions, hours, skip=s) for s in same_hours]
    before_orders = [_sum(orders, hours, skip=s) for s in same_hours]
    usual_sessions = float(np.mean([v for v in before_sessions if v is not None] or [0.0]))
    usual_orders = float(np.mean([v for v in before_orders if v is not None] or [0.0]))
    if usual_orders < 4 or now_sessions < 0.5 * usual_sessions:
        return []
    return [
        InsightDraft(
            kind=InsightKind.recommendation,
            title=f"No orders in the last {hours} hours while sessions are normal",
            severity=Severity.critical,
            fingerprint="rec:tracking:orders",
            description=(
                f"The last {hours} hours brought {now_sessions:,.0f} sessions (usually "
                f"{usual_sessions:,.0f} at these hours) and no order, where about "
                f"{usual_orders:,.0f} are usual. Check the checkout, the payment provider and "
                "order tracking now."
            ),
            confidence=0.85,
            kpi="orders",
            evidence={
                "hours": hours,
                "sessions": now_sessions,
                "usual_sessions": round(usual_sessions, 2),
                "usual_orders": round(usual_orders, 2),
            },
        )
    ]


def attribution_gap(daily: OrgSeries, currency: str) -> list[InsightDraft]:
    """Ad platforms claim more revenue than the store recorded."""
    parts = daily.parts.get(TOTAL_SCOPE)
    if parts is None:
        return []
    claimed, recorded = _sum(parts["attributed_revenue"], WINDOW), _sum(parts["revenue"], WINDOW)
    if not claimed or not recorded or claimed < 1.2 * recorded:
        return []
    spend = _sum(parts["spend"], WINDOW) or 0.0
    mer = recorded / spend if spend else None
    text = (
        f"Over the last {WINDOW} days ad platforms claim {currency} {claimed:,.0f} of revenue, "
        f"{claimed / recorded:.1f}x the {currency} {recorded:,.0f} the store recorded: their "
        "attribution counts sales twice or credits sales they did not cause. Judge budgets by "
        "MER (store revenue ÷ ad spend"
        + (f", {mer:.2f} in this period)" if mer is not None else ")")
        + ", not by platform ROAS."
    )
    return [
        InsightDraft(
            kind=InsightKind.recommendation,
            title=f"Ad platforms claim {claimed / recorded:.1f}x the store's revenue",
            severity=Severity.warning,
            fingerprint="rec:attribution_gap",
            description=text,
            confidence=0.8,
            kpi="attributed_revenue",
            evidence={
                "claimed": round(claimed, 2),
                "recorded": round(recorded, 2),
                "ratio": round(claimed / recorded, 4),
                "mer": None if mer is None else round(mer, 4),
                "days": WINDOW,
            },
        )
    ]
