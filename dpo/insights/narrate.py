"""A short narrative of an organization's open insights: worded by an LLM, or by a template.

With `[openai]` configured (a key by reference: an environment variable or a file; a model;
optionally the `base_url` of any OpenAI-compatible server), the model is given the structured
insights only and asked to word them. It must not invent numbers: every number in its text
has to appear in the insights it was given (as written, rounded, or as a percentage of a
fraction), or the text is thrown away for the template. Transient failures (timeouts,
connection errors, 429, 5xx) are retried a few times with backoff; anything else falls back
at once. Without a key, the deterministic template is the narrative.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session, select

from dpo.errors import describe
from dpo.insights.store import InsightPublic, list_insights
from dpo.resources.orgs import get_org
from dpo.settings import OpenAISettings
from dpo.storage.models import Organization
from dpo.vocab import InsightKind, InsightStatus

log = logging.getLogger(__name__)

MAX_INSIGHTS = 12
SYSTEM = (
    "You write a short summary (at most 120 words, plain prose, no lists or headings) of a "
    "marketing analytics system's findings for one organization, for its marketing lead. Use "
    "only the findings given. Every number you write must appear in them exactly as given; "
    "do not compute new numbers, totals or percentages. Most severe first."
)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?%?")

Wait = Callable[[int], None]


@dataclass(frozen=True)
class Narrative:
    """The summary and how it was made."""

    org: str
    text: str
    source: str  # llm or template
    note: str = ""


def summarize(
    org: str,
    insights: Sequence[InsightPublic],
    settings: OpenAISettings,
    *,
    wait: Wait | None = None,
) -> Narrative:
    """The narrative for `org`'s insights (most severe first, as `list_insights` gives them)."""
    chosen = list(insights)[:MAX_INSIGHTS]
    template = template_text(org, chosen)
    if not settings.is_configured:
        return Narrative(org, template, "template", "no [openai] key configured")
    if not chosen:
        return Narrative(org, template, "template", "nothing to summarize")
    try:
        key = api_key(settings)
        text = _ask(settings, key, facts(org, chosen), wait=wait)
    except NarrativeError as exc:
        log.info("narrative for %s: %s; using the template", org, exc)
        return Narrative(org, template, "template", str(exc))
    unknown = unverified_numbers(text, facts(org, chosen))
    if unknown:
        note = f"the model wrote numbers not in the insights ({', '.join(unknown[:5])})"
        log.info("narrative for %s: %s; using the template", org, note)
        return Narrative(org, template, "template", note)
    return Narrative(org, text.strip(), "llm")


class NarrativeError(Exception):
    """The LLM could not give a narrative (the template is used instead)."""


def api_key(settings: OpenAISettings) -> str:
    """The key, from the environment variable or file the settings name."""
    if settings.api_key_env:
        value = os.environ.get(settings.api_key_env, "").strip()
        if not value:
            raise NarrativeError(f"the environment variable {settings.api_key_env} is not set")
        return value
    assert settings.api_key_file is not None
    try:
        value = settings.api_key_file.expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise NarrativeError(f"cannot read {settings.api_key_file}: {exc.strerror}") from None
    if not value:
        raise NarrativeError(f"{settings.api_key_file} is empty")
    return value


def facts(org: str, insights: Sequence[InsightPublic]) -> str:
    """The structured input the model words: counts, then each insight."""
    counts: dict[str, int] = {}
    for i in insights:
        counts[i.severity] = counts.get(i.severity, 0) + 1
    items = [
        {
            "severity": i.severity,
            "kind": i.kind,
            "title": i.title,
            "details": i.description,
            "kpi": i.kpi,
            "channel": i.channel,
            "campaign": i.campaign,
            "evidence": {k: v for k, v in i.evidence.items() if not isinstance(v, list | dict)},
        }
        for i in insights
    ]
    payload = {"organization": org, "open_insights": len(insights), "by_severity": counts}
    return json.dumps({**payload, "insights": items}, ensure_ascii=False, default=str)


def _ask(settings: OpenAISettings, key: str, content: str, *, wait: Wait | None) -> str:
    """One chat completion, retried on transient failures."""
    import openai

    client = openai.OpenAI(
        api_key=key, base_url=settings.base_url, timeout=settings.timeout, max_retries=0
    )
    transient = (
        openai.APITimeoutError,
        openai.APIConnectionError,
        openai.RateLimitError,
        openai.InternalServerError,
    )
    sleep = wait or _backoff
    for attempt in range(settings.max_retries + 1):
        try:
            response = client.chat.completions.create(
                model=settings.model,
                temperature=0,
                messages=[
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": content},
                ],
            )
        except transient as exc:
            if attempt == settings.max_retries:
                raise NarrativeError(f"the model did not answer: {describe(exc)}") from None
            sleep(attempt)
            continue
        except openai.OpenAIError as exc:
            raise NarrativeError(f"the model refused: {describe(exc)}") from None
        text = response.choices[0].message.content if response.choices else None
        if not text or not text.strip():
            raise NarrativeError("the model answered with no text")
        return text
    raise NarrativeError("the model did not answer")  # pragma: no cover - loop always returns


