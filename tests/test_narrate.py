"""The narrative: the model words the findings, never its own numbers; a template otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dpo.insights import narrate
from dpo.insights.store import InsightPublic
from dpo.settings import OpenAISettings
from tests.conftest import CliInvoker, Database
from tests.fakes.openai_server import Reply, fake_openai
from tests.test_insights_store import draft, save

WHEN = datetime(2026, 3, 1, 12, tzinfo=UTC)


def insight(title: str, severity: str = "critical", **evidence: object) -> InsightPublic:
    return InsightPublic(
        id=1,
        org="acme",
        kind="anomaly",
        title=title,
        description="Orders was 31 where about 142 was expected, over 12 hours.",
        severity=severity,
        confidence=0.9,
        kpi="orders",
        channel=None,
        campaign=None,
        period_start=WHEN,
        period_end=WHEN,
        timezone="UTC",
        evidence={"change": -0.7817, "impact": 6900.5, **evidence},
        status="open",
        created_at=WHEN,
        updated_at=WHEN,
    )


FOUND = [
    insight("Orders 78% below normal on Fri 06 Nov, 09:00-21:00"),
    insight("Spend of Prospecting 4.5x normal", severity="warning"),
]
SAYS = (
    "Checkout trouble: orders fell 78% below normal on 06 Nov between 09:00 and 21:00, "
    "31 orders instead of about 142. Prospecting spent 4.5x its normal rate."
)


def settings(url: str, **kw: object) -> OpenAISettings:
    return OpenAISettings(api_key_env="TEST_OPENAI_KEY", base_url=url, **kw)


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test-123")


def test_the_model_words_the_findings() -> None:
    with fake_openai(Reply(200, SAYS)) as fake:
        story = narrate.summarize("acme", FOUND, settings(fake.url, model="small-model"))
    assert (story.source, story.text) == ("llm", SAYS)
    (request,) = fake.requests
    assert request["model"] == "small-model" and request["temperature"] == 0
    sent = request["messages"][1]["content"]
    assert (
        "Orders 78% below normal" in sent and '"by_severity": {"critical": 1, "warning": 1}' in sent
    )
    assert fake.authorizations == ["Bearer sk-test-123"]


def test_invented_numbers_fall_back_to_the_template() -> None:
    with fake_openai(Reply(200, "Orders fell 78%, costing about EUR 9,000.")) as fake:
        story = narrate.summarize("acme", FOUND, settings(fake.url))
    assert story.source == "template"
    assert story.note == "the model wrote numbers not in the insights (9,000)"
    assert story.text.startswith(
        "acme: 2 open insights, about 13,801 at stake (1 critical, 1 warning)."
    )


def test_transient_failures_are_retried_then_given_up() -> None:
    waits: list[int] = []
    with fake_openai(Reply(503, "busy"), Reply(429, "slow down"), Reply(200, SAYS)) as fake:
        story = narrate.summarize("acme", FOUND, settings(fake.url), wait=waits.append)
    assert story.source == "llm" and waits == [0, 1] and len(fake.requests) == 3
    with fake_openai(Reply(500, "down")) as fake:
        story = narrate.summarize(
            "acme", FOUND, settings(fake.url, max_retries=2), wait=waits.append
        )
    assert story.source == "template" and len(fake.requests) == 3
    assert story.note.startswith("the model did not answer")


def test_refusals_are_not_retried() -> None:
    with fake_openai(Reply(401, "bad key")) as fake:
        story = narrate.summarize("acme", FOUND, settings(fake.url), wait=lambda _: None)
    assert story.source == "template" and len(fake.requests) == 1
    assert story.note.startswith("the model refused")
    assert "sk-test-123" not in story.note


def test_no_server_no_key_no_insights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    unreachable = settings("http://127.0.0.1:9/v1", max_retries=0)
    assert narrate.summarize("acme", FOUND, unreachable).source == "template"
    none = narrate.summarize("acme", FOUND, OpenAISettings())
    assert (none.source, none.note) == ("template", "no [openai] key configured")
    monkeypatch.delenv("TEST_OPENAI_KEY")
    unset = narrate.summarize("acme", FOUND, unreachable)
    assert unset.note == "the environment variable TEST_OPENAI_KEY is not set"
    keyfile = tmp_path / "key"
    keyfile.write_text("sk-from-file\n")
    with fake_openai(Reply(200, SAYS)) as fake:
        story = narrate.summarize(
            "acme", FOUND, OpenAISettings(api_key_file=keyfile, base_url=fake.url)
        )
    assert story.source == "llm" and fake.authorizations == ["Bearer sk-from-file"]
    empty = narrate.summarize("acme", [], OpenAISettings())
    assert empty.text == "acme: nothing needs attention; no open insights."


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("Orders fell 78% (from 142 to 31).", []),
        ("A change of -0.78, or about -78.2%.", []),  # the fraction -0.7817, rounded, as a %
        ("Money at stake: 6,900.5 or 6,901.", []),  # rounded to what is shown
        ("It fell by 79%.", ["79%"]),
        ("About 111 fewer orders.", ["111"]),
        ("On 06 Nov from 09:00 to 21:00.", []),
    ],
)
def test_numbers_must_come_from_the_input(text: str, unknown: list[str]) -> None:
    source = narrate.facts("acme", FOUND)
    assert narrate.unverified_numbers(text, source) == unknown


def test_the_template_ranks_by_money_at_stake_and_groups_by_what_to_check_first() -> None:
    def item(title: str, kind: str, severity: str, impact: float, text: str) -> InsightPublic:
        found = insight(title, severity, impact=impact, currency="EUR")
        return found.model_copy(update={"kind": kind, "description": text})

    text = narrate.template_text(
        "acme",
        [
            item("No sessions recorded", "data_quality", "critical", 0, "Sessions were 0."),
            item("Spend spike", "anomaly", "critical", 120.4, "Spend was EUR 300. More."),
            item("Revenue drop", "anomaly", "warning", 950, "Revenue was EUR 10. More."),
            item("CPA rising", "trend", "info", 0, "CPA rose 31% in two weeks."),
        ],
    )
    assert text.splitlines() == [
        "acme: 4 open insights, about EUR 1,070 at stake (2 critical, 1 warning, 1 info).",
        "Money moving — check first:",
        "- Revenue drop (warning): EUR 950 at stake. Revenue was EUR 10.",
        "- Spend spike (critical): EUR 120 at stake. Spend was EUR 300.",
        "Tracking and data — fix before trusting the numbers:",
        "- No sessions recorded (critical). Sessions were 0.",
        "Trends:",
        "- CPA rising (info). CPA rose 31% in two weeks.",
    ]


def test_summary_command(cli: CliInvoker, database: Database, tmp_path: Path) -> None:
    from tests.test_sync import setup_org

    setup_org(cli)
    save(database, [draft("a", title="Orders 78% below normal")])
    template = json.loads(cli.ok("insights", "summary", "--json").stdout)
    assert template == [
        {
            "org": "acme",
            "text": "acme: 1 open insight, no money at stake (1 warning).\n"
            "Money moving — check first:\n"
            "- Orders 78% below normal (warning).",
            "source": "template",
            "note": "no [openai] key configured",
        }
    ]
    with fake_openai(Reply(200, "Orders were 78% below normal.")) as fake:
        config = tmp_path / "config.toml"
        config.write_text(f'[openai]\napi_key_env = "TEST_OPENAI_KEY"\nbase_url = "{fake.url}"\n')
        told = cli.ok("--config", str(config), "insights", "summary", "--org", "acme")
    assert told.stdout.strip() == "Orders were 78% below normal."