def _backoff(attempt: int) -> None:
    import time

    time.sleep(min(8.0, 0.5 * 2**attempt))


def unverified_numbers(text: str, source: str) -> list[str]:
    """The numbers in `text` that do not appear in `source` (see the module docstring)."""
    known = [n for raw in _NUMBER.findall(source) if (n := _number(raw)) is not None]
    return [raw for raw in _NUMBER.findall(text) if not _is_known(raw, known)]


def _number(raw: str) -> Decimal | None:
    try:
        return Decimal(raw.rstrip("%").replace(",", ""))
    except InvalidOperation:
        return None


def _is_known(raw: str, known: list[Decimal]) -> bool:
    value = _number(raw)
    if value is None:
        return True
    exponent = value.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    candidates = [(abs(value), places)]
    if raw.endswith("%"):  # 12% may be 0.12 in the source
        candidates.append((abs(value) / 100, places + 2))
    for number in known:
        for form in (abs(number), abs(number) * 100):
            if any(_rounds_to(form, shown, at) for shown, at in candidates):
                return True
    return False


def _rounds_to(value: Decimal, shown: Decimal, places: int) -> bool:
    quantum = Decimal(1).scaleb(-places)
    try:
        return value.quantize(quantum, rounding=ROUND_HALF_UP) == shown.quantize(quantum)
    except InvalidOperation:
        return False


# What to look at first: money moving now, then data that misleads everything else, then
# goals, then what could be done better, then slow movements.
GROUPS = (
    ("Money moving — check first", (InsightKind.anomaly,)),
    ("Tracking and data — fix before trusting the numbers", (InsightKind.data_quality,)),
    ("Goals at risk", (InsightKind.goal_risk,)),
    ("Recommendations", (InsightKind.recommendation,)),
    ("Trends", (InsightKind.trend, InsightKind.forecast)),
)
SHOWN = 8  # insights written out; the rest are counted


def template_text(org: str, insights: Sequence[InsightPublic]) -> str:
    """The deterministic narrative: what is open and how much money is at stake, then the
    insights grouped by what to check first, each ranked by its money at stake, with its
    numbers (the first sentence of its text)."""
    if not insights:
        return f"{org}: nothing needs attention; no open insights."
    counts: dict[str, int] = {}
    for i in insights:
        counts[i.severity] = counts.get(i.severity, 0) + 1
    parts = [f"{counts[s]} {s}" for s in ("critical", "warning", "info") if s in counts]
    total = sum(_stake(i) for i in insights)
    currency = next((_currency(i) for i in insights if _stake(i)), "")
    stake = f", about {currency}{total:,.0f} at stake" if total else ", no money at stake"
    noun = "insight" if len(insights) == 1 else "insights"
    lines = [f"{org}: {len(insights)} open {noun}{stake} ({', '.join(parts)})."]
    shown = 0
    for heading, kinds in GROUPS:
        members = [i for i in insights if i.kind in {k.value for k in kinds}]
        members.sort(key=lambda i: (-_stake(i), _SEVERITY.index(i.severity)))
        if not members or shown >= SHOWN:
            continue
        lines.append(f"{heading}:")
        for item in members[: SHOWN - shown]:
            lines.append(f"- {_line(item)}")
            shown += 1
    if len(insights) > shown:
        lines.append(f"And {len(insights) - shown} more: `dpo insights list --org {org}`.")
    return "\n".join(lines)


_SEVERITY = ("critical", "warning", "info")


def _stake(insight: InsightPublic) -> float:
    value = insight.evidence.get("impact") if insight.kind == "anomaly" else None
    return float(value) if isinstance(value, int | float) else 0.0


def _currency(insight: InsightPublic) -> str:
    """`EUR ` (with its space), or nothing when the insight does not say."""
    code = insight.evidence.get("currency")
    return f"{code} " if isinstance(code, str) and code else ""


def _line(insight: InsightPublic) -> str:
    """`Title (severity): EUR 488 at stake. First sentence of its text.`"""
    text = f"{insight.title} ({insight.severity})"
    stake = _stake(insight)
    if stake:
        text += f": {_currency(insight)}{stake:,.0f} at stake"
    first = insight.description.split(". ")[0].rstrip(".")
    return f"{text}. {first}." if first else f"{text}."


def org_summaries(
    session: Session, settings: OpenAISettings, *, org_slug: str | None = None
) -> list[Narrative]:
    """A narrative of the open insights of each organization (or of one)."""
    if org_slug is not None:
        slugs = [get_org(session, org_slug).slug]
    else:
        slugs = list(session.exec(select(Organization.slug).order_by(Organization.slug)))
    out = []
    for slug in slugs:
        items = list_insights(session, org_slug=slug, status=InsightStatus.open, limit=MAX_INSIGHTS)
        out.append(summarize(slug, items, settings))
    return out


def as_dict(narrative: Narrative) -> dict[str, Any]:
    """The JSON shape."""
    return {
        "org": narrative.org,
        "text": narrative.text,
        "source": narrative.source,
        "note": narrative.note,
    }
